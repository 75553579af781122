"""The case workflow: every (state, action, role) combination, the verifier rule,
and that a refused transition changes nothing."""

import copy
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from gridmap.cases.workflow import (STATES, TRANSITIONS, Actor, allowed_actions, apply_action)
from gridmap.errors import BadInput, Conflict, Forbidden

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=CST)
GRID, OTHER = "500114005001007", "500114005001008"
STAFF = Actor("grid_staff", "zhang", frozenset({GRID}))
STAFF2 = Actor("grid_staff", "li", frozenset({GRID}))
OUTSIDER = Actor("grid_staff", "wang", frozenset({OTHER}))
DISPATCH = Actor("dispatcher", "chen")
RESIDENT = Actor("resident")
PARAMS = {"forward": {"to_grid": OTHER}, "cancel": {"reason": "duplicate"}, "rate": {"rating": 4}}


def case(state="reported", **extra):
    return {"grid_code": GRID, "state": state, "history": [], **extra}


def act(props, action, actor, note="说明", **params):
    return apply_action(props, action, actor, NOW, note=note, **{**PARAMS.get(action, {}), **params})


@pytest.mark.parametrize("state, action, actor", list(itertools.product(
    STATES, TRANSITIONS, [STAFF, OUTSIDER, DISPATCH, RESIDENT])))
def test_every_combination_is_allowed_or_refused_without_change(state, action, actor):
    sources, target, roles = TRANSITIONS[action]
    props = case(state)
    before = copy.deepcopy(props)
    allowed = (actor.role in roles and state in sources
               and (actor is not OUTSIDER))
    if allowed:
        new = act(props, action, actor)
        assert new["state"] == target
        assert new["history"][-1]["action"] == action and new["history"][-1]["from"] == state
        assert action in allowed_actions(props, actor)
    else:
        with pytest.raises((Forbidden, Conflict)) as info:
            act(props, action, actor)
        wrong_role = actor.role not in roles or actor is OUTSIDER
        assert info.value.status == (403 if wrong_role else 409)
        assert action not in allowed_actions(props, actor)
    assert props == before


def test_the_full_loop_records_every_event():
    props = case()
    for action, actor in [("sign", STAFF), ("start", STAFF), ("reply", STAFF),
                          ("close", STAFF2), ("rate", RESIDENT)]:
        props = act(props, action, actor)
    assert props["state"] == "rated" and props["rating"] == 4
    assert [e["action"] for e in props["history"]] == ["sign", "start", "reply", "close", "rate"]
    assert [e["actor"] for e in props["history"]] == ["zhang", "zhang", "zhang", "li", None]
    assert props["handlers"] == ["zhang"] and props["reply"] == "说明"
    assert props["times"]["close"] == NOW.isoformat(timespec="seconds")


def test_the_handler_may_not_close_their_own_case():
    props = act(act(act(case(), "sign", STAFF), "start", STAFF), "reply", STAFF)
    with pytest.raises(Forbidden, match="handler"):
        act(props, "close", STAFF)
    with pytest.raises(Forbidden):
        act(props, "close", Actor("dispatcher", "zhang"))  # same person, other role
    assert act(props, "close", DISPATCH)["state"] == "closed"


def test_reopen_counts_rework():
    props = case("closed", handlers=["zhang"])
    props = act(props, "reopen", DISPATCH)
    assert props["state"] == "handling" and props["rework_count"] == 1
    props = act(act(props, "reply", STAFF), "close", DISPATCH)
    assert act(props, "reopen", DISPATCH)["rework_count"] == 2


def test_forward_moves_the_case_and_needs_a_target():
    props = act(case("signed"), "forward", STAFF)
    assert props["grid_code"] == OTHER and props["state"] == "reported"
    assert props["history"][-1]["from_grid"] == GRID and props["forward_count"] == 1
    with pytest.raises(BadInput, match="to_grid"):
        apply_action(case(), "forward", STAFF, NOW, note="x")
    with pytest.raises(BadInput, match="already"):
        apply_action(case(), "forward", STAFF, NOW, note="x", to_grid=GRID)
    person = apply_action(case(), "forward", STAFF, NOW, note="x", to_person="p0702")
    assert person["assignee"] == "p0702" and person["grid_code"] == GRID


@pytest.mark.parametrize("action, note, params, field", [
    ("reply", None, {}, "note"), ("reply", "  ", {}, "note"), ("reply", 5, {}, "note"),
    ("reply", "x" * 2001, {}, "note"), ("cancel", "重复", {"reason": "boring"}, "reason"),
    ("rate", None, {"rating": 6}, "rating"), ("rate", None, {"rating": True}, "rating"),
    ("rate", None, {"rating": "5"}, "rating"), ("dance", None, {}, "action"),
])
def test_bad_input_names_the_field(action, note, params, field):
    state = {"reply": "handling", "cancel": "reported", "rate": "closed"}.get(action, "reported")
    actor = RESIDENT if action == "rate" else STAFF
    with pytest.raises(BadInput) as info:
        apply_action(case(state), action, actor, NOW, note=note, **params)
    assert info.value.field == field
