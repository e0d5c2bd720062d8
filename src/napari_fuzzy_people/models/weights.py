"""Model weights: a registry of official checkpoints, a verified download cache.

Weights are plain files here: this module never imports torch (the model
loaders do), so it can be used to pre-download or check files on its own.

A download goes to a uniquely named temporary file inside the cache folder
and is renamed into place (:func:`os.replace`) only after its size and
SHA-256 have been checked, so a file under its final name is always complete
and verified, even when several processes download at once. A file already
in the cache is trusted (its size is checked when known, it is not re-hashed).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pooch

__all__ = [
    "CACHE_ENV",
    "CHECKPOINTS",
    "Checkpoint",
    "WeightsCorruptError",
    "WeightsUnavailableError",
    "cache_dir",
    "fetch",
    "resolve",
    "sha256_of",
]

#: Environment variable that overrides the cache folder.
CACHE_ENV = "NAPARI_FUZZY_PEOPLE_CACHE"

_HEX = re.compile(r"[0-9a-f]+")
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A downloadable weights file and what it must hash to.

    Parameters
    ----------
    name : str
        Registry name (letters, digits and ``_`` only).
    url : str
        Where the file is published.
    filename : str
        File name in the cache folder (a bare name, no folders).
    size : int, optional
        Size in bytes, when the publisher gives it.
    sha256 : str, optional
        Full SHA-256 hex digest (lower case).
    sha256_prefix : str, optional
        Leading hex digits of the SHA-256, when the publisher gives only those
        (torchvision puts 8 of them in its file names).
    description : str
        One line for people choosing a model.
    """

    name: str
    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    description: str = ""

    def __post_init__(self):
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.name):
            # resolve() tells names from paths by this.
            raise ValueError(f"checkpoint name must be letters, digits and '_': {self.name!r}")
        if self.filename in {"", ".", ".."} or Path(self.filename).name != self.filename:
            # The file name is joined to the cache folder: no escaping it.
            raise ValueError(f"checkpoint filename must be a bare file name: {self.filename!r}")
        if self.sha256 is None and self.sha256_prefix is None:
            raise ValueError(f"checkpoint {self.name!r} needs sha256 or sha256_prefix")
        if self.sha256 is not None and not (
            len(self.sha256) == 64 and _HEX.fullmatch(self.sha256)
        ):
            raise ValueError(f"sha256 must be 64 lower-case hex digits: {self.sha256!r}")
        if self.sha256_prefix is not None and not (
            0 < len(self.sha256_prefix) <= 64 and _HEX.fullmatch(self.sha256_prefix)
        ):
            raise ValueError(f"sha256_prefix must be lower-case hex: {self.sha256_prefix!r}")
        if self.sha256 and self.sha256_prefix and not self.sha256.startswith(self.sha256_prefix):
            raise ValueError(f"sha256 and sha256_prefix of {self.name!r} disagree")

    @property
    def expected_hash(self) -> str:
        """The expected SHA-256 as text: the full digest, or ``"<prefix>…"``."""
        return self.sha256 if self.sha256 else f"{self.sha256_prefix}…"

    def hash_matches(self, digest: str) -> bool:
        """Whether a full SHA-256 hex ``digest`` is the expected one."""
        digest = digest.lower()
        if self.sha256 is not None and digest != self.sha256:
            return False
        return self.sha256_prefix is None or digest.startswith(self.sha256_prefix)


_SAM = "https://dl.fbaipublicfiles.com/segment_anything/"
# The HQ-SAM authors' Hugging Face repository, pinned to the revision that
# added the vit_tiny file: a later upload cannot change what we download.
_HQ_SAM = "https://huggingface.co/lkeab/hq-sam/resolve/a3a77cd0a2e5e50eaa76faccf61b964732d9b35f/"
_TORCHVISION = "https://download.pytorch.org/models/"
# OpenCV's model zoo, pinned to a commit: a later upload cannot change what we download.
_OPENCV_ZOO = "https://github.com/opencv/opencv_zoo/raw/82b38c8f98e7b52aa171400f3e4c722352d0669f/"

