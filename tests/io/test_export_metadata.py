"""No metadata survives an export: inputs rich in it, and a strict check after writing."""

import io
import struct
import zlib

import numpy as np
import pytest
import tifffile
from export_helpers import digest, exiftool, leftovers, needs_exiftool
from PIL import ExifTags, Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from napari_fuzzy_people.io import ExportError, export_path, save_image
from napari_fuzzy_people.io.export import check_clean

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
