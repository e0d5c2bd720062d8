"""Exports carry the pixels and nothing else, and never leave half a file."""

import errno
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import zlib

import numpy as np
import pytest
import tifffile
from PIL import ExifTags, Image, ImageCms, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from napari_fuzzy_people.io import ExportError, export_path, save_image
from napari_fuzzy_people.io import check as check_module
from napari_fuzzy_people.io import export as export_module
from napari_fuzzy_people.io.export import check_clean
from napari_fuzzy_people.io.icc import clean_profile


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def srgb():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# -- the basics ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_lossless_formats_round_trip(tmp_path, image, suffix):
    path = save_image(image, tmp_path / f"out{suffix}")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert [p.name for p in tmp_path.iterdir()] == [f"out{suffix}"]  # no temporary left


@pytest.mark.parametrize(
    ("suffix", "channels"),
    [(s, c) for s in (".png", ".tif", ".jpg") for c in (0, 3, 4) if (s, c) != (".jpg", 4)],
)
def test_uint8_layouts_are_written_clean(tmp_path, suffix, channels):
    shape = (24, 32) + ((channels,) if channels else ())
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    path = save_image(pixels, tmp_path / f"out{suffix}")
    check_clean(path)
    back = tifffile.imread(path) if suffix == ".tif" else np.asarray(Image.open(path))
    assert back.shape == pixels.shape
    if suffix != ".jpg":
        np.testing.assert_array_equal(back, pixels)


def test_large_photos_are_not_mistaken_for_bombs(tmp_path, monkeypatch, image):
    # Pillow's limit guards against untrusted input, not against our own file.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for suffix in (".jpg", ".png", ".tif"):
        save_image(image, tmp_path / f"out{suffix}")


def test_never_writes_over_an_input(tmp_path, image):
    original = tmp_path / "photo.png"
    Image.fromarray(image).save(original)
    before = digest(original)
    with pytest.raises(ExportError, match="refusing to write over the input"):
        save_image(image[::-1], tmp_path / "." / "photo.png", inputs=[original], overwrite=True)
    (tmp_path / "link.png").symlink_to(original)
    with pytest.raises(ExportError, match="is a symbolic link"):
        save_image(image[::-1], tmp_path / "link.png", inputs=[original], overwrite=True)
    with pytest.raises(ExportError, match="refusing to write over the input"):
        save_image(image[::-1], original, inputs=str(original), overwrite=True)
    assert digest(original) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "photo.png"]


def test_existing_outputs_need_permission(tmp_path, image):
    path = save_image(image, tmp_path / "out.png")
    with pytest.raises(ExportError, match="already exists"):
        save_image(image[::-1], path)
    save_image(image[::-1], path, overwrite=True)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image[::-1])


def test_unsupported_format(tmp_path, image):
    with pytest.raises(ExportError, match=r"unsupported format '\.gif'"):
        save_image(image, tmp_path / "out.gif")


def test_export_names():
    assert export_path("/o", "x", "/in/x.tiff").name == "x_fuzzy.tiff"
    assert export_path("/o", "x", "/in/x.JPEG").name == "x_fuzzy.jpeg"
    assert export_path("/o", "x", "/in/x.png").name == "x_fuzzy.png"
    assert export_path("/o", "layer name", "/in/raw.cr2").name == "raw_fuzzy.png"
    assert export_path("/o", "x", "/in/x.jpg", force_png=True).name == "x_fuzzy.png"
    assert export_path("/o", "x", "/in/x.tif", force_png=True).name == "x_fuzzy.png"
    # A layer name is not a path: it cannot lead out of the folder.
    assert export_path("/o", "../../etc/x").parent.as_posix() == "/o"
    assert export_path("/o", "..").name == "image_fuzzy.png"


