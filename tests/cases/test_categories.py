"""Categories: the file's checks, retired categories, and what a removed one shows."""

import math

import pytest

from gridmap.cases.categories import (check_offered, dump_categories, in_use, make_category,
                                      parse_categories, removed_category)
from gridmap.errors import BadInput, ConfigError

LIMITS = {"sign": 1, "handle": 4, "verify": 8}


def entries(*retired_codes):
    return [{"code": code, "name": f"类别{code}", "name_en": f"Category {code}",
             "limits_hours": dict(LIMITS), **({"retired": True} if code in retired_codes else {})}
            for code in ("05", "06", "07")]


def test_retired_is_read_and_written_back_only_when_true():
    categories = parse_categories(entries("06"))
    assert [c.retired for c in categories.values()] == [False, True, False]
    assert list(in_use(categories)) == ["05", "07"]
    assert dump_categories(categories.values()) == entries("06")


@pytest.mark.parametrize("value", [1, 0, "true", None, []])
def test_retired_must_be_true_or_false(value):
    bad = entries()
    bad[1]["retired"] = value
    with pytest.raises(ConfigError, match="retired must be true or false"):
        parse_categories(bad)


def test_a_file_with_every_category_retired_is_refused():
    with pytest.raises(ConfigError, match="no category in use"):
        parse_categories(entries("05", "06", "07"))
    assert list(parse_categories(entries("05", "07"))) == ["05", "06", "07"]


def test_new_reports_may_have_only_a_category_in_use():
    categories = parse_categories(entries("06"))
    assert check_offered("05", categories) is categories["05"]
    with pytest.raises(BadInput) as retired:
        check_offered("06", categories, "service_code")
    assert retired.value.field == "service_code"
    assert "service_code 06（类别06）已停用，可用：05, 07" in str(retired.value)
    assert "service_code 06 (Category 06) is retired; allowed: 05, 07" in str(retired.value)
    for code in ("99", 6, None):
        with pytest.raises(BadInput, match=f"unknown category {str(code)!r}; allowed: 05, 07"):
            check_offered(code, categories)


def test_an_editor_may_retire_a_category():
    assert make_category("15", "噪声扰民", "Noise", LIMITS, retired=True).retired
    assert not make_category("15", "噪声扰民", "Noise", LIMITS).retired


def test_a_removed_category_names_its_code_and_has_no_limits():
    gone = removed_category("06")
    assert (gone.code, gone.name, gone.name_en, gone.retired) == (
        "06", "类别 06（已删除）", "category 06 (removed)", True)
    assert all(math.isnan(h) for h in (gone.sign_hours, gone.handle_hours, gone.verify_hours))
