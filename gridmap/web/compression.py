"""Pages and JSON answers compressed for clients that accept it (``COMPRESS``, on by default).

Brotli or gzip, whichever the client's ``Accept-Encoding`` rates higher (Brotli on a
tie: about 10 % smaller on our pages, 13 % on Leaflet). A response hook compresses a
whole body the app has made, when all of these hold:

- the client accepts one of them (quality above 0; ``*`` counts);
- its type is text (HTML, JSON, XML, CSS, JavaScript, plain text);
- it has at least :data:`MIN_BYTES` (a smaller one gains less than the overhead);
- it is a whole body: not streamed, not a file passed through, not a 206 part
  (nor an answer to a request with ``Range``), not a 1xx, 204 or 304;
- it has no ``Content-Encoding`` yet (the assets come compressed already) and no
  ``Cache-Control: no-transform``.

Every response of a type and size that would be compressed says ``Vary:
Accept-Encoding``, whether this client got it compressed or not, so a cache keeps
the forms apart. ``Content-Length`` is the compressed length (also for HEAD, which
answers what GET would); a strong ETag becomes weak (the bytes differ, the content not).

BREACH: a compressed answer that holds a secret *and* text an attacker chose leaks
the secret through its length, one guessed character at a time. The secret our
pages hold is the CSRF token, and it is masked afresh in every response
(``security.csrf_token``), so there is nothing stable to guess. Session ids travel
only in cookies (headers are not compressed over HTTP/1.1). See docs/performance.md.
"""

import gzip

import brotli
from flask import request

MIN_BYTES = 1024
TEXT_TYPES = frozenset(("text/html", "text/plain", "text/css", "text/javascript", "text/xml",
                        "application/json", "application/xml", "application/javascript",
                        "application/geo+json", "image/svg+xml"))
NO_BODY = frozenset((204, 206, 304))
#: per answer: fast levels (Brotli 5: 1.5 ms for the report page, within 15 % of its best)
ENCODERS = {"br": lambda data: brotli.compress(data, quality=5),
            "gzip": lambda data: gzip.compress(data, 6, mtime=0)}
#: once per file at start: the best levels
BEST = {"br": lambda data: brotli.compress(data, quality=11),
        "gzip": lambda data: gzip.compress(data, 9, mtime=0)}


def best_encoding(req, offered=("br", "gzip")):
    """The encoding of ``offered`` the request's ``Accept-Encoding`` rates highest (the
    first of ``offered`` on a tie), or None if it takes none of them."""
    rated = [(req.accept_encodings.quality(name), -i, name) for i, name in enumerate(offered)]
    quality, _, name = max(rated, default=(0, 0, None))
    return name if quality > 0 else None


def _compressible(response):
    if (response.direct_passthrough or response.is_streamed or response.status_code < 200
            or response.status_code in NO_BODY or "Content-Encoding" in response.headers
            or "Content-Range" in response.headers or "Range" in request.headers
            or response.mimetype not in TEXT_TYPES
            or "no-transform" in response.headers.get("Cache-Control", "")):
        return False
    return response.calculate_content_length() >= MIN_BYTES


def compress(response):
    """The response hook: compress ``response``'s body in place if it should be (see above)."""
    if not _compressible(response):
        return response
    response.vary.add("Accept-Encoding")
    encoding = best_encoding(request)
    if encoding:
        response.set_data(ENCODERS[encoding](response.get_data()))
        response.headers["Content-Encoding"] = encoding
        etag, weak = response.get_etag()
        if etag and not weak:
            response.set_etag(etag, weak=True)
    return response


def init_app(app):
    """Register right after ``durability``: this hook runs before it (hooks run in
    reverse), so compression overlaps the request's fsync, and after all the others."""
    if app.config["COMPRESS"]:
        app.after_request(compress)
