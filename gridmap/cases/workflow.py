"""The "你盯我办" case workflow: states, who may do what, and the event history.

States::

    reported ──sign──▶ signed ──start──▶ handling ──reply──▶ replied ──close──▶ closed ──rate──▶ rated
       ▲   (签收)          (处置)            (回复)              (核查结案)          (评价)
       └──────── forward (转办: other grid or team member, with a reason) ◀── reported/signed/handling
    closed/rated ──reopen──▶ handling   (rework: 返工)
    reported/signed/handling ──cancel──▶ cancelled   (duplicate / invalid, with a reason)

Rules:

- grid staff act on cases of their own grids only; dispatchers on every case;
  residents (by tracking code) only rate their closed case;
- the verifier who closes a case is never one of its handlers (监督与处置分离);
- every transition appends an event ``{at, action, actor, role, note, from, to}``;
  a transition not allowed from the current state is a 409, one not allowed
  for the role or person a 403, and neither changes anything.

The functions here are pure: they take the case's properties and return new
ones; storing them (with a version check) is the caller's job.
"""

import copy
from dataclasses import dataclass, field

import orjson

from gridmap.cases.intake import check_plain_text
from gridmap.errors import BadInput, Conflict, Forbidden

STATES = ("reported", "signed", "handling", "replied", "closed", "rated", "cancelled")
OPEN_STATES = ("reported", "signed", "handling", "replied")
STATE_NAMES = {
    "reported": ("待签收", "reported"), "signed": ("已签收", "signed"),
    "handling": ("处置中", "handling"), "replied": ("已回复", "replied"),
    "closed": ("已结案", "closed"), "rated": ("已评价", "rated"),
    "cancelled": ("已撤销", "cancelled"),
}

GRID_STAFF, DISPATCHER, RESIDENT = "grid_staff", "dispatcher", "resident"

