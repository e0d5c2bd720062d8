"""Cleaning ICC profiles: the colours survive, nothing else does."""

import io
import shutil
import struct
import subprocess

import numpy as np
import pytest
from PIL import Image, ImageCms

from napari_fuzzy_people.io.icc import ProfileError, clean_profile

MARKER = b"SECRET-MARKER"
D50 = (0.9642, 1.0, 0.8249)


def s15(*values):
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def xyz(*values, slack=b""):
    return b"XYZ " + bytes(4) + s15(*values) + slack


def curv(values):
    return b"curv" + bytes(4) + struct.pack(f">I{len(values)}H", len(values), *values)


def para(function, *params):
    return b"para" + bytes(4) + struct.pack(">HH", function, 0) + s15(*params)


def sf32(*values):
    return b"sf32" + bytes(4) + s15(*values)


def desc(text: bytes):
    return b"desc" + bytes(4) + struct.pack(">I", len(text) + 1) + text + bytes(1 + 8 + 3 + 67)


def text(text: bytes):
    return b"text" + bytes(4) + text + b"\0"


def build(tags, *, space=b"RGB ", pcs=b"XYZ ", version=0x02100000, cls=b"mntr", header=()):
    """A profile from ``(signature, data)`` pairs; equal data is stored once."""
    table_end = 132 + 12 * len(tags)
    body, table, offsets = bytearray(), bytearray(struct.pack(">I", len(tags))), {}
    for sig, data in tags:
        if data not in offsets:
            offsets[data] = table_end + len(body)
            body += data + bytes(-len(data) % 4)
        table += struct.pack(">4sII", sig, offsets[data], len(data))
    head = bytearray(128)
    struct.pack_into(">II", head, 0, table_end + len(body), 0)
    struct.pack_into(">I4s4s4s", head, 8, version, cls, space, pcs)
    head[36:40], head[68:80] = b"acsp", s15(*D50)
    for offset, value in header:
        head[offset : offset + len(value)] = value
    return bytes(head + table + body)


def srgb():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def rgb_tags(r, g, b, trc, white=D50):
    return [
        (b"desc", desc(b"test")),
        (b"wtpt", xyz(*white)),
        (b"rXYZ", xyz(*r)),
        (b"gXYZ", xyz(*g)),
        (b"bXYZ", xyz(*b)),
        (b"rTRC", trc),
        (b"gTRC", trc),
        (b"bTRC", trc),
    ]


SRGB_CURVE = para(3, 2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
BRADFORD_D65 = (1.0479, 0.0229, -0.0502, 0.0296, 0.9904, -0.0171, -0.0092, 0.0151, 0.7519)
# Display P3 (v4, parametric curve, chad): wider than sRGB.
P3_TAGS = [
    *rgb_tags(
        (0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841), SRGB_CURVE
    ),
    (b"chad", sf32(*BRADFORD_D65)),
]
P3 = build(P3_TAGS, version=0x04200000)
# Adobe RGB (1998), v2 display profile with its D65 white and a gamma curv.
ADOBE = build(
    rgb_tags(
        (0.6097, 0.3111, 0.0195),
        (0.2053, 0.6257, 0.0609),
        (0.1492, 0.0632, 0.7446),
        curv([563]),
        white=(0.9505, 1.0, 1.0891),
    )
)
# ProPhoto-like input profile: a 256-entry curve table and a black point.
PROPHOTO = build(
    [
        *rgb_tags(
            (0.7977, 0.2880, 0.0),
            (0.1352, 0.7119, 0.0),
            (0.0313, 0.0001, 0.8249),
            curv([round(65535 * (i / 255) ** 1.8) for i in range(256)]),
            white=(0.95, 1.0, 0.9),
        ),
        (b"bkpt", xyz(0.002, 0.002, 0.0017)),
    ],
    cls=b"scnr",
)
GRAY_V2 = build([(b"wtpt", xyz(*D50)), (b"kTRC", curv([563]))], space=b"GRAY")
GRAY_V4 = build(
    [(b"kTRC", para(0, 1.8)), (b"wtpt", xyz(*D50)), (b"chad", sf32(1, 0, 0, 0, 1, 0, 0, 0, 1))],
    space=b"GRAY",
    version=0x04300000,
)


def colours():
    """256x256 pixels, each a different colour."""
    x, y = np.meshgrid(np.arange(256), np.arange(256))
    return Image.fromarray(np.stack([x, y, (7 * x + 13 * y) % 256], -1).astype(np.uint8))


def grays():
    return Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (4, 1)))


def to_srgb(image, profile, intent, mode="RGB"):
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    target = ImageCms.createProfile("sRGB")
    out = ImageCms.profileToProfile(image, source, target, renderingIntent=intent, outputMode=mode)
    return np.asarray(out)


def tag_table(profile):
    (count,) = struct.unpack_from(">I", profile, 128)
    return {
        sig.decode(): (offset, size)
        for sig, offset, size in (
            struct.unpack_from(">4sII", profile, 132 + 12 * i) for i in range(count)
        )
    }


