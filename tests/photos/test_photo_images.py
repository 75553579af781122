"""Decoding and re-encoding uploads (gridmap.photos.images), on real Pillow-made files."""

import hashlib
import io
import random
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile
from photomaker import (BLUE, GREEN, RED, YELLOW, encode, quadrants, halves, jpeg_segments, noise_jpeg, phone_jpeg,
                        png_chunk, png_header_only, with_jpeg_size)

from gridmap.errors import BadInput
from gridmap.photos import images
from gridmap.photos.images import (MAX_BYTES, BadPhoto, DamagedPhoto, NotAnImage, PhotoTooLarge,
                                   PhotoTooManyPixels, UnsupportedPhotoType, process)

APP0, COM = 0xE0, 0xFE
METADATA = {m for m in range(0xE1, 0xF0)} | {COM}  # APP1 (EXIF, XMP) … APP15, comments


def near(pixel, colour, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


# -- what comes out ------------------------------------------------------------------------

def test_a_phone_photo_is_turned_upright_and_loses_all_its_metadata():
    data = phone_jpeg(orientation=6)
    with Image.open(io.BytesIO(data)) as original:  # it has them all
        assert original.getexif().get_ifd(0x8825)[2] == (29.0, 31.0, 52.0)
        assert {"exif", "xmp", "comment"} <= set(original.info)
    assert {0xE1, COM} <= {m for _, m in jpeg_segments(data)}
    assert b"PhoneMaker" in data and b"29,31.86N" in data
    photo = process(data)
    for out in (photo.jpeg, photo.thumb):
        markers = {m for _, m in jpeg_segments(out)}
        assert not markers & METADATA, f"metadata segments left: {markers & METADATA}"
        assert b"PhoneMaker" not in out and b"29,31.86N" not in out and b"Exif" not in out
        assert b"home of the reporter" not in out
        with Image.open(io.BytesIO(out)) as img:
            assert img.format == "JPEG" and img.mode == "RGB"
            assert not img.getexif() and not img.getexif().get_ifd(0x8825)
            assert not {"exif", "xmp", "icc_profile", "comment", "photoshop"} & set(img.info)
    # stored 300 x 200 with red on the left; orientation 6 turns it clockwise: red on top
    assert (photo.width, photo.height) == (200, 300)
    with Image.open(io.BytesIO(photo.jpeg)) as img:
        assert img.size == (200, 300)
        assert near(img.getpixel((100, 20)), RED) and near(img.getpixel((100, 280)), BLUE)
    assert photo.id == hashlib.sha256(photo.jpeg).hexdigest()


@pytest.mark.parametrize("orientation, corners", [  # top left, top right once upright
    (1, (RED, BLUE)), (2, (BLUE, RED)), (3, (YELLOW, GREEN)), (4, (GREEN, YELLOW)),
    (5, (RED, GREEN)), (6, (GREEN, RED)), (7, (YELLOW, BLUE)), (8, (BLUE, YELLOW)),
    (9, (RED, BLUE)), (0, (RED, BLUE))])  # not an orientation: as stored
def test_every_orientation_is_applied(orientation, corners):
    photo = process(phone_jpeg(orientation=orientation, image=quadrants()))
    with Image.open(io.BytesIO(photo.jpeg)) as img:
        assert img.size == ((300, 200) if orientation in (0, 1, 2, 3, 4, 9) else (200, 300))
        top_left, top_right = img.getpixel((10, 10)), img.getpixel((img.width - 10, 10))
        assert near(top_left, corners[0]) and near(top_right, corners[1]), (top_left, top_right)


def test_a_damaged_exif_block_is_still_turned_and_dropped_not_a_500():
    # the Model tag (0x0110, text) renumbered as WhitePoint (0x013E, numbers): Pillow's
    # exif_transpose raised TypeError rewriting it (found by fuzzing)
    data = phone_jpeg(orientation=6)
    damaged = data.replace(b"\x01\x10\x00\x02", b"\x01\x3e\x00\x02", 1)
    assert damaged != data
    photo = process(damaged)
    assert (photo.width, photo.height) == (200, 300) and b"PhoneMaker" not in photo.jpeg


def test_mangled_files_give_a_photo_or_a_named_4xx_never_anything_else():
    rng = random.Random(12)
    seeds = [phone_jpeg(), encode(quadrants(60, 40).convert("P"), "PNG", transparency=0),
             encode(quadrants(60, 40), "WEBP"), encode(quadrants(60, 40).convert("RGBA"), "PNG")]
    outcomes = set()
    for data in seeds:
        for _ in range(60):
            mangled = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(mangled))
                if rng.random() < 0.7:
                    mangled[pos] = rng.randrange(256)
                else:
                    del mangled[pos:pos + rng.randint(1, 20)]
            try:
                process(bytes(mangled))
                outcomes.add("ok")
            except BadPhoto as err:
                assert 400 <= err.status < 500
                outcomes.add(err.code)
    assert {"ok", "damaged_photo"} <= outcomes