#: Official checkpoints by name.
CHECKPOINTS: dict[str, Checkpoint] = {
    c.name: c
    for c in [
        Checkpoint(
            name="sam_vit_b",
            url=_SAM + "sam_vit_b_01ec64.pth",
            filename="sam_vit_b_01ec64.pth",
            size=375042383,
            sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            description="Segment Anything ViT-B (default segmenter, 375 MB)",
        ),
        Checkpoint(
            name="sam_vit_l",
            url=_SAM + "sam_vit_l_0b3195.pth",
            filename="sam_vit_l_0b3195.pth",
            size=1249524607,
            sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            description="Segment Anything ViT-L (1.2 GB)",
        ),
        Checkpoint(
            name="sam_vit_h",
            url=_SAM + "sam_vit_h_4b8939.pth",
            filename="sam_vit_h_4b8939.pth",
            size=2564550879,
            sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            description="Segment Anything ViT-H (2.6 GB)",
        ),
        Checkpoint(
            name="sam_hq_vit_tiny",
            url=_HQ_SAM + "sam_hq_vit_tiny.pth",
            filename="sam_hq_vit_tiny.pth",
            # The authors publish no checksum; this one is from Intel's
            # geti-instant-learn model registry, which verifies its downloads
            # of this file against it (docs/models.md). Size: not published.
            sha256="0f32c075ccdd870ae54db2f7630e7a0878ede5a2b06d05d6fe02c65a82fb7196",
            description="Light HQ-SAM vit_tiny (fast segmenter, about 42 MB)",
        ),
        Checkpoint(
            name="fasterrcnn_resnet50_fpn_v2",
            url=_TORCHVISION + "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
            filename="fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
            sha256_prefix="dd69338a",
            description="torchvision Faster R-CNN R50-FPN v2, COCO (default detector, 167 MB)",
        ),
        Checkpoint(
            name="fasterrcnn_mobilenet_v3_large_fpn",
            url=_TORCHVISION + "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
            filename="fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
            sha256_prefix="fb6a3cc7",
            description="torchvision Faster R-CNN MobileNet v3 large FPN, COCO (fast, 74 MB)",
        ),
        Checkpoint(
            name="yunet_2023mar",
            url=_OPENCV_ZOO + "models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
            filename="face_detection_yunet_2023mar.onnx",
            # Size and SHA-256 from the zoo's Git LFS pointer of that file at that commit.
            size=232589,
            sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            description="OpenCV YuNet face detector, 2023mar (leak check, 227 KB)",
        ),
    ]
}


class WeightsUnavailableError(RuntimeError):
    """A checkpoint is not cached and could not be downloaded.

    Attributes ``checkpoint`` and ``path`` (where the file is expected) let a
    GUI offer the alternatives the message describes.
    """

    def __init__(self, checkpoint: Checkpoint, path: Path, reason: str):
        self.checkpoint = checkpoint
        self.path = path
        super().__init__(
            f"Could not download the {checkpoint.name!r} weights from {checkpoint.url}: "
            f"{reason}. Download that file elsewhere and put it at {path}, or pass a local "
            f'file with checkpoint="/path/to/file.pth" (set {CACHE_ENV} to use another '
            "cache folder)."
        )


class WeightsCorruptError(ValueError):
    """A weights file does not match its expected size or SHA-256.

    Attributes ``file``, ``expected`` and ``actual`` hold what the message says.
    """

    def __init__(self, file: str, what: str, expected, actual, advice: str):
        self.file = file
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{file} has the wrong {what}: expected {expected}, got {actual}; {advice}."
        )


