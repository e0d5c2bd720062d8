"""Rebuild ICC colour profiles from their colour tags only.

An export keeps its input's ICC profile, or a wide-gamut photo displays with
wrong colours. Copied byte for byte, the profile would also carry whatever a
device or a tool put in it: maker, model, creation date, descriptions naming
a camera or a person, private tags of any size, invisible to most metadata
viewers. :func:`clean_profile` keeps only what defines the colours of a
matrix/TRC profile (primaries, tone curves, white point, adaptation, black
point) and writes a fresh profile around them.

References: ICC.1:2001-04 (v2) and ICC.1:2022 (v4), sections 7 (header and
tag table), 9 (tags) and 10 (tag types).
"""

from __future__ import annotations

import struct

__all__ = ["ProfileError", "clean_profile"]


class ProfileError(ValueError):
    """The profile cannot be rebuilt; the message says why (callers add the file)."""


_HEADER = 128
_D50 = struct.pack(">3i", 0xF6D6, 0x10000, 0xD32D)

#: Per pixel colour space: the profile's space, the colour tags it needs, the
#: ones it may have. The order is the order written, so the output is stable.
_KEPT = {
    "RGB": (b"RGB ", ("rXYZ", "gXYZ", "bXYZ", "rTRC", "gTRC", "bTRC", "wtpt"), ("chad", "bkpt")),
    "GRAY": (b"GRAY", ("kTRC", "wtpt"), ("chad", "bkpt")),
}
_TYPES = {
    **dict.fromkeys(("rXYZ", "gXYZ", "bXYZ", "wtpt", "bkpt"), (b"XYZ ",)),
    **dict.fromkeys(("rTRC", "gTRC", "bTRC", "kTRC"), (b"curv", b"para")),
    "chad": (b"sf32",),
}
#: Parameters of each function type of parametricCurveType (ICC.1 section 10).
_PARA_COUNTS = (1, 3, 4, 5, 7)
#: LittleCMS and others prefer these to the matrix: a profile holding them
#: would change colours if rebuilt from its matrix alone.
_LUT_TAGS = {
    f"{a}2{b}{i}" for a, b in (("A", "B"), ("B", "A"), ("D", "B"), ("B", "D")) for i in "0123"
}
#: Classes that describe the pixels of an image. The class is kept: LittleCMS
#: treats v2 display profiles' white point differently (absolute intent).
_CLASSES = (b"mntr", b"scnr", b"spac")
_DESCRIPTION = {"RGB": "RGB colour profile", "GRAY": "Gray colour profile"}
_COPYRIGHT = "No copyright, use freely"


def clean_profile(data: bytes, colorspace: str) -> bytes:
    """Rebuild an ICC profile from its colour tags only.

    Parameters
    ----------
    data : bytes
        An ICC profile, v2 or v4, of the matrix/TRC kind (as in photos).
    colorspace : {"RGB", "GRAY"}
        The pixels the profile must describe.

    Returns
    -------
    bytes
        A new profile with the input's device class, major version and colour
        tags (``rXYZ gXYZ bXYZ rTRC gTRC bTRC`` or ``kTRC``, ``wtpt``,
        optionally ``chad`` and ``bkpt``), exactly the bytes their types
        define, and a generic ``desc`` and ``cprt``; every other header field
        is zero or a constant. Equal colour tags give equal bytes, and
        cleaning a cleaned profile returns it unchanged.

    Raises
    ------
    ProfileError
        When the profile is malformed, describes other pixels, or is not a
        matrix/TRC profile (LUT-based profiles are not rebuilt).

    Examples
    --------
    >>> clean_profile(b"not a profile", "RGB")
    Traceback (most recent call last):
    ...
    napari_fuzzy_people.io.icc.ProfileError: not an ICC profile (no 'acsp' signature)
    """
    if colorspace not in _KEPT:
        raise ValueError(f"colorspace must be 'RGB' or 'GRAY', not {colorspace!r}")
    space, required, optional = _KEPT[colorspace]
    data = bytes(data)
    if data[36:40] != b"acsp":
        raise ProfileError("not an ICC profile (no 'acsp' signature)")
    if len(data) < _HEADER + 4:
        raise ProfileError(f"truncated profile: {len(data)} bytes, shorter than its header")
    (size,) = struct.unpack_from(">I", data, 0)
    # Bytes past the declared size are ignored (never copied): some writers pad.
    if not _HEADER + 4 <= size <= len(data):
        raise ProfileError(f"truncated profile: it declares {size} bytes and has {len(data)}")
    major = data[8]
    if major not in (2, 4):
        raise ProfileError(f"ICC version {major} profiles are not supported (only 2 and 4)")
    if data[16:20] != space:
        raise ProfileError(f"a {_name(data[16:20])} profile does not describe {colorspace} pixels")
    if data[12:16] not in _CLASSES:
        raise ProfileError(f"a profile of class {_name(data[12:16])} does not describe images")
    if data[20:24] != b"XYZ ":
        raise ProfileError(
            f"a profile with a {_name(data[20:24])} connection space is LUT-based;"
            " only matrix/TRC profiles are supported"
        )
    tags = _tag_table(data, size)
    luts = sorted(_LUT_TAGS.intersection(tags))
    if luts:
        raise ProfileError(f"LUT-based profiles are not supported (tags {', '.join(luts)})")
    missing = [sig for sig in required if sig not in tags]
    if missing:
        raise ProfileError(f"not a matrix/TRC profile: colour tags {', '.join(missing)} missing")
    kept = {
        sig: _colour_tag(sig, data[tags[sig][0] : sum(tags[sig])])
        for sig in required + optional
        if sig in tags
    }
    return _write(data[12:16], space, major, colorspace, kept)