# -- refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pixels", "suffix", "message"),
    [
        (np.zeros((8, 8, 4), np.uint8), ".jpg", "JPEG has no transparency.*export as PNG"),
        (np.zeros((8, 8, 3), np.uint16), ".jpg", "JPEG is 8-bit only"),
        (np.zeros((8, 8), np.uint16), ".jpeg", "JPEG is 8-bit only"),
        (np.zeros((8, 8, 3), np.float32), ".png", "cannot write float pixels"),
        (np.zeros((8, 8), np.float64), ".tif", "cannot write float pixels"),
        (np.zeros((8, 8), np.int32), ".png", "cannot write int32 pixels"),
        (np.zeros((8, 8), bool), ".png", "cannot write bool pixels"),
        (np.zeros((8, 8, 2), np.uint8), ".png", r"shape \(8, 8, 2\)"),
        (np.zeros((2, 8, 8, 3), np.uint8), ".tif", r"shape \(2, 8, 8, 3\)"),
        (np.zeros((0, 8), np.uint8), ".png", r"shape \(0, 8\)"),
    ],
)
def test_refusals(tmp_path, pixels, suffix, message):
    with pytest.raises(ExportError, match=message):
        save_image(pixels, tmp_path / f"out{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_refuses_what_is_not_a_fitting_icc_profile(tmp_path, image, srgb):
    with pytest.raises(ExportError, match="ICC profile refused"):
        save_image(image, tmp_path / "out.png", icc_profile=b"Exif\0\0" + bytes(200))
    with pytest.raises(ExportError, match="does not describe GRAY"):
        save_image(image[..., 0], tmp_path / "out.png", icc_profile=srgb)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "settings",
    [
        {"qtables": [[1] * 63], "subsampling": 0},
        {"qtables": [[0] * 64], "subsampling": 0},
        {"qtables": [[1.5] * 64], "subsampling": 0},
        {"qtables": [[2] * 64] * 5, "subsampling": 0},
        {"qtables": [[2] * 64], "subsampling": "4:1:1"},
        "quality=100",
    ],
)
def test_refuses_bad_jpeg_settings(tmp_path, image, settings):
    with pytest.raises(ExportError, match=r"(?i)jpeg"):
        save_image(image, tmp_path / "out.jpg", jpeg=settings)
    assert list(tmp_path.iterdir()) == []


# -- 16 bits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "suffix"),
    [((20, 30), ".png"), ((20, 30), ".tif"), ((20, 30, 3), ".tif"), ((20, 30, 4), ".tiff")],
)
def test_16_bit_round_trips(tmp_path, shape, suffix):
    pixels = np.random.default_rng(2).integers(0, 65536, shape, dtype=np.uint16)
    pixels.flat[:2] = [0, 65535]
    path = save_image(pixels.astype(">u2"), tmp_path / f"out{suffix}")  # any byte order
    check_clean(path)
    if suffix == ".png":
        assert path.read_bytes()[24] == 16  # IHDR bit depth: truly 16-bit, not scaled
        back = np.asarray(Image.open(path))
    else:
        back = tifffile.imread(path)
        assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_png(tmp_path, srgb, channels):
    # Pillow cannot write these; export writes them itself, so check with libpng.
    cv2 = pytest.importorskip("cv2", reason="OpenCV (libpng) checks our 16-bit PNG writer")
    pixels = np.random.default_rng(5).integers(0, 65536, (37, 53, channels), dtype=np.uint16)
    pixels[:5] = 40000  # flat rows, as in real photos
    path = save_image(pixels, tmp_path / "out.png", icc_profile=srgb if channels == 3 else None)
    check_clean(path)
    data = path.read_bytes()
    assert data[24:26] == bytes([16, {3: 2, 4: 6}[channels]])  # 16-bit RGB / RGBA
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    back = back[..., [2, 1, 0, 3][:channels]]  # OpenCV's BGR(A)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, pixels)
    with Image.open(path) as im:
        kept = clean_profile(srgb, "RGB") if channels == 3 else None
        assert im.info.get("icc_profile") == kept
        np.testing.assert_array_equal(np.asarray(im), pixels >> 8)  # Pillow: high bytes
    if shutil.which("exiftool"):
        assert leftovers(exiftool(path), ".png", icc=channels == 3) == {}


def test_only_the_colour_of_an_icc_profile_is_kept(tmp_path, image, srgb):
    for suffix in (".jpg", ".png", ".tif"):
        path = save_image(image, tmp_path / f"out{suffix}", icc_profile=srgb)
        check_clean(path)
        if suffix == ".tif":
            with tifffile.TiffFile(path) as tif:
                kept = tif.pages[0].tags[34675].value
        else:
            kept = Image.open(path).info["icc_profile"]
        assert bytes(kept) == clean_profile(srgb, "RGB")


# -- JPEG re-encoding ---------------------------------------------------------


