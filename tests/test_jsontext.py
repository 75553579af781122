"""The JSON parser gives the standard library's answers, fast or not."""

import json

import pytest

from gridmap.jsontext import loads, parse


@pytest.mark.parametrize("text", [
    '{"lon": 108.77, "lat": 29.53, "d": "井盖 <b>"}', "[1, 2.5, null, true]", '"x"',
    '{"n": 123456789012345678901234567890}',  # beyond 64 bits: orjson would give a float
    '[18446744073709551615, -9223372036854775808, 9223372036854775807]',
    '[1e400, -1e400, 5e-324, 0.1, 1.7976931348623157e308, 108.7712345678901]',
    '{"s": "\\ud800"}',  # an escaped lone surrogate: likewise
    '{"x": NaN}', "-Infinity", '{"phone": "1234567890123456789012", "n": 12}',
    '{"d": "井盖缺失 \\u4e95 1234567890123456789"}',
])
def test_same_value_as_the_standard_library(text):
    for data in (text, text.encode()):
        value = loads(data)
        assert repr(value) == repr(json.loads(text))


@pytest.mark.parametrize("text", ["", "{", "{'a': 1}", "[1,]", "nul", "\xff", "1 2"])
def test_not_json_is_a_value_error(text):
    with pytest.raises(ValueError):
        loads(text)


@pytest.mark.parametrize("text, strict", [
    ('{"d": "井盖 \\ud83d\\ude00"}', True),  # a surrogate pair is fine
    ('{"d": "\\ud800"}', False), (b'{"d": "\xed\xa0\x80"}', False),  # lone: json reads them
    ('{"n": 123456789012345678901234567890}', False),
])
def test_parse_says_whether_the_text_was_read_strictly(text, strict):
    value, was_strict = parse(text)
    assert was_strict is strict
    assert value == loads(text)
