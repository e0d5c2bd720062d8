"""Weights registry and download cache, against a real HTTP server on 127.0.0.1."""

import hashlib
import http.server
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pooch
import pytest
import requests

from napari_fuzzy_people.models import weights
from napari_fuzzy_people.models.weights import (
    CACHE_ENV,
    CHECKPOINTS,
    Checkpoint,
    WeightsCorruptError,
    WeightsUnavailableError,
    cache_dir,
    fetch,
    resolve,
    sha256_of,
)

DATA = random.Random(0).randbytes(300_000)
OTHER = random.Random(1).randbytes(len(DATA))
DIGEST = hashlib.sha256(DATA).hexdigest()


class Server:
    """Serves DATA and its failure modes; records every request path."""

    def __init__(self):
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                if self.path == "/stall.pth":
                    # Says nothing until the test ends: only the client timeout helps.
                    server.release.wait(10)
                    return
                body = {"/good.pth": DATA, "/bad.pth": OTHER, "/cut.pth": DATA}.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path == "/cut.pth":
                    body = body[: len(body) // 3]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def checkpoint(self, path, **kwargs):
        kwargs.setdefault("size", len(DATA))
        if "sha256_prefix" not in kwargs:
            kwargs.setdefault("sha256", DIGEST)
        host, port = self.httpd.server_address
        return Checkpoint(
            name="test_model", url=f"http://{host}:{port}/{path}", filename=path, **kwargs
        )

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def _server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def server(_server):
    _server.requests.clear()
    return _server


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    # A proxy from the environment would swallow requests meant for 127.0.0.1.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- fetch: success --------------------------------------------------------


@pytest.mark.parametrize(
    "expected",
    [{"sha256": DIGEST}, {"sha256_prefix": DIGEST[:8], "size": None}],
    ids=["full-digest", "prefix-only"],
)
def test_fetch_downloads_verifies_and_caches(server, cache, expected):
    checkpoint = server.checkpoint("good.pth", **expected)
    path = fetch(checkpoint, progressbar=False)
    assert path == cache_dir() / "good.pth" == cache / "good.pth"
    assert path.read_bytes() == DATA
    assert leftovers(cache) == ["good.pth"]
    assert server.requests == ["/good.pth"]

    assert fetch(checkpoint, progressbar=False) == path
    assert server.requests == ["/good.pth"]


def test_fetch_reports_progress_to_a_tqdm_like_object(server):
    class Progress:
        total = None
        done = 0
        closed = False

        def update(self, n):
            self.done += n

        def reset(self):
            self.done = 0

        def close(self):
            self.closed = True

    progress = Progress()
    fetch(server.checkpoint("good.pth"), progressbar=progress)
    assert progress.total == progress.done == len(DATA)
    assert progress.closed


def test_concurrent_fetches_share_one_verified_file(server, cache):
    checkpoint = server.checkpoint("good.pth")
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: fetch(checkpoint, progressbar=False), range(4)))
    assert set(paths) == {cache / "good.pth"}
    assert paths[0].read_bytes() == DATA
    assert leftovers(cache) == ["good.pth"]


# -- fetch: failures leave nothing behind ----------------------------------


@pytest.mark.parametrize(
    ("path", "expected", "message"),
    [
        ("bad.pth", {"sha256": DIGEST}, DIGEST),
        ("bad.pth", {"sha256_prefix": DIGEST[:8], "size": None}, DIGEST[:8]),
        ("good.pth", {"size": len(DATA) + 1}, str(len(DATA) + 1)),
    ],
    ids=["digest", "prefix", "size"],
)
def test_wrong_file_is_rejected_and_removed(server, cache, path, expected, message):
    checkpoint = server.checkpoint(path, **expected)
    with pytest.raises(WeightsCorruptError, match=re.escape(message)) as error:
        fetch(checkpoint, progressbar=False)
    assert path in str(error.value)
    assert leftovers(cache) == []