def test_jpeg_reencoding_barely_changes_unedited_areas(tmp_path):
    skdata = pytest.importorskip("skimage.data")
    source = tmp_path / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(source, quality=85, subsampling=2)  # 4:2:0
    before = digest(source)
    with Image.open(source) as im:
        decoded = np.asarray(im)
        settings = {"qtables": im.quantization, "subsampling": JpegImagePlugin.get_sampling(im)}
    edited = decoded.copy()
    edited[200:232, 240:272] = 0
    far = np.ones(decoded.shape[:2], bool)
    far[200 - 48 : 232 + 48, 240 - 48 : 272 + 48] = False  # well past any 16x16 block

    changes = {}
    for name, jpeg in [("same settings", settings), ("quality 95, 4:4:4", None)]:
        out = save_image(edited, tmp_path / f"{name}.jpg", inputs=[source], jpeg=jpeg)
        with Image.open(out) as im:
            back = np.asarray(im).astype(int)
            if jpeg is settings:
                assert im.quantization == settings["qtables"]
                assert JpegImagePlugin.get_sampling(im) == 2
            else:
                assert JpegImagePlugin.get_sampling(im) == 0
        changes[name] = np.abs(back - decoded)[far].mean()
        assert np.abs(back - decoded)[~far].max() > 50  # the edit is there
    print(f"mean |change| far from the edit, grey levels: {changes}")
    # Measured (Pillow 13, libjpeg-turbo): about 0.22 with the input's tables, 0.48 at q95.
    assert changes["same settings"] < 0.5
    assert changes["quality 95, 4:4:4"] < 1.0
    assert digest(source) == before


def test_jpeg_settings_from_a_grayscale_input(tmp_path, image):
    gray = tmp_path / "gray.jpg"
    Image.fromarray(image[..., 0]).save(gray, quality=70)
    with Image.open(gray) as im:
        settings = {"qtables": im.quantization, "subsampling": JpegImagePlugin.get_sampling(im)}
    assert settings["subsampling"] == -1 and len(settings["qtables"]) == 1
    save_image(image[..., 0], tmp_path / "a.jpg", jpeg=settings)
    save_image(image, tmp_path / "b.jpg", jpeg=settings)  # one table serves all channels
    assert Image.open(tmp_path / "a.jpg").quantization == settings["qtables"]


# -- metadata-rich inputs -----------------------------------------------------

SECRETS = [b"Jane", b"SecretCam", b"SecretApp", b"Berlin", b"secret comment", b"SN123456"]
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq>'
    b"<rdf:li>Jane Doe</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
)
GPS = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 1.0)}


def iptc():
    """An IPTC IIM block (By-line, City) as Photoshop stores it."""
    records = b"".join(
        b"\x1c\x02" + bytes([tag]) + struct.pack(">H", len(v)) + v
        for tag, v in [(80, b"Jane Doe"), (90, b"Berlin")]
    )
    return records + b"\0" * (len(records) % 2)


def rich_jpeg(path, pixels, icc):
    piexif = pytest.importorskip("piexif")
    thumb = io.BytesIO()
    Image.fromarray(pixels[::4, ::4]).save(thumb, "JPEG")
    # A one-entry Canon maker note (CanonModelID), which exiftool decodes.
    maker = struct.pack(">HHHII", 1, 0x0010, 4, 1, 0x80000001) + bytes(4)
    exif = piexif.dump(
        {
            "0th": {
                piexif.ImageIFD.Make: b"Canon",
                piexif.ImageIFD.Model: b"SecretCam",
                piexif.ImageIFD.Artist: b"Jane Doe",
                piexif.ImageIFD.Software: b"SecretApp",
            },
            "Exif": {
                piexif.ExifIFD.DateTimeOriginal: b"2024:01:02 03:04:05",
                piexif.ExifIFD.BodySerialNumber: b"SN123456",
                piexif.ExifIFD.MakerNote: maker,
            },
            "GPS": {
                piexif.GPSIFD.GPSLatitudeRef: b"N",
                piexif.GPSIFD.GPSLatitude: ((52, 1), (31, 1), (1250, 100)),
                piexif.GPSIFD.GPSLongitudeRef: b"E",
                piexif.GPSIFD.GPSLongitude: ((13, 1), (24, 1), (1, 1)),
            },
            "1st": {piexif.ImageIFD.Compression: 6},
            "thumbnail": thumb.getvalue(),
        }
    )
    out = io.BytesIO()
    Image.fromarray(pixels).save(
        out, "JPEG", quality=85, exif=exif, xmp=XMP, comment="secret comment", icc_profile=icc
    )
    app13 = b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0" + struct.pack(">I", len(iptc())) + iptc()
    data = out.getvalue()
    path.write_bytes(data[:2] + b"\xff\xed" + struct.pack(">H", len(app13) + 2) + app13 + data[2:])


