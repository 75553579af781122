"""Test images made with Pillow (nothing shipped), a JPEG marker reader, and the
kill -9 child that saves photos and prints each acknowledged id."""

import io
import struct
import sys
import zlib

import numpy as np
from PIL import Image

RED, BLUE, GREEN, YELLOW = (220, 20, 20), (20, 20, 220), (20, 200, 20), (230, 230, 20)
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
       b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
       b'exif:GPSLatitude="29,31.86N"/></rdf:RDF></x:xmpmeta>')


def encode(img, fmt="JPEG", **params):
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def halves(width=300, height=200):
    """Left half red, right half blue: shows which way an image was turned."""
    img = Image.new("RGB", (width, height), RED)
    img.paste(BLUE, (width // 2, 0, width, height))
    return img


def quadrants(width=300, height=200):
    """Red, blue above green, yellow: shows turns and mirrors."""
    img = Image.new("RGB", (width, height), RED)
    img.paste(BLUE, (width // 2, 0, width, height // 2))
    img.paste(GREEN, (0, height // 2, width // 2, height))
    img.paste(YELLOW, (width // 2, height // 2, width, height))
    return img


def phone_jpeg(orientation=6, **params):
    """A JPEG as a phone writes it: EXIF with orientation, maker and GPS (29.53 N,
    108.78 E), an XMP packet with GPS again, and a comment. Stored sideways
    (300 x 200, red left) with orientation 6: upright it is 200 x 300, red on top."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model-X"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (29.0, 31.0, 52.0), 3: "E", 4: (108.0, 46.0, 32.0)})
    return encode(params.pop("image", None) or halves(), exif=exif, xmp=XMP, comment=b"home of the reporter", quality=95,
                  **params)


def noise_jpeg(seed, size=(48, 32)):
    """A small JPEG that differs for every seed."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels, "RGB"), quality=90)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width, height, bit_depth=1, colour=0):
    """A PNG whose header announces ``width`` x ``height`` with a few bytes of pixels:
    a decompression bomb's header, a few hundred bytes long. Decoding it fails."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))


def with_jpeg_size(data, width, height):
    """``data`` (a JPEG) with its frame header (SOF) claiming another size."""
    out = bytearray(data)
    for offset, marker in jpeg_segments(data):
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", out, offset + 5, height, width)
            return bytes(out)
    raise AssertionError("no SOF marker")


def jpeg_segments(data):
    """(offset, marker) of every marker segment in a JPEG, scans included."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    found, i = [(0, 0xD8)], 2
    while i < len(data):
        assert data[i] == 0xFF, f"lost sync at {i}"
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        found.append((i, marker))
        if marker == 0xD9:
            return found
        if 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker == 0xDA:  # entropy-coded data: runs to the next marker but RSTn / stuffing
            while not (data[i] == 0xFF and data[i + 1] not in (0x00, *range(0xD0, 0xD8))):
                i += 1
    raise AssertionError("no EOI marker")


def put_forever(data_dir, run):
    """kill -9 test body: save distinct photos (run ``run``), print each id once saved."""
    from gridmap.photos import PhotoStore

    store = PhotoStore(data_dir)
    print("ready", flush=True)
    for i in range(10**9):
        ref = store.put(noise_jpeg([run, i]))
        print(ref.id, flush=True)


if __name__ == "__main__":
    put_forever(sys.argv[1], int(sys.argv[2]))
