"""JSON answers written by orjson: the same values as Flask's provider, faster.

orjson writes what ``json`` would for the values our views answer with (dicts
with text keys, lists, text, numbers, None, booleans), with dates, UUIDs,
decimals, dataclasses and ``__html__`` objects handed to Flask's own
conversion. It refuses integers beyond 64 bits, keys that are not text and
lone surrogates; those answers fall back to Flask's provider unchanged.
Some numbers are spelt differently (``1e-7`` for ``1e-07``) but mean the same,
and NaN becomes ``null`` (``json`` would write ``NaN``, which is not JSON).
"""

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class AnswerJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, answering through orjson where it can."""

    ensure_ascii = False
    sort_keys = False  # answers keep their natural order (ids first)

    def response(self, *args, **kwargs):
        if (self.compact is False or (self.compact is None and self._app.debug)
                or self.sort_keys or self.ensure_ascii):  # indented for people, or asked for
            return super().response(*args, **kwargs)
        try:
            body = orjson.dumps(self._prepare_response_obj(args, kwargs), default=self.default,
                                option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: see the module notes
            return super().response(*args, **kwargs)
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)