def rich_png(path, pixels, icc):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")  # tEXt
    info.add_text("Comment", "secret comment", zip=True)  # zTXt
    info.add_itxt("Description", "Jane in Berlin", "en", "Beschreibung")  # iTXt
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 1, 2, 3, 4, 5))
    exif = Image.Exif()  # eXIf
    exif[0x010F] = "SecretCam"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS)
    Image.fromarray(pixels).save(path, pnginfo=info, exif=exif, icc_profile=icc)


def rich_tiff(path, pixels, icc):
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[270] = "Jane in Berlin"  # ImageDescription
    tags[271] = "SecretCam"
    tags[305] = "SecretApp"
    tags[306] = "2024:01:02 03:04:05"
    tags[315] = "Jane Doe"  # Artist
    tags[700], tags.tagtype[700] = XMP, 1
    tags[33723], tags.tagtype[33723] = iptc(), 7
    tags[34665] = {0x9003: "2024:01:02 03:04:05", 0xA431: "SN123456"}
    tags[34853] = GPS
    Image.fromarray(pixels).save(path, tiffinfo=tags, icc_profile=icc)


RICH = {".jpg": rich_jpeg, ".png": rich_png, ".tif": rich_tiff}


def read_like_the_app(path):
    """Pixels, ICC profile and JPEG settings, as ``io.read`` hands them on."""
    with Image.open(path) as im:
        jpeg = None
        if im.format == "JPEG":
            jpeg = {"qtables": im.quantization, "subsampling": JpegImagePlugin.get_sampling(im)}
        return np.asarray(im.convert("RGB")), im.info.get("icc_profile"), jpeg