@pytest.mark.parametrize("lenient_requests", [False, True], ids=["requests", "old-urllib3"])
def test_cut_transfer_is_unavailable_and_removed(server, cache, monkeypatch, lenient_requests):
    # Choice: a cut connection is a network failure (retrying helps), not a bad file.
    if lenient_requests:
        # Older urllib3 ends a short body without an error; fetch must notice anyway.
        original = requests.models.Response.iter_content

        def lenient(self, *args, **kwargs):
            try:
                yield from original(self, *args, **kwargs)
            except requests.exceptions.ChunkedEncodingError:
                return

        monkeypatch.setattr(requests.models.Response, "iter_content", lenient)
    # Prefix only and no size: the announced Content-Length is all there is to go by.
    checkpoint = server.checkpoint("cut.pth", sha256_prefix=DIGEST[:8], size=None)
    with pytest.raises(WeightsUnavailableError, match="cut"):
        fetch(checkpoint, progressbar=False)
    assert leftovers(cache) == []


def test_offline_fails_fast_with_a_self_contained_message(cache):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    checkpoint = Checkpoint(
        name="sam_offline",
        url=f"http://127.0.0.1:{port}/sam.pth",
        filename="sam.pth",
        sha256=DIGEST,
    )
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as error:
        fetch(checkpoint, progressbar=False)
    assert time.monotonic() - start < 10
    message = str(error.value)
    for part in ("sam_offline", checkpoint.url, str(cache / "sam.pth"), "checkpoint=", CACHE_ENV):
        assert part in message
    assert "Max retries" not in message  # no urllib3 soup
    assert isinstance(error.value.__cause__, requests.ConnectionError)
    assert error.value.path == cache / "sam.pth"
    assert leftovers(cache) == []


def test_silent_server_times_out(server, cache):
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match=re.escape("no answer within 0.5 s")):
        fetch(server.checkpoint("stall.pth"), progressbar=False, timeout=0.5)
    assert time.monotonic() - start < 5
    assert leftovers(cache) == []


def test_http_error_is_unavailable(server, cache):
    with pytest.raises(WeightsUnavailableError, match="HTTP 404"):
        fetch(server.checkpoint("missing.pth"), progressbar=False)
    assert leftovers(cache) == []


def test_interrupt_removes_the_partial_file(server, cache, monkeypatch):
    def interrupted(self, url, output_file, pooch):
        output_file.write(DATA[:1000])
        raise KeyboardInterrupt

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(server.checkpoint("good.pth"), progressbar=False)
    assert leftovers(cache) == []


def test_cached_file_of_wrong_size_is_reported_not_downloaded(server, cache):
    cache.mkdir()
    (cache / "good.pth").write_bytes(DATA[:10])
    with pytest.raises(WeightsCorruptError, match="delete it"):
        fetch(server.checkpoint("good.pth"), progressbar=False)
    assert server.requests == []


# -- resolve ---------------------------------------------------------------


def _cached(name: str) -> Path:
    """Fake a cached registry file (sparse, so the 375 MB one costs nothing)."""
    checkpoint = CHECKPOINTS[name]
    path = cache_dir() / checkpoint.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(checkpoint.size or 1)
    return path


def test_resolve_local_files_are_returned_as_given(tmp_path, monkeypatch):
    local = tmp_path / "mine.pth"
    local.write_bytes(b"weights")
    assert resolve(local, "sam_vit_b") == local
    assert resolve(str(local), "sam_vit_b") == local
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve("~/mine.pth", "sam_vit_b") == local
    # A bare name that is an existing file is a file too.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights_v2").write_bytes(b"weights")
    assert resolve("weights_v2", "sam_vit_b") == Path("weights_v2")


@pytest.mark.parametrize("missing", ["nope/missing.pth", "missing.pth"])
def test_resolve_missing_local_file(tmp_path, monkeypatch, missing):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        resolve(missing, "sam_vit_b")
    with pytest.raises(FileNotFoundError, match="folder"):
        resolve(tmp_path, "sam_vit_b")


