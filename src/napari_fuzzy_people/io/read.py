"""Reading photos safely: upright, decoded in full, within a size limit, or a clear error.

Only JPEG, PNG and TIFF are read, because the anonymized copy is written in the
input's format (see :mod:`napari_fuzzy_people.io.export`).
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import (
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    TiffImagePlugin,
)

from ._pixels import (
    _PNG16,
    _array,
    _bits,
    _open,
    _orientation,
    _png16,
    _tiff16,
    _tile_rawmode,
    orient,
)
from .errors import ImageReadError
from .icc import ProfileError, clean_profile
from .source import (
    _PHOTOS,
    ENV_MAX_BYTES,
    MAX_BYTES,
    SUPPORTED_FORMATS,
    _check_size,
    _check_tiff_samples,
    _decoding,
    _limit,
    _read_bytes,
    _refuse_truncated,
    _sniff,
    _tiff_samples,
    sniff_format,
)

__all__ = [
    "ENV_MAX_BYTES",
    "MAX_BYTES",
    "SUPPORTED_FORMATS",
    "ImageReadError",
    "Photo",
    "orient",
    "read_photo",
    "sniff_format",
]


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Photo:
    """A decoded photo, upright, with what export needs to write it back alike.

    Attributes
    ----------
    path : Path
        Resolved path of the file read.
    pixels : ndarray
        Upright (EXIF orientation applied): (M, N) gray, (M, N, 3) RGB or
        (M, N, 4) RGBA; uint8 or uint16.
    format : str
        ``"JPEG"``, ``"PNG"`` or ``"TIFF"``.
    mode : str
        The file's Pillow mode (``"RGB"``, ``"L"``, ``"P"``, ``"CMYK"``, ``"I;16"``, ...).
        Pillow names 16-bit colour ``"RGB"``/``"RGBA"`` too: see ``pixels.dtype``.
    sha256 : str
        Hex digest of the file's bytes, the very bytes that were decoded.
    icc_profile : bytes or None
        The file's ICC profile when it describes ``pixels`` (an sRGB profile
        for colour-managed CMYK input); None otherwise.
    jpeg : dict or None
        For JPEG: ``{"qtables": {table id: [64 ints]}, "subsampling": int}``
        as Pillow's ``save`` takes them (subsampling -1: not YCbCr, e.g. gray).
    orientation : int
        The EXIF orientation that was applied (1 if none).
    """

    path: Path
    pixels: np.ndarray
    format: str
    mode: str
    sha256: str
    icc_profile: bytes | None
    jpeg: dict | None
    orientation: int


def read_photo(path, *, max_bytes: int | None = None) -> Photo:
    """Read a JPEG, PNG or TIFF photo, upright, without touching the file.

    Conversions: ``1`` -> L (0/255); ``P`` -> RGB, or RGBA when the palette has
    transparency; ``LA`` -> RGBA (gray copied to R, G and B); 8-bit L or RGB
    with a transparent colour (PNG ``tRNS``) -> RGBA; ``CMYK`` -> RGB (colour-managed
    to sRGB when the file has a CMYK profile, else Pillow's plain formula), so
    its export is RGB. 16-bit gray PNG/TIFF -> uint16 (M, N); 16-bit RGB(A)
    PNG and TIFF -> uint16 (M, N, 3|4); 16-bit gray+alpha PNG -> uint16 RGBA.
    A multi-picture JPEG (MPO) gives its primary picture.

    Parameters
    ----------
    path : path-like
        The file. Its content, not its suffix, decides the format.
    max_bytes : int, optional
        Refuse images that decode to more bytes than this (a guard against
        decompression bombs), judged from the header before decoding: width x
        height x channels x bytes per sample of the widest array decoding
        makes (a palette image counts as RGB(A), CMYK as 4 channels).
        Default: the environment variable ``NAPARI_FUZZY_PEOPLE_MAX_BYTES``,
        else :data:`MAX_BYTES`.

    Returns
    -------
    Photo

    Raises
    ------
    ImageReadError
        Missing, unreadable, empty, damaged or truncated file; not an image;
        not JPEG/PNG/TIFF; several frames; over the byte limit; an
        unsupported pixel type (32-bit or float, say); a 16-bit colour TIFF
        whose compression (LZW, say) needs the optional ``imagecodecs``.
    ValueError
        ``max_bytes`` is not a positive integer.

    Examples
    --------
    >>> photo = read_photo("street.jpg")  # doctest: +SKIP
    >>> photo.pixels.shape, photo.format, photo.orientation  # doctest: +SKIP
    ((3024, 4032, 3), 'JPEG', 6)
    """
    shown = os.fspath(path)
    limit = _limit(max_bytes, shown)
    data = _read_bytes(path, shown)
    fmt = _sniff(data, shown)
    pixels, mode, icc, jpeg, orientation = _decode(data, fmt, shown, limit)
    return Photo(
        path=Path(path).resolve(),
        pixels=pixels,
        format=fmt,
        mode=mode,
        sha256=hashlib.sha256(data).hexdigest(),
        icc_profile=icc,
        jpeg=jpeg,
        orientation=orientation,
    )


# -- decoding -----------------------------------------------------------------

#: Pillow modes we turn into photos, and the mode we convert each to (None: keep).
_MODES = {
    "1": "L",
    "L": None,
    "P": "RGB",
    "LA": "RGBA",
    "RGB": None,
    "RGBA": None,
    "RGBX": "RGB",
    "RGBa": "RGBA",
    "CMYK": "RGB",
    "I;16": None,
    "I;16L": None,
    "I;16B": None,
    "I;16N": None,
}


def _decode(data: bytes, fmt: str, shown: str, limit: int):
    samples = _tiff_samples(data) if fmt == "TIFF" else None
    with _decoding(shown, fmt), _open_checked(data, fmt, shown, samples) as im:
        _check_header(im, fmt, shown)
        rawmode = _tile_rawmode(im) if fmt == "PNG" else None
        tiff16 = fmt == "TIFF" and im.mode in ("RGB", "RGBA", "RGBX") and _bits(im) > 8
        _check_size(shown, im.size, *_layout(im, rawmode, tiff16), limit, "read_photo")
        mode = im.mode
        jpeg = _jpeg_settings(im) if fmt == "JPEG" else None
        if tiff16:
            pixels, orientation = _tiff16(data, im, shown)
            icc = im.info.get("icc_profile")
        elif rawmode in _PNG16:
            pixels, orientation = _png16(data, rawmode)
            icc = im.info.get("icc_profile")
        else:
            pixels, orientation, icc = _pillow(im)
    pixels, icc = _colour_profile(icc, pixels)
    return pixels, mode, icc, jpeg, orientation


def _check_header(im: ImageFile.ImageFile, fmt: str, shown: str) -> None:
    if im.mode not in _MODES:
        raise ImageReadError(f"{shown}: {fmt} pixel mode {im.mode!r} is not supported; {_PHOTOS}")
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        raise ImageReadError(
            f"{shown}: {fmt} file has {frames} frames (multi-page or animated); "
            "only single images are supported"
        )


def _layout(im: ImageFile.ImageFile, rawmode: str | None, tiff16: bool) -> tuple[int, int]:
    """Channels and bits per sample of the widest array that decoding ``im`` makes."""
    channels = max(Image.getmodebands(im.mode), Image.getmodebands(_target(im)))
    if tiff16:  # tifffile decodes every sample, extra ones too
        return max(channels, int(im.tag_v2.get(TiffImagePlugin.SAMPLESPERPIXEL, 1))), 16
    if rawmode in _PNG16 or im.mode.startswith("I;16"):
        return channels, 16
    return channels, 8


def _target(im: Image.Image) -> str:
    """The mode ``im`` is converted to (see :data:`_MODES`): RGBA if a colour is transparent."""
    transparent = "transparency" in im.info or (
        im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA"
    )
    if im.mode in ("L", "RGB", "P") and transparent:
        return "RGBA"
    return _MODES[im.mode] or im.mode


def _open_checked(data: bytes, fmt: str, shown: str, samples) -> ImageFile.ImageFile:
    if samples is not None:
        _check_tiff_samples(samples, shown)
    try:
        return _open(data, fmt)
    except Exception as err:
        if samples is None:
            raise  # damage, or not TIFF: _decoding says so
        # tifffile parsed what Pillow refuses: a layout Pillow lacks, not damage.
        _kind, bits, count, photometric = samples
        raise ImageReadError(
            f"{shown}: TIFF pixel layout is not supported ({photometric}, {count} "
            f"sample{'s' if count > 1 else ''} of {bits} bits: {err}); {_PHOTOS}"
        ) from err


def _pillow(im: ImageFile.ImageFile):
    if (
        im.format == "TIFF"
        and Image.MAX_IMAGE_PIXELS is not None
        and im.width * im.height > Image.MAX_IMAGE_PIXELS
    ):
        # TIFF re-checks Pillow's global limit when it allocates; ours already passed,
        # so hand it the memory and let our one limit govern.
        im.im = Image.new(im.mode, im.size).im
    with _refuse_truncated():
        im.load()
    orientation = _orientation(im)
    icc = im.info.get("icc_profile")
    ImageOps.exif_transpose(im, in_place=True)
    target = _target(im)
    if im.mode == "CMYK":
        im, icc = _cmyk_to_rgb(im, icc)
    elif target != im.mode:
        im = im.convert(target)
    return _array(im), orientation, icc


def _jpeg_settings(im: ImageFile.ImageFile) -> dict:
    qtables = {int(k): [int(v) for v in table] for k, table in im.quantization.items()}
    return {"qtables": qtables, "subsampling": JpegImagePlugin.get_sampling(im)}


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None):
    if icc is not None and icc[16:20] == b"CMYK":
        try:
            from PIL import ImageCms  # Pillow may be built without LittleCMS
        except ImportError:
            return im.convert("RGB"), None
        srgb = ImageCms.createProfile("sRGB")
        try:
            rgb = ImageCms.profileToProfile(
                im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to the plain formula below
        else:
            return rgb, ImageCms.ImageCmsProfile(srgb).tobytes()
    return im.convert("RGB"), None


def _colour_profile(icc, pixels: np.ndarray) -> tuple[np.ndarray, bytes | None]:
    """The pixels and a profile that keeps their colour and nothing else (see :mod:`.icc`).

    A matrix/TRC profile (nearly every camera and editor profile) is rebuilt
    from its colour tags; the pixels stay as they are. Another profile of the
    pixels' colour space (built on lookup tables) cannot be rebuilt: 8-bit
    colour is converted to sRGB through it, and 16-bit or gray pixels lose
    it, since Pillow cannot convert them. A profile that does not describe
    the pixels (gray expanded to RGBA, say) is dropped, as before.
    """
    if not icc or len(icc) < 132 or icc[36:40] != b"acsp":
        return pixels, None
    colorspace = "GRAY" if pixels.ndim == 2 else "RGB"
    if icc[16:20] != colorspace.ljust(4).encode():
        return pixels, None
    try:
        return pixels, clean_profile(bytes(icc), colorspace)
    except ProfileError:
        pass
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        return pixels, None
    try:
        from PIL import ImageCms  # Pillow may be built without LittleCMS

        srgb = ImageCms.createProfile("sRGB")
        rgb = ImageCms.profileToProfile(
            Image.fromarray(np.ascontiguousarray(pixels[..., :3])),
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            srgb,
            outputMode="RGB",
        )
    except Exception:  # no LittleCMS, or it refuses the profile (PyCMSError, OSError)
        return pixels, None
    out = pixels.copy()
    out[..., :3] = np.asarray(rgb)
    return out, clean_profile(ImageCms.ImageCmsProfile(srgb).tobytes(), "RGB")
