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


#: docs/workflow.md's table, written out again by hand (never read from TRANSITIONS):
#: action -> (states it starts from, state it leads to, roles that may do it)
PERMISSIONS = {
    "sign": ({"reported"}, "signed", {"grid_staff", "dispatcher"}),
    "start": ({"signed"}, "handling", {"grid_staff", "dispatcher"}),
    "reply": ({"handling"}, "replied", {"grid_staff", "dispatcher"}),
    "close": ({"replied"}, "closed", {"grid_staff", "dispatcher"}),
    "rate": ({"closed"}, "rated", {"resident"}),
    "forward": ({"reported", "signed", "handling"}, "reported", {"grid_staff", "dispatcher"}),
    "reopen": ({"closed", "rated"}, "handling", {"dispatcher"}),
    "cancel": ({"reported", "signed", "handling"}, "cancelled", {"grid_staff", "dispatcher"}),
}
ALL_STATES = ["reported", "signed", "handling", "replied", "closed", "rated", "cancelled"]


def test_the_states_and_actions_are_those_of_the_table():
    assert list(STATES) == ALL_STATES
    assert sorted(TRANSITIONS) == sorted(PERMISSIONS)


@pytest.mark.parametrize("state, action, actor", list(itertools.product(
    ALL_STATES, PERMISSIONS, [STAFF, OUTSIDER, DISPATCH, RESIDENT])))
def test_who_may_do_what_from_which_state_is_the_documented_table(state, action, actor):
    sources, target, roles = PERMISSIONS[action]
    props = case(state)
    before = copy.deepcopy(props)
    wrong_person = actor.role not in roles or (actor is OUTSIDER)
    if not wrong_person and state in sources:
        new = act(props, action, actor)
        assert new["state"] == target
        event = new["history"][-1]
        assert (event["action"], event["from"], event["to"]) == (action, state, target)
        assert (event["actor"], event["role"]) == (actor.username, actor.role)
        assert event["at"] == new["times"][action] == NOW.isoformat(timespec="seconds")
        assert action in allowed_actions(props, actor)
    else:
        with pytest.raises((Forbidden, Conflict)) as info:
            act(props, action, actor)
        assert info.value.status == (403 if wrong_person else 409)
        assert action not in allowed_actions(props, actor)
    assert props == before


def test_allowed_actions_lists_each_state_s_buttons_in_the_table_s_order():
    expected = {
        "reported": ["sign", "forward", "cancel"], "signed": ["start", "forward", "cancel"],
        "handling": ["reply", "forward", "cancel"], "replied": ["close"],
        "closed": ["reopen"], "rated": ["reopen"], "cancelled": []}
    for state, actions in expected.items():
        assert allowed_actions(case(state), DISPATCH) == actions
        assert allowed_actions(case(state), STAFF) == [a for a in actions if a != "reopen"]
        assert allowed_actions(case(state), OUTSIDER) == []
        assert allowed_actions(case(state), RESIDENT) == (["rate"] if state == "closed" else [])


def test_only_dispatchers_reopen_and_grid_staff_are_refused_with_a_403():
    for state in ("closed", "rated"):
        with pytest.raises(Forbidden, match="role grid_staff may not reopen"):
            act(case(state), "reopen", STAFF)
        assert act(case(state), "reopen", DISPATCH)["state"] == "handling"


def test_a_case_in_handling_may_be_forwarded_and_goes_back_to_reported():
    props = act(case("handling"), "forward", STAFF)
    assert (props["state"], props["grid_code"]) == ("reported", OTHER)


def test_a_refusal_names_the_state_and_what_the_action_needs():
    with pytest.raises(Conflict) as info:
        act(case("replied"), "forward", DISPATCH)
    assert "cannot forward a case that is replied (needs reported/signed/handling)" in (
        str(info.value))
    assert info.value.detail == {"state": "replied"}
    with pytest.raises(Forbidden, match="other grids"):
        act(case("reported"), "sign", OUTSIDER)


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


def test_a_handler_who_only_replied_may_not_close_nor_may_the_one_who_started():
    props = act(act(act(case(), "sign", DISPATCH), "start", STAFF), "reply", STAFF2)
    assert props["handlers"] == ["zhang", "li"]
    for handler in (STAFF, STAFF2):
        with pytest.raises(Forbidden, match="handler may not verify"):
            act(props, "close", handler)
    assert act(props, "close", DISPATCH)["state"] == "closed"
    assert act(props, "close", Actor("grid_staff", "zhao", frozenset({GRID})))["state"] == "closed"