def test_resolve_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="unknown checkpoint 'sam_vit_x'") as error:
        resolve("sam_vit_x", "sam_vit_b")
    assert all(name in str(error.value) for name in CHECKPOINTS)


@pytest.mark.parametrize("default", ["sam_vit_b", "fasterrcnn_resnet50_fpn_v2"])
def test_resolve_default_and_names_use_the_cache(default):
    path = _cached(default)
    assert resolve(None, default) == path
    assert resolve("default", default) == path
    assert resolve(default, "sam_vit_h") == path
    assert resolve(CHECKPOINTS[default], "sam_vit_h") == path


def test_resolve_checkpoint_object_downloads(server, cache):
    assert resolve(server.checkpoint("good.pth"), "sam_vit_b", progressbar=False).is_file()


# -- registry and helpers --------------------------------------------------


def test_registry_entries_are_consistent():
    assert set(CHECKPOINTS) == {
        "sam_vit_b",
        "sam_vit_l",
        "sam_vit_h",
        "sam_hq_vit_tiny",
        "fasterrcnn_resnet50_fpn_v2",
        "fasterrcnn_mobilenet_v3_large_fpn",
        "yunet_2023mar",
    }
    for name, checkpoint in CHECKPOINTS.items():
        url = urlparse(checkpoint.url)
        assert checkpoint.name == name
        assert re.fullmatch(r"[a-z0-9_]+", name)  # never mistaken for a path
        assert url.scheme == "https"
        assert checkpoint.filename == url.path.rsplit("/", 1)[-1]
        assert checkpoint.filename.endswith((".pth", ".onnx"))
        # Pinned to a revision (a commit), never a branch that can move.
        if url.hostname == "huggingface.co":
            assert re.search(r"/resolve/[0-9a-f]{40}/", url.path), checkpoint.url
        if url.hostname == "github.com":
            assert re.search(r"/raw/[0-9a-f]{40}/", url.path), checkpoint.url
        if checkpoint.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", checkpoint.sha256)
            # Sizes are checked where their publisher gives them (Meta does for SAM).
            assert checkpoint.size is None or checkpoint.size > 0
            assert checkpoint.size or not name.startswith("sam_vit")
        else:
            # torchvision names files <model>-<first 8 hex of the SHA-256>.pth.
            stamp = re.search(r"-([0-9a-f]{8})\.pth$", checkpoint.filename).group(1)
            assert checkpoint.sha256_prefix == stamp
        assert checkpoint.description


def test_checkpoint_validation():
    good = {"name": "x", "url": "https://example.org/x.pth", "filename": "x.pth"}
    with pytest.raises(ValueError, match="sha256"):
        Checkpoint(**good)
    with pytest.raises(ValueError, match="bare file name"):
        Checkpoint(**{**good, "filename": "../x.pth"}, sha256=DIGEST)
    with pytest.raises(ValueError, match="64"):
        Checkpoint(**good, sha256=DIGEST[:-1])
    with pytest.raises(ValueError, match="disagree"):
        Checkpoint(**good, sha256=DIGEST, sha256_prefix="0" * 8 if DIGEST[0] != "0" else "1")
    checkpoint = Checkpoint(**good, sha256_prefix=DIGEST[:8])
    assert checkpoint.hash_matches(DIGEST)
    assert not checkpoint.hash_matches(hashlib.sha256(OTHER).hexdigest())


def test_cache_dir_default_and_override(monkeypatch, tmp_path):
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir() == pooch.os_cache("napari-fuzzy-people")


def test_sha256_of(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(DATA * 5)
    assert sha256_of(path) == hashlib.sha256(DATA * 5).hexdigest()


def test_module_imports_no_torch_and_no_gui():
    heavy = ["torch", "torchvision", "segment_anything", "napari", "qtpy", "PyQt5", "PyQt6"]
    code = (
        f"import sys, {weights.__name__}; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "[]"
