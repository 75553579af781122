"""One error hierarchy for the whole package.

Every error carries an HTTP status, a stable machine-readable ``code`` and a
message from the ``errors`` catalog (``gridmap/locale/<lang>/LC_MESSAGES/
errors.po``): a message id and JSON-safe parameters, not a built string, so
the web layer renders it in the language of the page or of the API request
(:meth:`GridmapError.render`). ``str(exc)``, for logs and the CLI, gives
Chinese, then English. Web handlers render errors as JSON under ``/api/``
and ``/open311/`` and as an HTML page elsewhere; the CLI prints them and
exits non-zero.

How to raise one (docs/translating.md): add the message to both catalogs,
then ``raise BadInput("error.workflow.note_too_long", field="note", limit=500, got=n)``.
A message may embed another error's message as a parameter (``Msg`` values
render in the same language): ``ConfigError("error.file_problem",
path=str(path), problem=exc.msg)``.
"""

import math

from gridmap.i18n import DEFAULT_LANG, LANGS, gettext, messages


def _json_safe(value):
    """``value`` as a JSON-safe parameter: messages, strings, numbers, lists; others shown as text."""
    if isinstance(value, Msg) or value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict) and value and set(value) <= set(LANGS):
        return {lang: str(text) for lang, text in value.items()}
    return str(value)


def _render_value(value, lang):
    if isinstance(value, Msg):
        return value.render(lang)
    if isinstance(value, dict):  # data in each language, such as a category's names
        return value.get(lang) or value.get(DEFAULT_LANG) or next(iter(value.values()))
    if isinstance(value, list):
        if value and all(isinstance(item, Msg) for item in value):
            return "\n  - ".join(item.render(lang) for item in value)
        return ", ".join(str(_render_value(item, lang)) for item in value)
    return value


class Msg:
    """A catalog message: a stable id and its parameters, rendered in any language.

    Parameters
    ----------
    id : str
        The message id in the ``errors`` catalog (``"error.workflow.note_too_long"``).
        An id missing from the catalog raises ``KeyError`` at once.
    **params
        Values for the message's ``{fields}``: strings, numbers, lists, other
        ``Msg`` (rendered in the same language), or data named in each
        language (``{"zh": "噪声扰民", "en": "Noise"}``; Chinese where the
        other is missing); anything else is kept as ``str(value)``.

    Examples
    --------
    >>> Msg("error.missing_field", name="lon").render("en")
    'missing field lon'
    >>> Msg("error.missing_field", name="lon").render("zh")
    '缺少字段 lon'
    """

    __slots__ = ("id", "params")

    def __init__(self, id, /, **params):
        if id not in messages(DEFAULT_LANG):
            raise KeyError(f"message {id!r} is missing from the catalog")
        self.id = id
        self.params = {name: _json_safe(value) for name, value in params.items()}

    def render(self, lang):
        """The text in ``lang`` (``zh`` or ``en``; others read Chinese).

        A list parameter shows as its items joined by ", "; a list of messages
        (sentences) shows one a line, each after "  - ".
        """
        return gettext(lang, self.id).format(**{  # always a template: {{ }} for braces
            name: _render_value(value, lang) for name, value in self.params.items()})

    def to_json(self):
        """``{"id", "params"}``, nested messages likewise: for clients that localise themselves."""
        return {"id": self.id, "params": {
            name: _value_json(value) for name, value in self.params.items()}}

    def bilingual(self):
        """Chinese, then English (for logs and the console, never for a page)."""
        zh, en = (self.render(lang) for lang in LANGS)
        return zh if zh == en else f"{zh} / {en}"

    def __eq__(self, other):
        return isinstance(other, Msg) and (self.id, self.params) == (other.id, other.params)

    __hash__ = None

    def __repr__(self):
        params = "".join(f", {name}={value!r}" for name, value in self.params.items())
        return f"Msg({self.id!r}{params})"


def _value_json(value):
    if isinstance(value, Msg):
        return value.to_json()
    if isinstance(value, list):
        return [_value_json(item) for item in value]
    return value


class GridmapError(Exception):
    """Base class of all gridmap errors.

    Parameters
    ----------
    message : str or Msg
        The catalog message id (its parameters as keyword arguments), or a
        ready :class:`Msg`. The message names the bad value and what is allowed.
    field : str, optional
        The input field at fault, if any; the message may use it as ``{field}``.
    detail : dict, optional
        Extra machine-readable facts added to the JSON error body.
    **params
        The message's parameters (see :class:`Msg`).
    """

    status = 500
    code = "internal_error"

    def __init__(self, message, /, *, field=None, detail=None, **params):
        if isinstance(message, Msg):
            if params:
                raise TypeError("give the parameters to Msg, not to the error")
            self.msg = message
        else:
            self.msg = Msg(message, **({"field": field} if field is not None else {}), **params)
        super().__init__(self.msg.id)
        self.field = field
        self.detail = detail or {}

    def render(self, lang):
        """The message in ``lang`` (``zh`` or ``en``)."""
        return self.msg.render(lang)

    def __str__(self):
        return self.msg.bilingual()

    def to_dict(self, lang=DEFAULT_LANG):
        """The JSON error body: ``error`` (the code), ``message`` in ``lang``, ``field``,
        ``message_id`` and ``params`` (to localise on the client), then ``detail``."""
        body = {"error": self.code, "message": self.render(lang)}
        if self.field is not None:
            body["field"] = self.field
        body["message_id"] = self.msg.id
        body["params"] = self.msg.to_json()["params"]
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


class TopologyRefused(GridmapError):
    """A grid edit refused because it would break the coverage (HTTP 422).

    The message id is ``error.topology.<reason>``; ``reason`` (``overlap``,
    ``area_changed``, ``not_neighbours`` …) is also in the JSON body.
    """

    status = 422
    code = "topology_refused"

    def __init__(self, message_id, /, **params):
        self.reason = message_id.rsplit(".", 1)[-1]
        super().__init__(message_id, detail={"reason": self.reason}, **params)


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
    work again as soon as there is room. ``what`` is the id of the message
    naming what was not saved (``"error.what.case"``); ``detail["retry_after_s"]``
    says when to try again.
    """

    status = 503
    code = "disk_full"

    def __init__(self, what):
        super().__init__("error.disk_full", what=Msg(what), detail={"retry_after_s": 60})
