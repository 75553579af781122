"""JSON answers by orjson carry the same values as Flask's own provider."""

import dataclasses
import json
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from gridmap.web.jsonanswer import AnswerJSONProvider


@dataclasses.dataclass
class Point:
    lon: float
    lat: float


def answers(value):
    fast, plain = Flask("fast"), Flask("plain")
    fast.json = AnswerJSONProvider(fast)
    plain.json = DefaultJSONProvider(plain)
    plain.json.ensure_ascii, plain.json.sort_keys = False, False
    with fast.app_context():
        ours = fast.json.response(value)
    with plain.app_context():
        theirs = plain.json.response(value)
    assert ours.mimetype == theirs.mimetype == "application/json"
    return ours.get_data(), theirs.get_data()


@pytest.mark.parametrize("value", [
    {"case_id": "abc", "grid": {"code": "A01", "name": "路东一网格"}, "deadlines": [1, 2.5, None],
     "ok": True, "n": -7, "z": 0.1 + 0.2, "tiny": 5e-324, "big": 1.7976931348623157e308},
    ["井盖缺失 <b>&amp;</b> \u2028 \"quoted\" \\ \n\t", "🚧", ""],
    {"when": datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc), "day": date(2026, 11, 28),
     "id": uuid.UUID(int=7), "amount": Decimal("1.10"), "html": Markup("<i>x</i>"),
     "point": Point(108.77, 29.53)},
    {"huge": 2**70, "nested": {"deep": [[[{"x": 1}]]]}},  # beyond 64 bits: Flask's provider
    {1: "a key that is not text"},  # likewise
    [], {}, None, 0, "text",
])
def test_the_same_values_in_the_same_order(value):
    ours, theirs = answers(value)
    assert ours.endswith(b"\n") and b"\n" not in ours[:-1]
    assert json.loads(ours) == json.loads(theirs)
    if isinstance(value, dict):  # the same key order
        assert list(json.loads(ours)) == list(json.loads(theirs))


def test_plain_answers_are_written_by_orjson_and_compact():
    ours, theirs = answers({"a": [1, 2], "b": "路"})
    assert ours == theirs == '{"a":[1,2],"b":"路"}\n'.encode()
    assert answers([1e16, 1e-7, 0.1]) == (b"[1e+16,1e-7,0.1]\n", b"[1e+16,1e-07,0.1]\n")


def test_lone_surrogates_fail_as_they_did():  # (no answer carries them: input refuses them)
    for provider in (AnswerJSONProvider, DefaultJSONProvider):
        app = Flask("x")
        app.json = provider(app)
        app.json.ensure_ascii = False
        with app.app_context(), pytest.raises(UnicodeEncodeError):
            app.json.response("lone \ud800 surrogate")


def test_nan_is_null_not_invalid_json():
    assert answers({"x": float("nan")})[0] == b'{"x":null}\n'


def test_debug_answers_stay_indented():
    app = Flask("debug")
    app.json = AnswerJSONProvider(app)
    app.debug = True
    with app.app_context():
        assert app.json.response({"a": 1}).get_data() == b'{\n  "a": 1\n}\n'


def test_settings_asked_for_are_kept():
    app = Flask("settings")
    app.json = AnswerJSONProvider(app)
    app.json.sort_keys, app.json.ensure_ascii = True, True
    with app.app_context():
        assert app.json.response({"b": "路", "a": 1}).get_data() == b'{"a":1,"b":"\\u8def"}\n'