INTENTS = [
    ImageCms.Intent.PERCEPTUAL,
    ImageCms.Intent.RELATIVE_COLORIMETRIC,
    ImageCms.Intent.ABSOLUTE_COLORIMETRIC,
]


@pytest.mark.parametrize("intent", INTENTS)
@pytest.mark.parametrize("name", ["srgb", "p3", "adobe", "prophoto"])
def test_rgb_colours_unchanged(name, intent):
    profile = {"srgb": srgb(), "p3": P3, "adobe": ADOBE, "prophoto": PROPHOTO}[name]
    cleaned = clean_profile(profile, "RGB")
    image = colours()
    expected = to_srgb(image, profile, intent)
    np.testing.assert_array_equal(to_srgb(image, cleaned, intent), expected)
    if name != "srgb":  # the conversion did something: the check has teeth
        assert not np.array_equal(expected, np.asarray(image))


@pytest.mark.parametrize("intent", INTENTS)
@pytest.mark.parametrize("profile", [GRAY_V2, GRAY_V4], ids=["v2", "v4"])
def test_gray_colours_unchanged(profile, intent):
    cleaned = clean_profile(profile, "GRAY")
    assert set(tag_table(cleaned)) <= {"desc", "cprt", "kTRC", "wtpt", "chad"}
    expected = to_srgb(grays(), profile, intent, mode="RGB")
    np.testing.assert_array_equal(to_srgb(grays(), cleaned, intent, mode="RGB"), expected)


def test_keeps_only_colour_tags_and_shares_equal_data():
    original = srgb()
    assert "chrm" in tag_table(original)
    cleaned = clean_profile(original, "RGB")
    tags = tag_table(cleaned)
    assert set(tags) == {
        "desc",
        "cprt",
        "wtpt",
        "chad",
        *(c + t for c in "rgb" for t in ("XYZ", "TRC")),
    }
    assert tags["rTRC"] == tags["gTRC"] == tags["bTRC"]
    assert all(offset % 4 == 0 for offset, _ in tags.values())
    assert struct.unpack_from(">I", cleaned)[0] == len(cleaned)
    assert cleaned[8:20] == bytes.fromhex("04300000") + b"mntrRGB "  # v4 in, v4 out
    description = ImageCms.ImageCmsProfile(io.BytesIO(cleaned))
    assert ImageCms.getProfileDescription(description).strip() == "RGB colour profile"


@pytest.mark.parametrize("profile", [srgb(), P3, ADOBE, PROPHOTO])
def test_deterministic_and_idempotent(profile):
    cleaned = clean_profile(profile, "RGB")
    assert clean_profile(profile, "RGB") == cleaned
    assert clean_profile(cleaned, "RGB") == cleaned


def test_device_class_and_version_kept():
    # LittleCMS reads the white point of v2 display profiles differently.
    assert clean_profile(PROPHOTO, "RGB")[8:16] == bytes.fromhex("02100000") + b"scnr"
    assert clean_profile(ADOBE, "RGB")[8:16] == bytes.fromhex("02100000") + b"mntr"


def dirty_p3():
    """Display P3 with a marker wherever a profile can hide one."""
    tags = [(sig, data) for sig, data in P3_TAGS if sig not in (b"desc", b"rXYZ", b"wtpt")]
    tags += [
        (b"rXYZ", xyz(0.5151, 0.2412, -0.0011, slack=MARKER * 3)),  # oversized tag
        (b"wtpt", b"XYZ SECR" + s15(*D50)),  # reserved bytes
        (b"desc", desc(b"Canon EOS R5 of Jane Doe " + MARKER)),
        (b"cprt", text(b"(c) " + MARKER)),
        (b"dmnd", desc(MARKER)),
        (b"dmdd", desc(MARKER)),
        (b"zzzz", b"zzzz" + bytes(4) + MARKER + bytes(90_000) + MARKER),
        (b"priv", MARKER),
    ]
    header = [
        (4, b"SECR"),  # CMM
        (24, struct.pack(">6H", 2024, 5, 17, 9, 41, 3)),  # date
        (40, b"APPL"),
        (44, b"SECR"),  # flags
        (48, b"SECR"),  # maker
        (52, b"ET-M"),  # model
        (56, b"SECRET-M"),  # attributes
        (64, struct.pack(">I", 1)),  # intent
        (80, b"SECR"),  # creator
        (84, MARKER),  # profile ID
        (100, MARKER),  # reserved
    ]
    return build(tags, version=0x04200000, header=header) + MARKER  # and past the end


