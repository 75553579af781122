"""One error hierarchy for the whole package.

Every error carries an HTTP status and a message meant for users (Chinese
first, English after). Web handlers render it as JSON under ``/api/`` and as
an HTML page elsewhere; the CLI prints it and exits non-zero.
"""


class GridmapError(Exception):
    """Base class of all gridmap errors.

    Parameters
    ----------
    message : str
        Text shown to the user; names the bad value and what is allowed.
    field : str, optional
        The input field at fault, if any.
    detail : dict, optional
        Extra machine-readable facts added to the JSON error body.
    """

    status = 500
    code = "internal_error"

    def __init__(self, message, *, field=None, detail=None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail or {}

    def to_dict(self):
        body = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.detail)
        return body


class ConfigError(GridmapError):
    """Bad configuration or a missing/invalid data file at startup."""

    code = "config_error"


class BadInput(GridmapError, ValueError):
    """A request or argument value that is not allowed (HTTP 400)."""

    status = 400
    code = "bad_input"


class BadCoordinate(BadInput):
    """A coordinate that is not a finite number in range."""

    code = "bad_coordinate"


class InvalidBoundary(GridmapError):
    """A grid file that cannot be used as a partition (HTTP 422)."""

    status = 422
    code = "invalid_boundary"


class OutsideServiceArea(GridmapError):
    """A point farther from every grid than the snapping tolerance (HTTP 422)."""

    status = 422
    code = "outside_service_area"


class NotFound(GridmapError, LookupError):
    status = 404
    code = "not_found"


class Forbidden(GridmapError):
    status = 403
    code = "forbidden"


class Conflict(GridmapError):
    """A change that clashes with stored data, e.g. a username already taken (HTTP 409)."""

    status = 409
    code = "conflict"


class RateLimited(GridmapError):
    """Too many attempts; ``detail["retry_after_s"]`` says when to come back (HTTP 429)."""

    status = 429
    code = "rate_limited"


class DiskFull(GridmapError):
    """A write refused because the data folder's disk has no room (HTTP 503).

    Nothing was written (or what was is cut off again); reads go on, and writes
    work again as soon as there is room. ``detail["retry_after_s"]`` says when
    to try again.
    """

    status = 503
    code = "disk_full"

    def __init__(self, what):
        super().__init__(f"服务器磁盘已满，{what[0]}未能保存，请稍后再试 / the server's disk is full: "
                         f"{what[1]} could not be saved, try again later",
                         detail={"retry_after_s": 60})