def test_handlers_are_listed_once_each_and_signing_or_forwarding_makes_no_handler():
    props = act(act(case(), "forward", STAFF, to_grid=None, to_person="p0702"), "sign", STAFF)
    assert props.get("handlers", []) == []
    props = act(act(props, "start", STAFF), "reply", STAFF)
    assert props["handlers"] == ["zhang"]
    props = act(act(props, "close", DISPATCH), "reopen", DISPATCH)
    assert act(props, "reply", STAFF)["handlers"] == ["zhang"]


def test_a_note_of_2000_characters_is_taken_and_one_of_2001_refused():
    longest = "路" * 2000
    assert act(case("handling"), "reply", STAFF, note=longest)["reply"] == longest
    assert act(case("handling"), "reply", STAFF, note=f" \n{longest}\t ")["reply"] == longest
    with pytest.raises(BadInput) as info:
        act(case("handling"), "reply", STAFF, note=longest + "路")
    assert info.value.field == "note" and "at most 2000 characters, got 2001" in str(info.value)


@pytest.mark.parametrize("action, state", [("reply", "handling"), ("forward", "signed"),
                                           ("cancel", "reported"), ("reopen", "closed")])
@pytest.mark.parametrize("note", [None, "", " \n\t "])
def test_reply_forward_cancel_and_reopen_need_a_note(action, state, note):
    actor = DISPATCH if action == "reopen" else STAFF
    with pytest.raises(BadInput, match=f"{action} needs a note") as info:
        act(case(state), action, actor, note=note)
    assert info.value.field == "note"


@pytest.mark.parametrize("action, state", [("sign", "reported"), ("start", "signed"),
                                           ("close", "replied"), ("rate", "closed")])
def test_sign_start_close_and_rate_take_no_note_and_keep_none(action, state):
    actor = RESIDENT if action == "rate" else STAFF
    props = act(case(state), action, actor, note="  ")
    assert props["history"][-1]["note"] is None
    assert act(case(state), action, actor, note="好")["history"][-1]["note"] == "好"


def test_a_note_keeps_line_breaks_and_tabs_and_refuses_other_control_characters():
    assert act(case("handling"), "reply", STAFF, note="一\n二\t三")["reply"] == "一\n二\t三"
    with pytest.raises(BadInput) as info:
        act(case("handling"), "reply", STAFF, note="一\x07二")
    assert info.value.field == "note"


def test_a_reopen_clears_the_last_rounds_reply_rating_and_comment_and_keeps_them_in_history():
    props = case()
    for action, actor in [("sign", STAFF), ("start", STAFF), ("reply", STAFF),
                          ("close", STAFF2)]:
        props = act(props, action, actor, note="路灯已修复" if action == "reply" else None)
    props = act(props, "rate", RESIDENT, note="很满意", rating=5)
    assert (props["reply"], props["rating"], props["rating_comment"]) == ("路灯已修复", 5, "很满意")
    reopened = act(props, "reopen", DISPATCH, note="仍然不亮")
    for cleared in ("reply", "rating", "rating_comment"):
        assert cleared not in reopened
    assert reopened["state"] == "handling" and reopened["rework_count"] == 1
    assert reopened["handlers"] == ["zhang"] and reopened["times"]["close"] == props["times"]["close"]
    assert reopened["history"][:-1] == props["history"]
    assert [e["note"] for e in reopened["history"] if e["action"] in ("reply", "rate", "reopen")] == [
        "路灯已修复", "很满意", "仍然不亮"]
    assert reopened["history"][-2]["rating"] == 5
    again = act(reopened, "reply", STAFF, note="已更换灯泡")
    with pytest.raises(Forbidden):  # the handler of the first round still may not verify
        act(again, "close", STAFF)
    assert act(act(again, "close", STAFF2), "reopen", DISPATCH)["rework_count"] == 2