def test_the_longest_side_is_capped_and_a_thumbnail_made():
    photo = process(encode(halves(4000, 1000), quality=80))
    assert (photo.width, photo.height) == (2048, 512)
    assert (photo.thumb_width, photo.thumb_height) == (320, 80)
    with Image.open(io.BytesIO(photo.thumb)) as thumb:
        assert thumb.size == (320, 80) and near(thumb.getpixel((5, 40)), RED)
    tall = process(encode(halves(900, 3000), "PNG"))
    assert (tall.width, tall.height) == (614, 2048) and tall.thumb_height == 320


def test_a_small_photo_is_not_enlarged():
    photo = process(encode(halves(120, 80)))
    assert (photo.width, photo.height, photo.thumb_width, photo.thumb_height) == (120, 80, 120, 80)


def test_a_big_jpeg_is_decoded_at_reduced_scale_and_still_fills_the_cap():
    data = encode(halves(4200, 3150), quality=70)  # 13 MP
    assert images._decode(data, "JPEG", "photo").size == (2100, 1575)  # a quarter of the memory
    photo = process(data)
    assert (photo.width, photo.height) == (2048, 1536)
    with Image.open(io.BytesIO(photo.jpeg)) as img:
        assert near(img.getpixel((10, 700)), RED) and near(img.getpixel((2040, 700)), BLUE)


def test_the_same_upload_gives_the_same_id_and_another_one_another():
    assert process(noise_jpeg(1)).id == process(noise_jpeg(1)).id != process(noise_jpeg(2)).id


