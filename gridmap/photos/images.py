"""Turning uploaded bytes into a clean photo: checked, decoded, re-encoded.

Every upload is decoded with Pillow and written anew as a baseline-free
(progressive) JPEG, so nothing of the original file reaches anyone: the EXIF
orientation is applied to the pixels first, then every piece of metadata
(EXIF with GPS, XMP, IPTC, comments, ICC profile) is left behind; a colour
profile is converted to sRGB before it goes. The longest side is capped at
:data:`MAX_SIDE` and a thumbnail of :data:`THUMB_SIDE` is made.

What comes in is judged by its bytes alone, never by a file name or a
declared type: JPEG, PNG and WebP are taken (an animated one gives its first
frame); GIF, HEIC/AVIF, BMP, TIFF, SVG and PDF are named and refused (415);
anything else is "not an image" (400). The pixel count is checked from the
header before any pixel is decoded (a decompression bomb is a 413), and a
file that ends early is refused (Pillow's ``LOAD_TRUNCATED_IMAGES`` stays
False), never padded with grey. Nothing here touches the disk.
"""

import hashlib
import io
import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from gridmap.errors import BadInput

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024  #: an upload larger than this is refused unread
MAX_SIDE = 2048  #: longest side of the stored photo, in pixels
THUMB_SIDE = 320  #: longest side of its thumbnail
#: Pixels a header may announce. A JPEG is decoded at 1/2, 1/4 or 1/8 scale when
#: that still covers MAX_SIDE, so 50 MP (a 48 MP phone photo) peaks at ~85 MB; PNG
#: and WebP decode whole, so they stop at 4096 x 3072 (a 12 MP photo; ~190 MB peak).
MAX_PIXELS = {"JPEG": 50_000_000, "PNG": 4096 * 3072, "WEBP": 4096 * 3072}
QUALITY, THUMB_QUALITY = 82, 75
BACKGROUND = (255, 255, 255)  # what transparent pixels become
SRGB = ImageCms.createProfile("sRGB")
ORIENTATION = 0x0112  # EXIF tag
TRANSPOSE = dict(zip(range(2, 9), (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_180,
                                    Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.TRANSPOSE,
                                    Image.Transpose.ROTATE_270, Image.Transpose.TRANSVERSE,
                                    Image.Transpose.ROTATE_90)))

#: Types we recognise but do not take: (test on the first bytes, name).
UNSUPPORTED = (
    (lambda b: b[:6] in (b"GIF87a", b"GIF89a"), "GIF"),
    (lambda b: b[4:8] == b"ftyp" and b[8:12] in (b"heic", b"heix", b"hevc", b"hevx", b"heim",
                                                 b"heis", b"mif1", b"msf1"), "HEIC"),
    (lambda b: b[4:8] == b"ftyp" and b[8:12] in (b"avif", b"avis"), "AVIF"),
    (lambda b: b[:2] == b"BM" and b[14:18] in (b"\x0c\0\0\0", b"(\0\0\0", b"@\0\0\0",
                                              b"l\0\0\0", b"|\0\0\0"), "BMP"),
    (lambda b: b[:4] in (b"II*\0", b"MM\0*"), "TIFF"),
    (lambda b: b[:2] == b"\xff\x0a" or b[4:12] == b"JXL \r\n\x87\n", "JPEG XL"),
    (lambda b: b[4:12] == b"jP  \r\n\x87\n" or b[:4] == b"\xff\x4f\xff\x51", "JPEG 2000"),
    (lambda b: b"<svg" in b[:1024].lower(), "SVG"),
    (lambda b: b[:5] == b"%PDF-", "PDF"),
)


class BadPhoto(BadInput):
    """An upload that cannot be taken as a photo (4xx); ``field`` names the upload."""

    code = "bad_photo"


class NotAnImage(BadPhoto):
    """Bytes that are no image at all, e.g. a text file named ``.jpg`` (400)."""

    code = "not_an_image"


class UnsupportedPhotoType(BadPhoto):
    """An image of a type we do not take, e.g. GIF or HEIC (415); ``detail["type"]``."""

    status = 415
    code = "unsupported_photo_type"


class PhotoTooLarge(BadPhoto):
    """More bytes than :data:`MAX_BYTES` (413); ``detail`` has the limit."""

    status = 413
    code = "photo_too_large"


class PhotoTooManyPixels(BadPhoto):
    """A header announcing more pixels than :data:`MAX_PIXELS` allows: a
    decompression bomb, or just a huge image (413)."""

    status = 413
    code = "photo_too_many_pixels"