def _name(sig: bytes) -> str:
    """A signature for a message: its text when printable, else hex."""
    text = sig.decode("latin-1")
    return repr(text.rstrip()) if text.isascii() and text.isprintable() else sig.hex()


def _tag_table(data: bytes, size: int) -> dict[str, tuple[int, int]]:
    """Map each tag signature to its ``(offset, size)``, all checked against ``size``."""
    (count,) = struct.unpack_from(">I", data, _HEADER)
    end = _HEADER + 4 + 12 * count
    if end > size:
        raise ProfileError(f"corrupt tag table: {count} tags do not fit in {size} bytes")
    tags: dict[str, tuple[int, int]] = {}
    for i in range(count):
        raw, offset, length = struct.unpack_from(">4sII", data, _HEADER + 4 + 12 * i)
        sig = raw.decode("latin-1")
        if offset < end or offset + length > size:
            raise ProfileError(
                f"corrupt tag table: tag {_name(raw)} lies outside the profile"
                f" (offset {offset}, {length} bytes, profile {size} bytes)"
            )
        if sig in tags:
            raise ProfileError(f"corrupt tag table: tag {_name(raw)} appears twice")
        tags[sig] = (offset, length)
    return tags


def _colour_tag(sig: str, block: bytes) -> bytes:
    """The validated bytes of one colour tag, reserved fields zeroed.

    Only the length its type implies is copied: bytes after it, inside a
    larger declared size, could hide anything.
    """
    kind = block[:4]
    if kind not in _TYPES[sig]:
        expected = " or ".join(_name(t) for t in _TYPES[sig])
        raise ProfileError(f"tag {sig!r} has type {_name(kind)}, expected {expected}")
    head = kind + bytes(4)
    if kind == b"XYZ ":
        length = 20
    elif kind == b"sf32":
        length = 44  # a 3x3 matrix
    elif len(block) < 12:
        length = 12
    elif kind == b"curv":
        length = 12 + 2 * struct.unpack_from(">I", block, 8)[0]
        head += block[8:12]
    else:
        function = struct.unpack_from(">H", block, 8)[0]
        if function >= len(_PARA_COUNTS):
            raise ProfileError(f"tag {sig!r} has an unknown parametric function {function}")
        length = 12 + 4 * _PARA_COUNTS[function]
        head += block[8:10] + bytes(2)
    if len(block) < length:
        raise ProfileError(f"tag {sig!r} is truncated: {len(block)} of {length} bytes")
    return head + block[len(head) : length]


def _write(device_class: bytes, space: bytes, major: int, colorspace: str, kept: dict) -> bytes:
    """Assemble header, tag table and 4-byte aligned tag data."""
    description, copyright_ = _DESCRIPTION[colorspace], _COPYRIGHT
    if major == 4:  # v4 readers expect multiLocalizedUnicodeType text
        texts = {"desc": _mluc(description), "cprt": _mluc(copyright_)}
    else:
        texts = {"desc": _text_description(description), "cprt": _text(copyright_)}
    tags = {**texts, **kept}
    table_end = _HEADER + 4 + 12 * len(tags)
    offsets: dict[bytes, int] = {}  # equal tag data is written once and shared
    body = bytearray()
    table = bytearray(struct.pack(">I", len(tags)))
    for sig, block in tags.items():
        if block not in offsets:
            offsets[block] = table_end + len(body)
            body += block + bytes(-len(block) % 4)
        table += struct.pack(">4sII", sig.encode("ascii"), offsets[block], len(block))
    size = table_end + len(body)
    version = 0x04300000 if major == 4 else 0x02100000
    # size, CMM, version, class, space, PCS, date, 'acsp', platform, flags,
    # maker, model, attributes, intent, illuminant, creator, ID, reserved.
    header = struct.pack(
        ">I4xI4s4s4s12x4s16x8x4x12s4x44x",
        size,
        version,
        device_class,
        space,
        b"XYZ ",
        b"acsp",
        _D50,
    )
    return header + bytes(table) + bytes(body)


def _text_description(text: str) -> bytes:
    """A v2 textDescriptionType: ASCII, no Unicode, empty ScriptCode."""
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_)) + ascii_ + bytes(8 + 3 + 67)


def _text(text: str) -> bytes:
    """A v2 textType: NUL-terminated ASCII."""
    return b"text" + bytes(4) + text.encode("ascii") + b"\0"


def _mluc(text: str) -> bytes:
    """A v4 multiLocalizedUnicodeType with one en-US record."""
    utf16 = text.encode("utf-16-be")
    return (
        b"mluc" + bytes(4) + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(utf16), 28) + utf16
    )
