"""Serves npm-installed front-end files under ``/assets/<version>/`` (Flask owns ``/static/``).

The files are read once, when the app is made (:class:`AssetFiles`): ``version`` is
the first 8 hex digits of a SHA-256 over every allow-listed file, so a URL names
exactly the bytes it serves and may be cached for a year as ``immutable``. One
version for the whole set (not one a file) keeps the relative URLs in Leaflet's
stylesheet (``images/layers.png``) pointing at the same set, unedited. A URL with
another version (the files changed since the page was made, or a made-up one) is a
404, never the current files: an immutable URL must not name other bytes, and
pages are never cached, so a reload asks for the current version.

JavaScript and CSS are compressed (Brotli and gzip, at their best levels) once per
process (with ``COMPRESS`` on), and sent in the form the client rates highest
(``Vary: Accept-Encoding``); each form has its own strong ETag, and
``If-None-Match`` gets a 304.
"""

import hashlib
from pathlib import Path
from typing import NamedTuple

from flask import Blueprint, abort, current_app, request

from gridmap.maps.assets import ALLOWED_FILES, OWN_FILES
from gridmap.web.access import ANYONE, allow
from gridmap.web.compression import BEST, best_encoding
from gridmap.web.security import cacheable

bp = Blueprint("assets", __name__, url_prefix="/assets")
IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".png": "image/png"}
COMPRESSED_TYPES = (".js", ".css")  # PNG is compressed already


#: (SHA-256 of a file, encoding) -> its compressed bytes: Brotli's best level takes a
#: third of a second for Leaflet, so each process does it once, however many apps it makes
_compressed = {}


class Asset(NamedTuple):
    body: bytes
    encoded: dict  # encoding -> compressed body; empty: always sent as it is
    mimetype: str
    etag: str  # of ``body``; a compressed form's is ``etag + "." + encoding``


class AssetFiles:
    """The allow-listed files of ``folder`` (and gridmap's own, :data:`OWN_FILES`), read
    (and compressed if ``compress``) once."""

    def __init__(self, folder, compress=True):
        digest = hashlib.sha256()
        self.files = {}
        for name in sorted(ALLOWED_FILES):
            body = (OWN_FILES.get(name) or Path(folder) / name).read_bytes()
            digest.update(f"{name}\0{len(body)}\0".encode())
            digest.update(body)
            suffix, own = Path(name).suffix, hashlib.sha256(body).hexdigest()
            encoded = {}
            if compress and suffix in COMPRESSED_TYPES:
                for encoding, encode in BEST.items():
                    if (own, encoding) not in _compressed:
                        _compressed[own, encoding] = encode(body)
                    encoded[encoding] = _compressed[own, encoding]
            self.files[name] = Asset(body, encoded, TYPES[suffix], own[:20])
        self.version = digest.hexdigest()[:8]

    def get(self, version, name):
        """The :class:`Asset` at ``/assets/<version>/<name>``, or None."""
        return self.files.get(name) if version == self.version else None


def assets_url():
    """Where this process serves its assets: ``/assets/<version>``."""
    return f"{bp.url_prefix}/{current_app.extensions['gridmap.assets'].version}"


@bp.get("/<version>/<path:filename>")
@allow(ANYONE)
@cacheable
def asset(version, filename):
    """An allow-listed asset file of the current version: 200 (or 304), or 404 for
    anything else.

    The path is compared whole with :data:`ALLOWED_FILES` before any file is
    looked at, so no spelling of a path (``..``, ``%2e``, ``%2f``, ``\\``,
    NUL) reaches another file; the files were read at start.
    """
    found = current_app.extensions["gridmap.assets"].get(version, filename)
    if found is None:
        abort(404)
    encoding = best_encoding(request, tuple(found.encoded))
    if encoding:
        response = current_app.response_class(found.encoded[encoding], mimetype=found.mimetype)
        response.headers["Content-Encoding"] = encoding
        response.set_etag(f"{found.etag}.{encoding}")
    else:
        response = current_app.response_class(found.body, mimetype=found.mimetype)
        response.set_etag(found.etag)
    if found.encoded:
        response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = IMMUTABLE
    return response.make_conditional(request)