def exiftool(path):
    """Everything exiftool finds, as ``{"Group0:Group1:Tag": value}``."""
    out = subprocess.run(
        ["exiftool", "-j", "-G0:1", "-a", "-u", "-b", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)[0]


# What exiftool may report about a clean file: the file system's entries
# (File:System:*), the container, the pixel layout, and derived values.
CLEAN = {"SourceFile", "ExifTool:ExifToolVersion", "Composite:ImageSize", "Composite:Megapixels"}
CLEAN |= {f"File:{t}" for t in ["FileType", "FileTypeExtension", "MIMEType"]}
JPEG_LAYOUT = "ImageWidth ImageHeight EncodingProcess BitsPerSample ColorComponents"
TIFF_LAYOUT = (
    "ImageWidth ImageHeight BitsPerSample Compression PhotometricInterpretation StripOffsets "
    "SamplesPerPixel RowsPerStrip StripByteCounts XResolution YResolution PlanarConfiguration "
    "ResolutionUnit ExtraSamples SampleFormat"
)
CLEAN_BY_FORMAT = {
    ".jpg": {f"File:{t}" for t in [*JPEG_LAYOUT.split(), "YCbCrSubSampling"]}
    | {f"JFIF:{t}" for t in ["JFIFVersion", "ResolutionUnit", "XResolution", "YResolution"]},
    ".png": {
        f"PNG:{t}"
        for t in "ImageWidth ImageHeight BitDepth ColorType Compression Filter Interlace".split()
    },
    ".tif": {"File:ExifByteOrder"} | {f"EXIF:IFD0:{t}" for t in TIFF_LAYOUT.split()},
}


def leftovers(found, suffix, icc):
    def allowed(key):
        if key.startswith("File:System:") or key in CLEAN | CLEAN_BY_FORMAT[suffix]:
            return True
        return icc and (key.startswith("ICC_Profile:") or key == "PNG:ProfileName")

    return {k: v for k, v in found.items() if not allowed(k)}


needs_exiftool = pytest.mark.skipif(
    shutil.which("exiftool") is None,
    reason="exiftool is not installed (apt-get install libimage-exiftool-perl)",
)


@needs_exiftool
@pytest.mark.parametrize("keep_icc", [True, False], ids=["with-icc", "no-icc"])
@pytest.mark.parametrize("suffix", list(RICH))
def test_no_metadata_survives_an_export(tmp_path, srgb, suffix, keep_icc):
    pixels = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    source = tmp_path / f"photo{suffix}"
    RICH[suffix](source, pixels, srgb)
    before = digest(source)
    found = exiftool(source)
    # The input really is rich, so the test below proves something.
    assert len(leftovers(found, suffix, icc=True)) >= 5, found
    assert any("GPS" in k for k in found) and any("Jane" in str(v) for v in found.values())

    pixels, icc, jpeg = read_like_the_app(source)
    assert icc == srgb
    (tmp_path / "out").mkdir()
    out = save_image(
        pixels,
        export_path(tmp_path / "out", "photo", source),
        inputs=[source],
        icc_profile=icc if keep_icc else None,
        jpeg=jpeg,
    )

    found = exiftool(out)
    assert leftovers(found, suffix, keep_icc) == {}
    assert any(k.startswith("ICC_Profile:") for k in found) == keep_icc
    data = out.read_bytes()
    assert [s for s in SECRETS if s in data] == []
    check_clean(out)
    assert digest(source) == before


@pytest.mark.parametrize("suffix", list(RICH))
def test_check_clean_catches_metadata(tmp_path, srgb, suffix):
    pixels = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    source = tmp_path / f"photo{suffix}"
    RICH[suffix](source, pixels, srgb)
    before = digest(source)
    with pytest.raises(ExportError, match=f"photo\\{suffix}: "):
        check_clean(source)
    assert digest(source) == before


def _jpeg(**options):
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(out, "JPEG", **options)
    return out.getvalue()


def _png(**options):
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(out, "PNG", **options)
    return out.getvalue()


def _tiff_pages(path):
    pixels = np.zeros((8, 8), np.uint8)
    with tifffile.TiffWriter(path) as tif:
        tif.write(pixels, metadata=None, software=False)
        tif.write(pixels, metadata=None, software=False)


def _chunk(kind, body):
    crc = struct.pack(">I", zlib.crc32(kind + body))
    return struct.pack(">I", len(body)) + kind + body + crc


def _with_segment(data, marker, body):
    return data[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body + data[2:]


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("comment.jpg", lambda p: p.write_bytes(_jpeg(comment="hi")), "0xFE"),
        ("trailer.jpg", lambda p: p.write_bytes(_jpeg() + b"GPS 52N"), "after the JPEG's end"),
        (
            "jfif-thumbnail.jpg",
            lambda p: p.write_bytes(
                _with_segment(_jpeg()[:2] + _jpeg()[20:], 0xE0, b"JFIF\0\1\1\0\0\1\0\1\1\1abc")
            ),
            "APP0 other than",
        ),
        ("mpf.jpg", lambda p: p.write_bytes(_with_segment(_jpeg(), 0xE2, b"MPF\0")), "APP2"),
        (
            "time.png",
            lambda p: p.write_bytes(_png()[:33] + _chunk(b"tIME", bytes(7)) + _png()[33:]),
            "'tIME'",
        ),
        ("trailer.png", lambda p: p.write_bytes(_png() + b"hidden"), "after the PNG's end"),
        ("pages.tif", _tiff_pages, "2 images"),
        ("words.txt", lambda p: p.write_text("Jane Doe"), "not a JPEG, PNG or TIFF"),
    ],
)
def test_check_clean_is_strict(tmp_path, name, make, message):
    make(tmp_path / name)
    with pytest.raises(ExportError, match=message):
        check_clean(tmp_path / name)


# -- faults: each leaves no file, no temporary, and says which export ---------


