"""GridmapError: a catalog message rendered in the language asked, nested messages too."""

import json

import pytest
from one_language import both

from gridmap.errors import BadInput, ConfigError, DiskFull, Msg, NotFound
from gridmap.geo.coords import validate_lonlat


def test_an_error_renders_in_each_language_and_str_gives_chinese_then_english():
    error = BadInput("error.workflow.note_too_long", limit=2000, got=2001, field="note")
    zh, en = both(error)
    assert zh == "说明最长 2000 字，收到 2001"
    assert en == "note is at most 2000 characters, got 2001"
    assert str(error) == f"{zh} / {en}"
    assert error.code == "bad_input" and error.field == "note"


def test_the_json_body_keeps_the_code_and_carries_the_id_and_parameters():
    error = NotFound("error.cases.no_such_case", case="abc")
    body = error.to_dict("en")
    assert body == {"error": "not_found", "message": "no such case: abc",
                    "message_id": "error.cases.no_such_case", "params": {"case": "abc"}}
    assert error.to_dict("zh")["message"] == "没有该案件：abc"
    json.dumps(body, allow_nan=False)


def test_parameters_are_made_json_safe():
    with pytest.raises(BadInput) as info:
        validate_lonlat(float("nan"), 29.5)
    params = info.value.to_dict()["params"]
    json.dumps(params, allow_nan=False)
    assert params["value"] == "nan" and params["name"] == {"id": "error.name.lon", "params": {}}


def test_a_nested_message_renders_in_the_same_language():
    inner = BadInput("error.calendar.bad_field", value="'x'", field="timezone",
                     expected=Msg("error.calendar.expect.zone_name"))
    outer = ConfigError("error.file_problem", path="/data/calendar.json", problem=inner.msg)
    zh, en = both(outer)
    assert zh == "/data/calendar.json：日历字段 timezone 的值 'x' 无效，应为IANA 时区名（如 Asia/Shanghai）"
    assert en == ("/data/calendar.json: calendar field timezone: got 'x', expected an IANA zone "
                  "name such as 'Asia/Shanghai'")
    assert outer.to_dict()["params"]["problem"]["id"] == "error.calendar.bad_field"


def test_data_named_in_each_language_shows_in_the_language_asked():
    error = BadInput("error.categories.retired", code="06", allowed=["05", "07"],
                     name={"zh": "噪声扰民", "en": "Noise"}, field="category")
    zh, en = both(error)
    assert "噪声扰民" in zh and "Noise" in en


def test_disk_full_names_what_was_not_saved_in_each_language():
    zh, en = both(DiskFull("error.what.photo"))
    assert "照片未能保存" in zh and "the photo could not be saved" in en
