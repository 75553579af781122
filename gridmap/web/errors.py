"""One error handler: JSON under /api/ and /open311/, an HTML page elsewhere.

A :class:`~gridmap.errors.GridmapError` is rendered in the request's language
(``g.lang``: the page's under pages, the one asked for under the API, see
:mod:`gridmap.web.api_lang`).
"""

import logging

from flask import current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from gridmap.errors import GridmapError
from gridmap.server.accesslog import mask
from gridmap.web.api_lang import is_api
from gridmap.web.i18n import choose_lang, t

log = logging.getLogger(__name__)
#: HTTP errors with a message of our own (``http_<status>`` in the catalogs), in the
#: request's language; others keep werkzeug's description
HTTP_MESSAGES = (400, 404, 405, 413)


def request_lang():
    """The language of this request's answer (set before the views; asked again for
    errors raised before that)."""
    return getattr(g, "lang", None) or choose_lang()


def _render(status, body):
    if is_api():
        response = jsonify(body)
    else:
        response = current_app.make_response(
            render_template("errors/error.html", status=status, body=body))
    response.status_code = status
    if "retry_after_s" in body:
        response.headers["Retry-After"] = str(body["retry_after_s"])
    return response


def error_response(exc):
    """The answer to a GridmapError: JSON or an HTML page, with its status."""
    if exc.status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    return _render(exc.status, exc.to_dict(request_lang()))


def init_app(app):
    app.errorhandler(GridmapError)(error_response)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        message = t(f"http_{exc.code}") if exc.code in HTTP_MESSAGES else exc.description
        return _render(exc.code, {"error": exc.name.lower().replace(" ", "_"),
                                  "message": message})

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error on %s %s", request.method, mask(request.path))
        return _render(500, {"error": "internal_error",
                             "message": t("http_500")})
