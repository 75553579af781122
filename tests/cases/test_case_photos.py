"""A case's photo entries and who sees them (gridmap.cases.photos)."""

import pytest

from gridmap.cases.photos import (MAX_PHOTOS, add_photos, check_count, may_see_photo,
                                  referenced_ids, set_public, visible_photos)
from gridmap.errors import BadInput, NotFound
from gridmap.photos import PhotoRef


def ref(n):
    return PhotoRef(f"{n:064x}", 2048, 1536, 320, 240)


def test_photos_are_added_private_with_their_stage_and_size():
    entries = add_photos(None, [ref(1), ref(2)], "report")
    entries = add_photos(entries, [ref(3)], "reply")
    assert entries == [
        {"id": f"{1:064x}", "stage": "report", "public": False, "width": 2048, "height": 1536},
        {"id": f"{2:064x}", "stage": "report", "public": False, "width": 2048, "height": 1536},
        {"id": f"{3:064x}", "stage": "reply", "public": False, "width": 2048, "height": 1536}]


def test_a_photo_the_case_has_keeps_its_entry():
    entries = set_public(add_photos([], [ref(1)], "report"), f"{1:064x}", True)
    again = add_photos(entries, [ref(1), ref(1), ref(2)], "reply")
    assert [(e["id"][-1], e["stage"], e["public"]) for e in again] == [
        ("1", "report", True), ("2", "reply", False)]


def test_a_new_photo_sent_twice_at_once_gets_one_entry():
    assert [e["id"][-1] for e in add_photos([], [ref(2), ref(2)], "report")] == ["2"]


def test_adding_changes_nothing_it_was_given():
    entries = add_photos([], [ref(1)], "report")
    add_photos(entries, [ref(2)], "reply")
    set_public(entries, f"{1:064x}", True)
    visible_photos(entries, True)[0]["public"] = True
    assert entries == add_photos([], [ref(1)], "report")


@pytest.mark.parametrize("stage", ["report", "reply"])
def test_at_most_three_photos_a_report_or_a_reply(stage):
    assert MAX_PHOTOS[stage] == 3
    check_count(3, stage)
    with pytest.raises(BadInput) as err:
        add_photos([], [ref(i) for i in range(4)], stage)
    assert err.value.field == "photos" and err.value.detail == {"limit": 3, "count": 4}
    assert "at most 3 photos, got 4" in str(err.value)


def test_an_unknown_stage_is_a_programming_error():
    with pytest.raises(ValueError, match="stage"):
        check_count(1, "rate")


def test_the_public_sees_only_photos_staff_marked_public():
    entries = add_photos([], [ref(1), ref(2)], "report")
    entries = add_photos(entries, [ref(3)], "reply")
    entries = set_public(entries, f"{3:064x}", True)
    assert [e["id"][-1] for e in visible_photos(entries, sees_all=False)] == ["3"]
    assert [e["id"][-1] for e in visible_photos(entries, sees_all=True)] == ["1", "2", "3"]
    assert may_see_photo(entries, f"{3:064x}", False) and may_see_photo(entries, f"{1:064x}", True)
    assert not may_see_photo(entries, f"{1:064x}", False)
    assert not may_see_photo(entries, f"{9:064x}", True)  # not this case's
    hidden = set_public(entries, f"{3:064x}", False)
    assert visible_photos(hidden, False) == [] and visible_photos(None, True) == []


def test_marking_a_photo_the_case_lacks_is_a_404_and_public_must_be_a_boolean():
    entries = add_photos([], [ref(1)], "report")
    with pytest.raises(NotFound) as missing:
        set_public(entries, f"{2:064x}", True)
    assert missing.value.field == "photo" and str(missing.value).count(f"{2:064x}") == 2
    long = "a" * 80 + "b" * 20  # an id from a client is echoed cut to 80 characters
    with pytest.raises(NotFound) as cut:
        set_public(entries, long, True)
    assert str(cut.value).count("a" * 80) == 2 and "b" not in str(cut.value)
    with pytest.raises(BadInput) as err:
        set_public(entries, f"{1:064x}", "yes")
    assert err.value.field == "public" and "'yes'" in str(err.value)


def test_referenced_ids_are_every_photo_of_every_case():
    cases = [{"properties": {"photos": add_photos([], [ref(1), ref(2)], "report")}},
             {"properties": {}}, {"properties": {"photos": add_photos([], [ref(2), ref(3)], "reply")}}]
    assert referenced_ids(cases) == {f"{n:064x}" for n in (1, 2, 3)}