def cache_dir() -> Path:
    """Folder where downloaded weights are kept.

    Returns
    -------
    Path
        ``$NAPARI_FUZZY_PEOPLE_CACHE`` when set, else the platform's user cache
        folder for ``napari-fuzzy-people``. Not created here.
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path(pooch.os_cache("napari-fuzzy-people"))


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in chunks (multi-GB files are fine)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _HashingWriter:
    """File wrapper that hashes and counts while pooch writes (no second read)."""

    def __init__(self, file):
        self.file = file
        self.sha256 = hashlib.sha256()
        self.nbytes = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.nbytes += len(data)
        return self.file.write(data)

    def flush(self):
        self.file.flush()


def _reason(error: Exception, timeout: float) -> str:
    """A short human reason for a requests failure (its own text is urllib3 soup)."""
    import requests

    if isinstance(error, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"the server answered HTTP {error.response.status_code} {error.response.reason}"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return "the connection was cut during the transfer"
    if isinstance(error, requests.ConnectionError):
        return "no connection (offline, name lookup failed, or connection refused)"
    return type(error).__name__


def fetch(checkpoint: str | Checkpoint, *, progressbar=True, timeout: float = 15.0) -> Path:
    """Path of a checkpoint in the cache, downloading and verifying it on first use.

    Parameters
    ----------
    checkpoint : str or Checkpoint
        A :data:`CHECKPOINTS` name, or a :class:`Checkpoint`.
    progressbar : bool or tqdm-like
        ``True`` prints a tqdm bar to stderr; a tqdm-like object (``total``,
        ``update``, ``reset``, ``close``) receives the progress instead.
    timeout : float
        Seconds to wait for the connection and for each read.

    Returns
    -------
    Path
        ``cache_dir() / checkpoint.filename``.

    Raises
    ------
    WeightsUnavailableError
        Not cached, and the download failed (offline, refused, timeout, HTTP
        error, connection cut mid-transfer).
    WeightsCorruptError
        The cached file has the wrong size, or the download the wrong size or
        SHA-256. Nothing is left in the cache.
    """
    if isinstance(checkpoint, str):
        checkpoint = _lookup(checkpoint)
    folder = cache_dir()
    path = folder / checkpoint.filename
    if path.is_file():
        # Only verified downloads (or files the user put there) get this name;
        # re-hashing GBs on every model load would be too slow.
        actual = path.stat().st_size
        if checkpoint.size is not None and actual != checkpoint.size:
            raise WeightsCorruptError(
                str(path), "size", checkpoint.size, actual, "delete it to download it again"
            )
        return path

    import requests

    folder.mkdir(parents=True, exist_ok=True)
    # Same folder as the final file, so os.replace is an atomic rename; a unique
    # name, so concurrent downloads never write into each other's file.
    fd, tmp_name = tempfile.mkstemp(prefix=f"{checkpoint.filename}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    source = f"The download of {checkpoint.filename} from {checkpoint.url}"
    discarded = "it was discarded (the server, or a proxy, sent another file)"
    declared = []  # response headers; the last are the file's (after redirects)
    try:
        with os.fdopen(fd, "w+b") as f:
            writer = _HashingWriter(f)
            download = pooch.HTTPDownloader(
                progressbar=progressbar,
                timeout=timeout,
                chunk_size=_CHUNK,
                hooks={"response": lambda r, *a, **k: declared.append(r.headers)},
            )
            try:
                download(checkpoint.url, writer, None)
            except requests.RequestException as error:
                raise WeightsUnavailableError(checkpoint, path, _reason(error, timeout)) from error
            f.flush()
            os.fsync(f.fileno())
        # Older urllib3 (< 2) ends a cut transfer silently: compare with what
        # the server announced (only meaningful for an unencoded body).
        headers = declared[-1] if declared else {}
        length = headers.get("Content-Length")
        if (
            length is not None
            and length.isdigit()
            and headers.get("Content-Encoding", "identity") == "identity"
            and writer.nbytes < int(length)
        ):
            raise WeightsUnavailableError(
                checkpoint,
                path,
                f"the connection was cut after {writer.nbytes} of {length} bytes",
            )
        if checkpoint.size is not None and writer.nbytes != checkpoint.size:
            raise WeightsCorruptError(source, "size", checkpoint.size, writer.nbytes, discarded)
        digest = writer.sha256.hexdigest()
        if not checkpoint.hash_matches(digest):
            raise WeightsCorruptError(
                source, "SHA-256", checkpoint.expected_hash, digest, discarded
            )
        try:
            os.replace(tmp, path)
        except OSError:
            # Windows refuses to replace a file another process has open: that
            # process already put a verified copy there.
            if not path.is_file():
                raise
    finally:
        # Also on KeyboardInterrupt: never leave a partial file behind.
        tmp.unlink(missing_ok=True)
    return path


def _lookup(name: str) -> Checkpoint:
    try:
        return CHECKPOINTS[name]
    except KeyError:
        raise ValueError(
            f"unknown checkpoint {name!r}: choose one of {sorted(CHECKPOINTS)}, "
            '"default", or the path of a local weights file'
        ) from None


def _looks_like_path(text: str) -> bool:
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(s in text for s in seps) or text.startswith("~") or "." in text


def resolve(
    checkpoint: str | Checkpoint | os.PathLike | None,
    default: str,
    *,
    progressbar=True,
    timeout: float = 15.0,
) -> Path:
    """The weights file a model loader should load.

    Parameters
    ----------
    checkpoint : str, Checkpoint, path-like or None
        ``None`` or ``"default"``: the registry entry ``default``. A
        :data:`CHECKPOINTS` name or a :class:`Checkpoint`: that file, fetched
        into the cache. A path-like, or a string that contains a path separator
        or a ``.`` (``"sam.pth"``), starts with ``~``, or names an existing
        file: a local file the user brings, returned as is (``~`` expanded).
        Registry names are letters, digits and ``_`` only, so they never
        look like paths.
    default : str
        Registry name used for ``None`` and ``"default"``.
    progressbar, timeout
        Passed to :func:`fetch`.

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        A local path that is not a file.
    ValueError
        An unknown registry name.
    WeightsUnavailableError, WeightsCorruptError
        See :func:`fetch`.
    """
    if checkpoint is None or checkpoint == "default":
        checkpoint = default
    if isinstance(checkpoint, str) and checkpoint in CHECKPOINTS:
        checkpoint = CHECKPOINTS[checkpoint]
    if isinstance(checkpoint, Checkpoint):
        return fetch(checkpoint, progressbar=progressbar, timeout=timeout)
    if isinstance(checkpoint, str) and not (
        _looks_like_path(checkpoint) or os.path.isfile(checkpoint)
    ):
        _lookup(checkpoint)  # raises, listing the known names
    path = Path(os.fspath(checkpoint)).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"checkpoint file {path} {what}")
    return path
