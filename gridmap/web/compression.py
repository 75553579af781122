"""Pages and JSON answers gzipped for clients that accept it (``COMPRESS``, on by default).

A response hook compresses a whole body the app has made, when all of these hold:

- the client accepts gzip (``Accept-Encoding``, quality above 0);
- its type is text (HTML, JSON, XML, CSS, JavaScript, plain text);
- it has at least :data:`MIN_BYTES` (a smaller one gains less than gzip's overhead);
- it is a whole body: not streamed, not a file passed through, not a 206 part
  (nor an answer to a request with ``Range``), not a 1xx, 204 or 304;
- it has no ``Content-Encoding`` yet (the assets come gzipped already) and no
  ``Cache-Control: no-transform``.

Every response of a type and size that would be compressed says ``Vary:
Accept-Encoding``, whether this client got gzip or not, so a cache keeps the two
apart. ``Content-Length`` is the compressed length (also for HEAD, which answers
what GET would); a strong ETag becomes weak (the bytes differ, the content not).

BREACH: a compressed answer that holds a secret *and* text an attacker chose leaks
the secret through its length, one guessed character at a time. The secret our
pages hold is the CSRF token, and it is masked afresh in every response
(``security.csrf_token``), so there is nothing stable to guess. Session ids travel
only in cookies (headers are not compressed over HTTP/1.1). See docs/performance.md.
"""

import gzip

from flask import request

MIN_BYTES = 1024
LEVEL = 6  # zlib's default: within 2 % of 9 on our pages, at half the CPU
TEXT_TYPES = frozenset(("text/html", "text/plain", "text/css", "text/javascript", "text/xml",
                        "application/json", "application/xml", "application/javascript",
                        "application/geo+json", "image/svg+xml"))
NO_BODY = frozenset((204, 206, 304))


def accepts_gzip(req):
    """Whether the request's ``Accept-Encoding`` takes gzip (``gzip`` or ``*``, q > 0)."""
    return req.accept_encodings.quality("gzip") > 0


def _compressible(response):
    if (response.direct_passthrough or response.is_streamed or response.status_code < 200
            or response.status_code in NO_BODY or "Content-Encoding" in response.headers
            or "Content-Range" in response.headers or "Range" in request.headers
            or response.mimetype not in TEXT_TYPES
            or "no-transform" in response.headers.get("Cache-Control", "")):
        return False
    return response.calculate_content_length() >= MIN_BYTES


def compress(response):
    """The response hook: gzip ``response``'s body in place if it should be (see above)."""
    if not _compressible(response):
        return response
    response.vary.add("Accept-Encoding")
    if accepts_gzip(request):
        response.set_data(gzip.compress(response.get_data(), LEVEL, mtime=0))
        response.headers["Content-Encoding"] = "gzip"
        etag, weak = response.get_etag()
        if etag and not weak:
            response.set_etag(etag, weak=True)
    return response


def init_app(app):
    """Register right after ``durability``: this hook runs before it (hooks run in
    reverse), so compression overlaps the request's fsync, and after all the others."""
    if app.config["COMPRESS"]:
        app.after_request(compress)