def _only(folder, *names):
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch, image):
    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(image, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_encoder_crash_leaves_nothing(tmp_path, monkeypatch, image, suffix):
    def crash(file, *args, **kwargs):
        file.write(b"half a file")
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(Image.Image, "save", lambda self, fp, **kw: crash(fp))
    monkeypatch.setattr(tifffile, "imwrite", crash)
    with pytest.raises(ExportError, match=rf"out\{suffix}: writing failed.*encoder bug"):
        save_image(image, tmp_path / f"out{suffix}")
    _only(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_full_disk_while_writing(tmp_path, monkeypatch, image, suffix):
    def full(file, *args, **kwargs):
        file.write(b"\x89PNG half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", lambda self, fp, **kw: full(fp))
    monkeypatch.setattr(tifffile, "imwrite", full)
    with pytest.raises(OSError, match=rf"out\{suffix}.*No space left") as caught:
        save_image(image, tmp_path / f"out{suffix}")
    assert caught.value.errno == errno.ENOSPC and not isinstance(caught.value, ExportError)
    _only(tmp_path)


def test_full_disk_at_fsync_keeps_the_previous_file(tmp_path, monkeypatch, image):
    previous = save_image(image, tmp_path / "out.jpg")
    before = digest(previous)

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match=r"out\.jpg") as caught:
        save_image(image[::-1], previous, overwrite=True)
    assert caught.value.errno == errno.ENOSPC
    _only(tmp_path, "out.jpg")
    assert digest(previous) == before


def test_read_only_folder(tmp_path, image):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        try:
            (folder / "probe").touch()
        except PermissionError:
            pass
        else:
            (folder / "probe").unlink()
            pytest.skip("running as root: a read-only folder does not stop writes here")
        with pytest.raises(PermissionError, match=r"locked/out\.png"):
            save_image(image, folder / "out.png")
        _only(folder)
    finally:
        folder.chmod(0o700)


def test_unwritable_target_gives_a_real_os_error(tmp_path, image):
    # A folder that is a file: a real OSError even as root.
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match=r"file/out\.png"):
        save_image(image, tmp_path / "file" / "out.png")
    with pytest.raises(FileNotFoundError, match=r"missing/out\.png"):
        save_image(image, tmp_path / "missing" / "out.png")
    _only(tmp_path, "file")


@pytest.mark.parametrize(
    ("suffix", "sneak"),
    [
        (".jpg", {"comment": "Jane Doe"}),
        (".jpg", {"exif": b"Exif\0\0MM\0*\0\0\0\x08\0\0"}),
        (".png", {"pnginfo": "text"}),
        (".png", {"exif": b"Exif\0\0MM\0*\0\0\0\x08\0\0"}),
    ],
)
def test_an_encoder_that_sneaks_in_metadata_fails_the_export(tmp_path, monkeypatch, sneak, suffix):
    if sneak.get("pnginfo") == "text":
        sneak = {"pnginfo": PngImagePlugin.PngInfo()}
        sneak["pnginfo"].add_text("Author", "Jane Doe")
    real_save = Image.Image.save

    def leaky_save(self, fp, format=None, **options):
        real_save(self, fp, format=format, **{**options, **sneak})

    monkeypatch.setattr(Image.Image, "save", leaky_save)
    pixels = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ExportError, match=rf"out\{suffix}: the written file failed its check"):
        save_image(pixels, tmp_path / f"out{suffix}")
    _only(tmp_path)


def test_other_pixels_read_back_fail_the_export(tmp_path, monkeypatch, image):
    real_imwrite = tifffile.imwrite
    monkeypatch.setattr(tifffile, "imwrite", lambda f, data, **kw: real_imwrite(f, data ^ 1, **kw))
    with pytest.raises(ExportError, match="pixels read back differ"):
        save_image(image, tmp_path / "out.tif")
    _only(tmp_path)


def test_a_crash_in_the_read_back_leaves_nothing(tmp_path, monkeypatch, image):
    def crash(path):
        raise MemoryError  # anything, not only our own checks

    monkeypatch.setattr(check_module, "_check_clean", crash)
    with pytest.raises(ExportError, match="could not be read back"):
        save_image(image, tmp_path / "out.png")
    _only(tmp_path)

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(check_module, "_check_clean", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_image(image, tmp_path / "out.png")
    _only(tmp_path)


def test_a_target_that_appears_meanwhile_is_not_replaced(tmp_path, monkeypatch, image):
    real_verify = export_module.verify_written

    def slow_verify(tmp, fmt, pixels, icc, target):
        target.write_bytes(b"someone else's")
        real_verify(tmp, fmt, pixels, icc, target)

    monkeypatch.setattr(export_module, "verify_written", slow_verify)
    with pytest.raises(ExportError, match="already exists"):
        save_image(image, tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes() == b"someone else's"
    _only(tmp_path, "out.png")


def test_the_folder_is_flushed_after_the_rename(tmp_path, monkeypatch, image):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_mode), real_fsync(fd))
    )
    save_image(image, tmp_path / "out.png")
    assert [stat.S_ISREG(m) for m in synced] == [True, False]
    assert stat.S_ISDIR(synced[-1]) or os.name != "posix"