@pytest.mark.parametrize("fmt, mode", [("PNG", "RGBA"), ("PNG", "LA"), ("WEBP", "RGBA")])
def test_transparent_pixels_become_white(fmt, mode):
    img = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    img.paste((20, 20, 220, 255), (30, 0, 60, 40))
    photo = process(encode(img.convert(mode), fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    with Image.open(io.BytesIO(photo.jpeg)) as out:
        assert out.mode == "RGB"
        assert near(out.getpixel((5, 20)), (255, 255, 255))
        assert not near(out.getpixel((55, 20)), (255, 255, 255))


def test_a_palette_png_with_a_transparent_colour_becomes_white_there():
    img = Image.new("P", (40, 20), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img.paste(1, (20, 0, 40, 20))
    photo = process(encode(img, "PNG", transparency=0))
    with Image.open(io.BytesIO(photo.jpeg)) as out:
        assert near(out.getpixel((5, 10)), (255, 255, 255)) and near(out.getpixel((35, 10)), (200, 30, 30))


def test_cmyk_grey_and_16_bit_images_come_out_as_rgb_with_their_tones():
    cmyk = process(encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), quality=95))
    grey16 = process(encode(Image.new("I;16", (40, 40), 32768), "PNG"))
    grey = process(encode(Image.new("L", (40, 40), 128), "WEBP"))
    for photo, colour in ((cmyk, (255, 0, 0)), (grey16, (128, 128, 128)), (grey, (128, 128, 128))):
        with Image.open(io.BytesIO(photo.jpeg)) as out:
            assert out.mode == "RGB" and near(out.getpixel((20, 20)), colour, 12), out.getpixel((20, 20))


def test_a_colour_profile_is_applied_then_dropped():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for profile in (srgb, b"not an icc profile at all"):  # an unreadable one is taken as sRGB
        data = encode(halves(), icc_profile=profile)
        assert profile in data
        photo = process(data)
        assert profile not in photo.jpeg and 0xE2 not in {m for _, m in jpeg_segments(photo.jpeg)}
        with Image.open(io.BytesIO(photo.jpeg)) as out:
            assert near(out.getpixel((10, 10)), RED) and "icc_profile" not in out.info


def test_an_animated_webp_gives_its_first_frame():
    frames = [Image.new("RGB", (30, 30), c) for c in (RED, BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    with Image.open(io.BytesIO(process(data).jpeg)) as out:
        assert near(out.getpixel((15, 15)), RED)


# -- what is refused -----------------------------------------------------------------------

def refused(data, error, status, field="photos[1]"):
    with pytest.raises(error) as caught:
        process(data, field=field)
    err = caught.value
    assert err.status == status and err.field == field
    assert " / " in str(err) and err.to_dict()["error"] == err.code
    return err


@pytest.mark.parametrize("data", [b"this is a text file named photo.jpg\n" * 20, b"\0" * 100,
                                  b"<html><body>hi</body></html>", b"\xff\xd8"])
def test_a_file_that_is_no_image_is_a_400(data):
    err = refused(data, NotAnImage, 400)
    assert "not an image" in str(err) and err.code == "not_an_image"


def test_an_empty_file_is_a_400_naming_it():
    assert "empty" in str(refused(b"", NotAnImage, 400))


def test_something_that_is_not_bytes_is_a_400():
    with pytest.raises(BadInput) as err:
        process("a string", field="photos[0]")
    assert err.value.field == "photos[0]"


@pytest.mark.parametrize("make, name", [
    (lambda: encode(halves(), "GIF"), "GIF"),
    (lambda: encode(halves(), "BMP"), "BMP"),
    (lambda: encode(halves(), "TIFF"), "TIFF"),
    (lambda: b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 200, "HEIC"),
    (lambda: b"\0\0\0\x1cftypavif\0\0\0\0avifmif1" + b"\0" * 200, "AVIF"),
    (lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
])
def test_an_image_of_a_type_we_do_not_take_is_a_415_naming_it(make, name):
    err = refused(make(), UnsupportedPhotoType, 415)
    assert err.detail["type"] == name and name in str(err)


def test_a_file_over_the_byte_limit_is_a_413_before_anything_is_decoded():
    data = noise_jpeg(3) + b"\0" * (20 * 2**20)  # a real JPEG with 20 MB after it
    err = refused(data, PhotoTooLarge, 413)
    assert err.detail == {"size_bytes": len(data), "limit_bytes": MAX_BYTES}
    assert "20.0 MB" in str(err) and "10 MB" in str(err)
    process(noise_jpeg(3) + b"\0" * (MAX_BYTES - len(noise_jpeg(3))))  # exactly the limit is taken


def test_a_50000_x_50000_png_is_a_413_without_decoding_it():
    data = png_header_only(50_000, 50_000)
    assert len(data) < 200
    err = refused(data, PhotoTooManyPixels, 413)
    assert err.detail["limit_pixels"] == images.MAX_PIXELS["PNG"]
    assert "too many pixels" in str(err)


def test_a_header_in_pillows_warning_range_is_a_413_whatever_the_warning_filter():
    bomb = png_header_only(10_000, 10_000)  # 100 MP: Pillow warns, or raises under -W error
    with pytest.warns(Image.DecompressionBombWarning):
        refused(bomb, PhotoTooManyPixels, 413)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refused(bomb, PhotoTooManyPixels, 413)


def test_a_header_over_our_limit_but_under_pillows_is_a_413_naming_the_size():
    # 5000 x 5000 (25 MP) is under Pillow's own bomb limit: only our check stops it,
    # before decoding (the pixels here are garbage, so decoding would be a 400)
    err = refused(png_header_only(5000, 5000), PhotoTooManyPixels, 413)
    assert err.detail["width"] == 5000 and err.detail["height"] == 5000
    assert "5000 x 5000" in str(err) and "5000 × 5000" in str(err)
    big_jpeg = with_jpeg_size(noise_jpeg(4), 10_000, 6_000)  # 60 MP claimed
    assert refused(big_jpeg, PhotoTooManyPixels, 413).detail["limit_pixels"] == 50_000_000


def test_a_truncated_jpeg_is_a_400_not_grey_padding():
    data = encode(halves(400, 300), quality=90)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    for cut in (len(data) // 2, len(data) - 2):
        err = refused(data[:cut], DamagedPhoto, 400)
        assert "damaged or incomplete" in str(err) and err.detail["type"] == "JPEG"


def test_a_truncated_or_corrupt_png_and_webp_are_400s():
    png = encode(Image.fromarray(np.arange(90_000, dtype=np.uint8).reshape(300, 300)), "PNG")
    refused(png[:len(png) // 2], DamagedPhoto, 400)
    ihdr = png[8:33]
    refused(b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IDAT", b"not zlib") + png_chunk(b"IEND", b""),
            DamagedPhoto, 400)
    webp = encode(halves(), "WEBP")
    refused(webp[:len(webp) // 2], DamagedPhoto, 400)
    refused(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, DamagedPhoto, 400)  # right magic, no header


def test_switching_on_pillows_truncated_loading_is_refused(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process(noise_jpeg(5))


def test_the_photo_core_imports_no_flask():
    code = ("import sys, gridmap.photos, gridmap.cases.photos; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'flask'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
