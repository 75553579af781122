"""The console's query-string reader: every parameter to the store's CaseFilter, the
caller's grids as a bound, and a BadInput naming each bad value."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridmap.cases.filters import (MAX_WORDS, parse_bbox, parse_filter, parse_page, parse_step,
                                   parse_zoom)
from gridmap.config import load_config
from gridmap.datafolder import load_community
from gridmap.errors import BadInput, Forbidden

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    return load_community(load_config({"DATA_DIR": str(tmp_path_factory.mktemp("f") / "data")}))


def test_every_parameter_reaches_the_filter(community):
    codes = community.grids.codes
    flt = parse_filter({"grid": f"{codes[2]},{codes[0]}", "state": "reported,signed",
                        "category": "07,06", "overdue": "handle", "since": "2026-03-01",
                        "until": "2026-03-05", "q": "  路灯   不亮 ", "bbox": "108.7,29.5,108.9,29.6"},
                       community, NOW)
    assert flt.grid_codes == (codes[0], codes[2]) and flt.states == ("reported", "signed")
    assert flt.categories == ("06", "07") and flt.overdue == "handle" and flt.now == NOW
    assert flt.since == datetime(2026, 3, 1, tzinfo=NOW.tzinfo)
    assert flt.until == datetime(2026, 3, 6, tzinfo=NOW.tzinfo)  # the 5th included
    assert flt.text == "路灯 不亮" and flt.bbox == (108.7, 29.5, 108.9, 29.6)
    empty = parse_filter({}, community, NOW)
    assert (empty.grid_codes, empty.states, empty.categories, empty.since, empty.until,
            empty.bbox, empty.text, empty.overdue) == (None,) * 8


def test_the_callers_grids_bound_the_filter(community):
    own, other = community.grids.codes[6], community.grids.codes[7]
    assert parse_filter({}, community, NOW, [own]).grid_codes == (own,)
    assert parse_filter({"grid": own}, community, NOW, [own, other]).grid_codes == (own,)
    assert parse_filter({}, community, NOW, []).grid_codes == ()  # no grid: no case
    with pytest.raises(Forbidden):
        parse_filter({"grid": other}, community, NOW, [own])
    with pytest.raises(Forbidden):
        parse_filter({"grid": f"{own},{other}"}, community, NOW, [own])


@pytest.mark.parametrize("args, field", [
    ({"grid": "1"}, "grid"), ({"state": "open"}, "state"), ({"category": "6"}, "category"),
    ({"overdue": "yes"}, "overdue"), ({"since": "3/1"}, "since"),
    ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
    ({"since": "2026-03-02T10:00", "until": "2026-03-02T10:00"}, "until"),
    ({"q": "字" * (MAX_WORDS + 1)}, "q"), ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "1,2,3,x"}, "bbox"), ({"bbox": "3,2,1,4"}, "bbox"), ({"bbox": "1,4,3,2"}, "bbox"),
    ({"bbox": "-181,0,1,1"}, "bbox"), ({"bbox": "0,0,1,91"}, "bbox"), ({"bbox": "inf,0,1,1"}, "bbox"),
    ({"bbox": "0,0,180.5,1"}, "bbox"), ({"bbox": "-180.5,0,1,1"}, "bbox"),
    ({"bbox": "0,0,1,90.5"}, "bbox"), ({"bbox": "0,-90.5,1,1"}, "bbox")])
def test_a_bad_value_names_its_parameter(community, args, field):
    with pytest.raises(BadInput) as caught:
        parse_filter(args, community, NOW)
    assert caught.value.field == field
    shown = caught.value.render("en")
    for value in args.values():  # and says what it got (short values whole)
        assert value[:20] in shown or len(value) > 100, shown


def test_well_formed_codes_of_removed_categories_and_all_ones_grids_pass(community):
    codes = community.grids.codes
    assert parse_filter({"category": "42"}, community, NOW).categories == ("42",)
    assert parse_filter({"grid": f"{codes[6]},{codes[7]}"}, community, NOW,
                        [codes[6], codes[7]]).grid_codes == (codes[6], codes[7])


def test_a_point_is_a_box_and_words_up_to_the_limit_pass(community):
    assert parse_bbox({"bbox": "108.8,29.5,108.8,29.5"}) == (108.8, 29.5, 108.8, 29.5)
    assert parse_bbox({"bbox": "-180,-90,180,90"}) == (-180, -90, 180, 90)
    assert parse_filter({"q": "字" * MAX_WORDS}, community, NOW).text == "字" * MAX_WORDS
    assert parse_filter({"since": "2026-03-01T10:00+00:00"}, community, NOW).since == \
        datetime(2026, 3, 1, 18, tzinfo=NOW.tzinfo)
    assert parse_filter({"until": "2026-03-01T10:00"}, community, NOW).until == \
        datetime(2026, 3, 1, 10, tzinfo=NOW.tzinfo)  # a time as it is, not a day more
    assert parse_filter({"since": "2026-03-01", "until": "2026-03-01"}, community,
                        NOW).until - timedelta(days=1) == datetime(2026, 3, 1, tzinfo=NOW.tzinfo)


def test_page_sort_zoom_and_step(community):
    assert parse_page({}) == ("-reported_at", 1, 50)
    assert parse_page({}, 20) == ("-reported_at", 1, 20)
    assert parse_page({"sort": "case_no", "page": "3", "per_page": "200"}) == ("case_no", 3, 200)
    assert parse_zoom({}) == 15 and parse_zoom({"zoom": "0"}) == 0 and parse_zoom({"zoom": "22"}) == 22
    assert parse_step({}) == "day" and parse_step({"step": "week"}) == "week"
    for call, args, field in ((parse_page, {"sort": "grid"}, "sort"),
                              (parse_page, {"per_page": "201"}, "per_page"),
                              (parse_page, {"page": "0"}, "page"),
                              (parse_zoom, {"zoom": "23"}, "zoom"),
                              (parse_zoom, {"zoom": "-1"}, "zoom"),
                              (parse_step, {"step": "month"}, "step")):
        with pytest.raises(BadInput) as caught:
            call(args)
        assert caught.value.field == field and args[field] in caught.value.render("en")
    with pytest.raises(BadInput) as caught:
        parse_page({"sort": "grid"})
    assert "-reported_at" in caught.value.render("en")  # the orders it may be
    with pytest.raises(BadInput) as caught:
        parse_step({"step": "month"})
    assert "week" in caught.value.render("en")


def test_words_split_on_any_white_space_and_fold_case(community):
    flt = parse_filter({"q": " 路灯\u3000不亮\tLAMP-Post\n Straße "}, community, NOW)
    assert flt.text == "路灯 不亮 LAMP-Post Straße"
    assert flt.words == ("路灯", "不亮", "lamp-post", "strasse")
    assert parse_filter({"q": "\u3000 \t"}, community, NOW).text is None
