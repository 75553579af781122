"""Routes that take photos: their bigger body limit, and reading their uploads.

Every request body is capped at the app's ``MAX_CONTENT_LENGTH`` (256 KiB: a
report is text) except multipart bodies to views marked :func:`takes_photos`,
which may carry three photos of 10 MB each (:data:`UPLOAD_BODY_BYTES`). The
limit follows the view the URL leads to and the body's type, both in Flask
(:class:`Request`) and in the server, which keeps only that much of a body
(:func:`body_limit`): everywhere else a bigger body is still dropped unread and
answered with a 413.
"""

from flask import Request as FlaskRequest, current_app
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header

from gridmap.cases.photos import MAX_PHOTOS
from gridmap.errors import BadInput
from gridmap.photos.images import MAX_BYTES

FIELD = "photos"  #: the form field of the uploads
MULTIPART = "multipart/form-data"
#: photos of one report or reply at their largest, plus 1 MiB for the form's text
UPLOAD_BODY_BYTES = max(MAX_PHOTOS.values()) * MAX_BYTES + (1 << 20)


def takes_photos(view):
    """Mark a view whose requests may carry photos (multipart, up to ``UPLOAD_BODY_BYTES``)."""
    view.max_body_bytes = UPLOAD_BODY_BYTES
    return view


def _limit_of(app, endpoint, mimetype):
    view = app.view_functions.get(endpoint)
    limit = getattr(view, "max_body_bytes", None) if mimetype == MULTIPART else None
    return limit or app.config["MAX_CONTENT_LENGTH"]


class Request(FlaskRequest):
    """Flask's request with the body limit of the view it is routed to."""

    @property
    def max_content_length(self):
        return _limit_of(current_app, self.endpoint, self.mimetype)


def body_limit(app, method, path, content_type):
    """The body bytes the server keeps for a request to ``path`` (URL-decoded, no query)
    with the ``Content-Type`` header ``content_type`` (or None): the limit of the view it
    is routed to for that type, the app's ``MAX_CONTENT_LENGTH`` if none."""
    mimetype = parse_options_header(content_type or "")[0].lower()
    if mimetype != MULTIPART:  # only uploads differ: no URL match for every other request
        return app.config["MAX_CONTENT_LENGTH"]
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method)
    except HTTPException:  # 404, 405, a redirect: the app answers without reading the body
        return app.config["MAX_CONTENT_LENGTH"]
    return _limit_of(app, endpoint, mimetype)


def uploaded_photos(files):
    """The bytes of each ``photos`` upload of a multipart request, in order; a file
    under any other name is a 400. A file input left empty (no name, no bytes, as a
    browser sends it) is no upload."""
    unknown = sorted(set(files) - {FIELD})
    if unknown:
        raise BadInput("error.body.unknown_file_fields", names=", ".join(unknown)[:200],
                       field=unknown[0][:64])
    photos = []
    for upload in files.getlist(FIELD):
        data = upload.read()
        if data or upload.filename:
            photos.append(data)
    return photos