def test_a_rating_is_1_to_5_and_its_comment_is_the_note():
    for rating in (1, 5):
        props = act(case("closed"), "rate", RESIDENT, note=None, rating=rating)
        assert (props["rating"], props["rating_comment"]) == (rating, None)
        assert props["history"][-1]["rating"] == rating
    for rating in (0, 6, 4.0):
        with pytest.raises(BadInput, match="rating must be an integer 1-5"):
            act(case("closed"), "rate", RESIDENT, rating=rating)


def test_a_cancel_records_its_reason():
    for reason in ("duplicate", "invalid"):
        props = act(case("signed"), "cancel", STAFF, reason=reason)
        assert props["cancel_reason"] == props["history"][-1]["reason"] == reason
        assert props["state"] == "cancelled"


def test_a_forward_to_a_grid_and_a_person_records_both_and_counts():
    props = act(case("handling"), "forward", DISPATCH, to_grid=OTHER, to_person="p0801")
    event = props["history"][-1]
    assert (event["from_grid"], event["to_grid"], event["to_person"]) == (GRID, OTHER, "p0801")
    assert (props["grid_code"], props["assignee"], props["forward_count"]) == (OTHER, "p0801", 1)
    back = act(props, "forward", DISPATCH, to_grid=GRID, to_person=None)
    assert back["forward_count"] == 2 and back["assignee"] == "p0801"
    assert "to_person" not in back["history"][-1]


@pytest.mark.parametrize("state, action, actor, note, params, error, field, message", [
    ("reported", "dance", STAFF, None, {}, BadInput, "action",
     "未知操作 'dance'，可用：sign, start, reply, close, rate, forward, reopen, cancel / unknown "
     "action 'dance'; allowed: sign, start, reply, close, rate, forward, reopen, cancel"),
    ("reported", "x" * 40, STAFF, None, {}, BadInput, "action",
     f"未知操作 '{'x' * 29}，可用：sign, start, reply, close, rate, forward, reopen, cancel / "
     f"unknown action '{'x' * 29}; allowed: sign, start, reply, close, rate, forward, reopen, "
     "cancel"),
    ("closed", "reopen", STAFF, "返工", {}, Forbidden, None,
     "角色 grid_staff 不能执行 reopen / role grid_staff may not reopen"),
    ("reported", "sign", OUTSIDER, None, {}, Forbidden, None,
     "无权处理其他网格的案件 / not allowed for cases of other grids"),
    ("replied", "forward", STAFF, "转", {"to_grid": OTHER}, Conflict, None,
     "案件当前状态为 replied，不能 forward（需要 reported/signed/handling） / cannot forward a "
     "case that is replied (needs reported/signed/handling)"),
    ("replied", "close", STAFF, None, {}, Forbidden, None,
     "核查结案须由处置人以外的人员完成 / the handler may not verify and close their own case"),
    ("handling", "reply", STAFF, ["说明"], {}, BadInput, "note",
     "说明须为文本 / note must be text"),
    ("reported", "forward", STAFF, "转", {}, BadInput, "to_grid",
     "转办须指定 to_grid 或 to_person / forward needs to_grid or to_person"),
    ("reported", "forward", STAFF, "转", {"to_grid": GRID}, BadInput, "to_grid",
     "不能转办到当前网格 / already in that grid"),
    ("reported", "cancel", STAFF, "重复", {"reason": "boring"}, BadInput, "reason",
     "撤销原因须为 ('duplicate', 'invalid')，收到 'boring' / cancel reason must be one of "
     "('duplicate', 'invalid'), got 'boring'"),
    ("closed", "rate", RESIDENT, None, {"rating": 0}, BadInput, "rating",
     "评分须为 1–5 的整数，收到 0 / rating must be an integer 1-5, got 0"),
])
def test_every_refusal_names_the_problem_in_chinese_then_english(
        state, action, actor, note, params, error, field, message):
    props = case(state, handlers=["zhang"])
    with pytest.raises(error) as info:
        apply_action(props, action, actor, NOW, note=note, **params)
    assert (str(info.value), info.value.field) == (message, field)


def test_a_case_without_history_or_times_gets_them():
    props = {"grid_code": GRID, "state": "reported"}
    new = apply_action(props, "sign", STAFF, NOW)
    assert [e["action"] for e in new["history"]] == ["sign"]
    assert new["times"] == {"sign": NOW.isoformat(timespec="seconds")}
    assert props == {"grid_code": GRID, "state": "reported"}
