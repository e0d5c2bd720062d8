"""What the export tests share: file digests, and exiftool's view of a file."""

import hashlib
import json
import shutil
import subprocess

import pytest


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