def test_markers_never_survive():
    dirty = dirty_p3()
    assert dirty.count(MARKER) >= 10 and len(dirty) > 90_000
    cleaned = clean_profile(dirty, "RGB")
    assert MARKER not in cleaned
    assert b"SECR" not in cleaned and b"ET-M" not in cleaned
    assert len(cleaned) < 2048
    assert not any(cleaned[4:8] + cleaned[24:36] + cleaned[40:68] + cleaned[80:128])
    assert cleaned[68:80] == bytes.fromhex("0000f6d6 00010000 0000d32d")
    # The junk changed nothing that matters: same bytes as the clean P3, same colours.
    assert cleaned == clean_profile(P3, "RGB")
    for intent in INTENTS:
        np.testing.assert_array_equal(
            to_srgb(colours(), cleaned, intent), to_srgb(colours(), dirty, intent)
        )


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")
def test_exiftool_sees_only_generic_texts(tmp_path):
    def exiftool(profile):
        path = tmp_path / "photo.png"
        colours().save(path, icc_profile=profile)
        result = subprocess.run(
            ["exiftool", "-a", "-G1", "-s", str(path)], capture_output=True, check=True
        )
        return result.stdout

    assert MARKER in exiftool(dirty_p3())  # the desc shows, the private tag doesn't
    shown = exiftool(clean_profile(dirty_p3(), "RGB"))
    assert MARKER not in shown and b"SECR" not in shown
    assert b"ProfileDescription              : RGB colour profile" in shown
    assert b"ProfileCopyright                : No copyright, use freely" in shown
    for field in (b"DeviceManufacturer", b"DeviceModel", b"ProfileCreator", b"Warning"):
        lines = [line for line in shown.splitlines() if field + b" " in line]
        assert all(line.rstrip().endswith(b":") for line in lines), lines


def replace_tag(tags, sig, data):
    return [(s, data if s == sig else d) for s, d in tags]


def patched(profile, offset, value):
    return profile[:offset] + value + profile[offset + len(value) :]


LUT = b"mft2" + bytes(48)
BAD = {
    "not a profile": (b"GIF89a" + bytes(200), "RGB", "no 'acsp' signature"),
    "header only": (srgb()[:100], "RGB", "truncated profile: 100 bytes"),
    "truncated": (srgb()[:-10], "RGB", "declares 588 bytes and has 578"),
    "signature": (patched(P3, 36, b"ascp"), "RGB", "no 'acsp' signature"),
    "version 5": (patched(P3, 8, b"\x05"), "RGB", "version 5 profiles are not supported"),
    "tag count": (patched(P3, 128, struct.pack(">I", 10**6)), "RGB", "1000000 tags do not fit"),
    "tag offset": (patched(P3, 136, struct.pack(">I", 10**6)), "RGB", "'desc' lies outside"),
    "tag size": (patched(P3, 152, struct.pack(">I", 10**6)), "RGB", "'wtpt' lies outside"),
    "tag in table": (patched(P3, 136, struct.pack(">I", 4)), "RGB", "'desc' lies outside"),
    "duplicate": (build([*P3_TAGS, (b"rXYZ", xyz(1, 1, 1))]), "RGB", "'rXYZ' appears twice"),
    "CMYK": (build(P3_TAGS, space=b"CMYK", pcs=b"Lab "), "RGB", "'CMYK' profile does not"),
    "gray for RGB": (GRAY_V2, "RGB", "a 'GRAY' profile does not describe RGB pixels"),
    "RGB for gray": (P3, "GRAY", "a 'RGB' profile does not describe GRAY pixels"),
    "device link": (build(P3_TAGS, cls=b"link"), "RGB", "class 'link'"),
    "Lab PCS": (build(P3_TAGS, pcs=b"Lab "), "RGB", "'Lab' connection space is LUT-based"),
    "LUT only": (
        build([(b"wtpt", xyz(*D50)), (b"A2B0", LUT), (b"B2A0", LUT)]),
        "RGB",
        "LUT-based profiles are not supported \\(tags A2B0, B2A0\\)",
    ),
    "LUT and matrix": (build([*P3_TAGS, (b"A2B1", LUT)]), "RGB", "LUT-based"),
    "missing tag": (build(P3_TAGS[:-2]), "RGB", "colour tags bTRC missing"),
    "wrong type": (
        build(replace_tag(P3_TAGS, b"rXYZ", curv([1]))),
        "RGB",
        "'rXYZ' has type 'curv', expected 'XYZ'",
    ),
    "para function": (
        build(replace_tag(P3_TAGS, b"gTRC", para(5, 1, 2, 3, 4, 5, 6, 7, 8))),
        "RGB",
        "unknown parametric function 5",
    ),
    "para short": (build(replace_tag(P3_TAGS, b"gTRC", para(3, 2.4))), "RGB", "'gTRC' is trunc"),
    "curv short": (
        build(replace_tag(P3_TAGS, b"bTRC", curv(range(10))[:20])),
        "RGB",
        "'bTRC' is truncated: 20 of 32 bytes",
    ),
    "curv header": (build(replace_tag(P3_TAGS, b"bTRC", b"curv")), "RGB", "'bTRC' is trunc"),
    "chad short": (build([*P3_TAGS[:-1], (b"chad", sf32(1, 0))]), "RGB", "'chad' is trunc"),
}


@pytest.mark.parametrize(("data", "colorspace", "message"), BAD.values(), ids=BAD.keys())
def test_refuses(data, colorspace, message):
    with pytest.raises(ProfileError, match=message):
        clean_profile(data, colorspace)


def test_colorspace_argument_checked():
    with pytest.raises(ValueError, match="'RGB' or 'GRAY'") as info:
        clean_profile(P3, "CMYK")
    assert not isinstance(info.value, ProfileError)