#: action -> (states it may start from, state it leads to, roles that may do it)
TRANSITIONS = {
    "sign": (("reported",), "signed", (GRID_STAFF, DISPATCHER)),
    "start": (("signed",), "handling", (GRID_STAFF, DISPATCHER)),
    "reply": (("handling",), "replied", (GRID_STAFF, DISPATCHER)),
    "close": (("replied",), "closed", (GRID_STAFF, DISPATCHER)),
    "rate": (("closed",), "rated", (RESIDENT,)),
    "forward": (("reported", "signed", "handling"), "reported", (GRID_STAFF, DISPATCHER)),
    "reopen": (("closed", "rated"), "handling", (DISPATCHER,)),
    "cancel": (("reported", "signed", "handling"), "cancelled", (GRID_STAFF, DISPATCHER)),
}
#: actions whose actor counts as a handler (and so may not verify)
HANDLING_ACTIONS = ("start", "reply")
NEEDS_NOTE = ("reply", "forward", "cancel", "reopen")
CANCEL_REASONS = ("duplicate", "invalid")
NOTE_MAX = 2000


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff account (``username``) or a resident (``username=None``)."""

    role: str
    username: str = None
    grid_codes: frozenset = field(default_factory=frozenset)

    def may_act_on(self, grid_code):
        return self.role == DISPATCHER or (self.role == GRID_STAFF and grid_code in self.grid_codes)


def allowed_actions(props, actor):
    """The actions ``actor`` may take on a case now (for buttons in pages)."""
    return [a for a in TRANSITIONS if _refusal(props, a, actor) is None]


def _refusal(props, action, actor):
    """``None`` if allowed, else the error to raise."""
    if not (isinstance(action, str) and action in TRANSITIONS):
        shown = repr(action)[:30]
        return BadInput("error.workflow.unknown_action", action=shown, allowed=list(TRANSITIONS),
                        field="action")
    sources, _, roles = TRANSITIONS[action]
    if actor.role not in roles:
        return Forbidden("error.workflow.role_may_not", role=actor.role, action=action)
    if actor.role != RESIDENT and not actor.may_act_on(props["grid_code"]):
        return Forbidden("error.workflow.other_grid")
    if props["state"] not in sources:
        return Conflict("error.workflow.wrong_state", state=props["state"], action=action,
                        needs="/".join(sources), detail={"state": props["state"]})
    if action == "close" and actor.username in props.get("handlers", []):
        return Forbidden("error.workflow.own_case")
    return None


def apply_action(props, action, actor, now, note=None, **params):
    """Apply one transition and return the case's new properties.

    Parameters
    ----------
    props : dict
        The case's current properties (not changed).
    action : str
        One of :data:`TRANSITIONS`.
    actor : Actor
    now : datetime
        Aware datetime of the event.
    note : str, optional
        Required for reply (the text the resident sees), forward, cancel, reopen.
    **params
        ``to_grid`` / ``to_person`` for forward; ``reason`` for cancel
        (``duplicate`` | ``invalid``); ``rating`` (1–5) for rate.

    Raises
    ------
    BadInput (400), Forbidden (403), Conflict (409)
    """
    refusal = _refusal(props, action, actor)
    if refusal is not None:
        raise refusal
    note = _check_note(action, note)
    # a deep copy: props are JSON as stored (no NaN, no big integers), and a round
    # trip through orjson copies them about seven times faster than copy.deepcopy
    new = orjson.loads(orjson.dumps(props))
    _, target, _ = TRANSITIONS[action]
    event = {"at": now.isoformat(timespec="seconds"), "action": action,
             "actor": actor.username, "role": actor.role, "note": note,
             "from": props["state"], "to": target}
    if action == "forward":
        event.update(_forward(new, params))
    elif action == "cancel":
        reason = params.get("reason")
        if reason not in CANCEL_REASONS:
            raise BadInput("error.workflow.bad_cancel_reason", allowed=repr(CANCEL_REASONS),
                           value=repr(reason)[:40], field="reason")
        event["reason"] = new["cancel_reason"] = reason
    elif action == "rate":
        event["rating"] = new["rating"] = _check_rating(params.get("rating"))
        new["rating_comment"] = note
    elif action == "reopen":  # the last round's reply and rating stay in the history only
        new["rework_count"] = new.get("rework_count", 0) + 1
        for key in ("reply", "rating", "rating_comment"):
            new.pop(key, None)
    elif action == "reply":
        new["reply"] = note
    if action in HANDLING_ACTIONS and actor.username not in new.setdefault("handlers", []):
        new["handlers"].append(actor.username)
    new["state"] = target
    new.setdefault("times", {})[action] = event["at"]
    new.setdefault("history", []).append(event)
    return new


def regrid(props, to_grid, generation, username, now):
    """Move an open case into the grid its place belongs to under boundary
    generation ``generation`` (a planner chose so when publishing it).

    Returns the new properties: ``grid_code`` changed, the state kept, and a
    ``regrid`` event ``{from_grid, to_grid, generation}`` in the history. A
    closed case keeps its grid (409); so does a case already in ``to_grid`` (400).
    """
    if props["state"] not in OPEN_STATES:
        raise Conflict("error.workflow.regrid_closed", state=props["state"],
                       detail={"state": props["state"]})
    if to_grid == props["grid_code"]:
        raise BadInput("error.workflow.same_grid", field="to_grid")
    new = copy.deepcopy(props)
    event = {"at": now.isoformat(timespec="seconds"), "action": "regrid", "actor": username,
             "role": "planner", "note": None, "from": props["state"], "to": props["state"],
             "from_grid": props["grid_code"], "to_grid": to_grid, "generation": generation}
    new["grid_code"] = to_grid
    new.setdefault("history", []).append(event)
    return new


def _forward(new, params):
    to_grid, to_person = params.get("to_grid"), params.get("to_person")
    if not (to_grid or to_person):
        raise BadInput("error.workflow.forward_needs_target", field="to_grid")
    change = {"from_grid": new["grid_code"]}
    if to_grid:
        if to_grid == new["grid_code"]:
            raise BadInput("error.workflow.same_grid", field="to_grid")
        new["grid_code"] = change["to_grid"] = to_grid
    if to_person:
        new["assignee"] = change["to_person"] = to_person
    new["forward_count"] = new.get("forward_count", 0) + 1
    return change


def _check_note(action, note):
    if note is not None and not isinstance(note, str):
        raise BadInput("error.workflow.note_not_text", field="note")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise BadInput("error.workflow.note_too_long", limit=NOTE_MAX, got=len(note), field="note")
    check_plain_text(note, "note")
    if action in NEEDS_NOTE and not note:
        raise BadInput("error.workflow.note_needed", action=action, field="note")
    return note or None


def _check_rating(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise BadInput("error.workflow.bad_rating", value=repr(value)[:40], field="rating")
    return value