class DamagedPhoto(BadPhoto):
    """A JPEG, PNG or WebP that cannot be decoded whole: truncated or corrupt (400)."""

    code = "damaged_photo"


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo ready to store: clean JPEG bytes and their thumbnail.

    ``id`` is the SHA-256 of ``jpeg`` in hex: the same photo always gets the same id.
    """

    id: str
    jpeg: bytes
    thumb: bytes
    width: int
    height: int
    thumb_width: int
    thumb_height: int


def sniff(data, field="photo"):
    """The Pillow format name of ``data`` ("JPEG", "PNG", "WEBP") from its first bytes.

    Raises
    ------
    UnsupportedPhotoType
        A known image type we do not take (415), named.
    NotAnImage
        Anything else (400).
    """
    head = bytes(data[:1024])
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    for test, name in UNSUPPORTED:
        if test(head):
            raise UnsupportedPhotoType("error.photos.unsupported_type", type=name, field=field, detail={"type": name})
    raise NotAnImage("error.photos.not_an_image", field=field)


def process(data, field="photo"):
    """Check, decode and re-encode one upload.

    Parameters
    ----------
    data : bytes
        The uploaded file, whole. Nothing about it but its bytes is used.
    field : str
        The upload's name in errors (e.g. ``"photos[2]"``).

    Returns
    -------
    ProcessedPhoto

    Raises
    ------
    BadPhoto
        A subclass naming the problem: :class:`PhotoTooLarge`, :class:`NotAnImage`,
        :class:`UnsupportedPhotoType`, :class:`PhotoTooManyPixels`, :class:`DamagedPhoto`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BadInput("error.photos.not_a_file", field=field)
    if len(data) > MAX_BYTES:
        raise PhotoTooLarge(
            "error.photos.too_large", size_mb=len(data) / 2**20, limit_mb=MAX_BYTES // 2**20,
            field=field, detail={"size_bytes": len(data), "limit_bytes": MAX_BYTES})
    if not data:
        raise NotAnImage("error.photos.empty", field=field)
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched it on: we would take grey padding
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    kind = sniff(data, field)
    image = _decode(bytes(data), kind, field)
    full = _fit(image, MAX_SIDE)
    thumb = _fit(full, THUMB_SIDE)
    jpeg = _encode(full, QUALITY)
    return ProcessedPhoto(hashlib.sha256(jpeg).hexdigest(), jpeg, _encode(thumb, THUMB_QUALITY),
                          full.width, full.height, thumb.width, thumb.height)


def _decode(data, kind, field):
    """Open (header only), check the pixel count, decode whole, turn upright, make sRGB."""
    try:
        img = Image.open(io.BytesIO(data), formats=[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limits, far above ours (its warning is an error under -W error)
        raise _too_many_pixels(kind, None, field) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _damaged(kind, field, exc) from exc
    if img.width * img.height > MAX_PIXELS[kind]:
        img.close()
        raise _too_many_pixels(kind, img.size, field)
    try:
        with img:
            if kind == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale while that covers MAX_SIDE
                scale = min(1, MAX_SIDE / max(img.size))
                img.draft("RGB", (max(1, int(img.width * scale)), max(1, int(img.height * scale))))
            img.load()
            return _to_srgb(_upright(img))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _damaged(kind, field, exc) from exc


def _upright(img):
    """``img`` turned as its EXIF orientation says (2-8: mirrored and/or turned).

    Not ``ImageOps.exif_transpose``: it also rewrites the EXIF we drop anyway, and
    a damaged EXIF block makes that raise. An orientation we cannot read leaves
    the image as stored."""
    orientation = img.getexif().get(ORIENTATION, 1)
    if orientation == 1:
        return img
    method = TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    if method is None:
        log.info("ignored an EXIF orientation that is not 1-8: %r", orientation)
        return img
    return img.transpose(method)


def _damaged(kind, field, exc):
    log.info("refused a damaged %s upload: %s", kind, exc)
    return DamagedPhoto("error.photos.damaged", type=kind, field=field, detail={"type": kind})


def _too_many_pixels(kind, size, field):
    """The 413 for a header announcing too many pixels; ``size`` is None when Pillow's
    own bomb check (far above our limit) refused the file before telling the size."""
    limit = MAX_PIXELS[kind]
    mp = f"{limit / 1e6:.1f}"
    if size is None:
        return PhotoTooManyPixels("error.photos.far_too_many_pixels", megapixels=mp, type=kind,
                                  field=field, detail={"limit_pixels": limit})
    return PhotoTooManyPixels("error.photos.too_many_pixels", width=size[0], height=size[1],
                              megapixels=mp, type=kind, field=field,
                              detail={"width": size[0], "height": size[1], "limit_pixels": limit})


def _to_srgb(img):
    """RGB pixels in sRGB, without transparency, and no metadata at all."""
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "CMYK", "L"):
        try:
            img = ImageCms.profileToProfile(img, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                            SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            log.warning("ignored an unreadable colour profile (taken as sRGB): %s", exc)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: keep the top 8 bits
        img = Image.fromarray((np.clip(np.asarray(img), 0, 65535) >> 8).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, BACKGROUND)
        img.paste(rgba, mask=rgba.getchannel("A"))
    clean = img.convert("RGB") if img.mode != "RGB" else img  # ours alone: no copy needed
    clean.info = {}
    return clean


def _fit(img, side):
    """``img`` scaled down so its longest side is at most ``side`` (never enlarged)."""
    scale = side / max(img.size)
    if scale >= 1:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(img, quality):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
    return buf.getvalue()
