"""The case JSON API: intake, queues, transitions, public tracking.

Contact details are returned only to dispatchers and the staff of the
case's grid; public answers never name staff beyond their team role.
"""

import codecs
import json
import math

from flask import Blueprint, current_app, g, jsonify, request

from gridmap.audit import CASE_FORWARD, CASE_TRANSITION
from gridmap.cases.workflow import RESIDENT, Actor
from gridmap.errors import BadInput, Msg, NotFound, RateLimited
from gridmap.jsontext import parse
from gridmap.web.access import ANYONE, allow, require_grid
from gridmap.web.auth import audit
from gridmap.web.security import no_store
from gridmap.web.uploads import MULTIPART, takes_photos, uploaded_photos

bp = Blueprint("cases_api", __name__, url_prefix="/api")
CASE_ROLES = ("grid_staff", "dispatcher")
MAX_DEPTH = 16  # of containers in a JSON body
ACTION_FIELDS = frozenset(("action", "note", "to_grid", "to_person", "reason"))  # of a transition
FORM_TRUE, FORM_FALSE = ("true", "on", "1"), ("false", "off", "0", "")


def service():
    return current_app.extensions["gridmap.cases"]


def json_body(fields=None):
    """The request's JSON object, or a 400 naming what is wrong with it (also a key
    not in ``fields``, if given). UTF-16 and UTF-32 are refused; a UTF-8 byte order
    mark is ignored."""
    if request.mimetype != "application/json":
        if not request.mimetype:
            raise BadInput("error.body.no_content_type", field="body")
        raise BadInput("error.body.not_json_type", value=request.mimetype, field="body")
    data = request.get_data()
    encoding = json.detect_encoding(data)  # what json.loads would decode: JSON is UTF-8 only
    if encoding not in ("utf-8", "utf-8-sig"):
        name = encoding.upper()
        raise BadInput("error.body.not_utf8", encoding=name, field="body")
    data = data.removeprefix(codecs.BOM_UTF8)  # RFC 8259 lets a parser ignore one
    try:
        body, strict = parse(data)
    except (ValueError, RecursionError):
        raise BadInput("error.body.not_json", field="body") from None
    if not isinstance(body, dict):
        raise BadInput("error.body.not_an_object", field="body")
    # Most bodies need no walk: without lone surrogates (strict) and with fewer
    # brackets than MAX_DEPTH, nothing can be nested too deep.
    if not strict or data.count(b"{") + data.count(b"[") >= MAX_DEPTH:
        problem = _plain_json_problem(body)
        if problem:
            raise BadInput(problem, field="body")
    if fields is not None and not fields.issuperset(body):
        unknown = sorted(set(body) - fields)
        raise BadInput("error.body.unknown_fields", names=", ".join(unknown)[:200], field="body")
    return body


def form_fields(fields=None):
    """The text fields of a multipart request as a dict; a field sent twice, or one
    not in ``fields`` (if given), is a 400."""
    form = request.form
    twice = sorted(k for k in form if len(form.getlist(k)) > 1)
    if twice:
        raise BadInput("error.body.fields_twice", names=", ".join(twice)[:200], field=twice[0][:64])
    if fields is not None and not fields.issuperset(form):
        unknown = sorted(set(form) - fields)
        raise BadInput("error.body.unknown_fields", names=", ".join(unknown)[:200], field="body")
    return form.to_dict()


def form_report():
    """A multipart report as the JSON body it stands for: ``lon`` and ``lat`` as
    numbers and ``hide_name`` as a boolean where they read as such (else left as
    text, for ``check_report`` to name)."""
    body = form_fields()
    for name in ("lon", "lat"):
        try:
            value = float(body[name])
        except (KeyError, ValueError):
            continue
        if math.isfinite(value):
            body[name] = value
    hide = body.get("hide_name")
    if isinstance(hide, str) and hide.lower() in FORM_TRUE + FORM_FALSE:
        body["hide_name"] = hide.lower() in FORM_TRUE
    return body


def body_and_photos(fields=None):
    """The request's fields (JSON, or a multipart form) and its photos' bytes."""
    if request.mimetype == MULTIPART:
        body = form_report() if fields is None else form_fields(fields)
        return body, uploaded_photos(request.files)
    return json_body(fields), []


def _plain_json_problem(body, max_depth=MAX_DEPTH):
    """What is wrong with a decoded body that JSON allows but we do not: nesting deeper
    than ``max_depth``, or lone surrogates (``\\ud800`` is valid JSON, not valid UTF-8)."""
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return Msg("error.body.too_deep", limit=max_depth)
        if isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return Msg("error.body.lone_surrogates")
    return None


JSON_TYPES = {dict: "error.body.type.object", list: "error.body.type.array",
              bool: "error.body.type.boolean", int: "error.body.type.number",
              float: "error.body.type.number"}


def check_text_fields(body, fields):
    """A 400 naming the first of ``fields`` in ``body`` that is neither text nor null,
    whether or not the request goes on to use it."""
    for field in sorted(fields):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise BadInput("error.body.field_not_text",
                           type=Msg(JSON_TYPES.get(type(value), "error.body.type.other")), field=field)


def limit_by_address(kind, limit, window_s):
    allowed, retry = current_app.extensions["gridmap.throttle"].hit(
        f"{kind}:ip:{request.remote_addr}", limit, window_s)
    if not allowed:
        raise RateLimited("error.web.too_many_requests",
                          detail={"retry_after_s": retry})


def actor():
    user = g.get("user")
    if user is None:
        return Actor(RESIDENT)
    role = "dispatcher" if user.has_role("dispatcher") else "grid_staff"
    return Actor(role, user.username, frozenset(user.grid_codes))


def may_see_contact(feature):
    user = g.get("user")
    return user is not None and (user.has_role("dispatcher")
                                 or user.can_act_on_grid(feature["properties"]["grid_code"]))


def intake_answer(svc, feature, duplicates):
    """The 201 body: ids, grid with team head and handler, state, deadlines, duplicates."""
    props = feature["properties"]
    grid = svc.community.grid(props["grid_code"])
    team = svc.community.teams[grid.code]
    handler = svc.handler_role(props)
    return {
        "case_id": feature["id"], "case_no": props["case_no"],
        "tracking_code": props["tracking_code"], "state": props["state"],
        "routing": props["routing"], "reported_at": props["reported_at"],
        "deadlines": props["deadlines"],
        "grid": {"code": grid.code, "name": grid.name, "name_en": grid.name_en,
                 "head": team.head.name if team.head else None,
                 "handler": handler and {**handler,
                                         "name": getattr(team, handler["role"]).name}},
        "photos": props.get("photos", []),
        # by case number and id (Open311's public id, for /public/case/<id>), never by
        # tracking code: that is its reporter's secret
        "duplicates": [{"case_id": d["id"], "case_no": d["properties"]["case_no"],
                        "state": d["properties"].get("state"),
                        "reported_at": d["properties"].get("reported_at")} for d in duplicates],
    }


@bp.post("/reports")
@allow(ANYONE)
@no_store
@takes_photos
def create_report():
    """A resident's report, JSON or multipart with up to 3 ``photos``: 201 created; 200 for
    a repeated idempotency key with the same report (the first case); 409 the key with a
    different report; 400 bad field; 4xx bad photo; 422 outside the service area; 429 too
    many from one address."""
    limit_by_address("report", current_app.config["REPORT_IP_LIMIT"], 600)
    body, photos = body_and_photos()
    svc = service()
    feature, created, duplicates = svc.report(body, request.headers.get("Idempotency-Key"),
                                              photos=photos)
    return jsonify(intake_answer(svc, feature, duplicates)), 201 if created else 200


@bp.get("/cases/<case_id>")
@allow(*CASE_ROLES)
def get_case(case_id):
    """One case for staff of its grid or a dispatcher: 200; 403 other grid; 404 unknown."""
    feature = service().get(case_id)
    require_grid(feature["properties"]["grid_code"])
    return jsonify(service().staff_view(feature, may_see_contact(feature)))


@bp.post("/cases/<case_id>/actions")
@allow(*CASE_ROLES)
@takes_photos
def act_on_case(case_id):
    """Apply ``{"action", "note", "to_grid", "to_person", "reason"}`` (JSON, or multipart
    with up to 3 ``photos`` on a reply): 200 with the case; 400 bad field; 4xx bad photo;
    403 role/grid/handler rule; 404 unknown; 409 wrong state or a race."""
    feature = service().get(case_id)
    require_grid(feature["properties"]["grid_code"])
    body, photos = body_and_photos(ACTION_FIELDS)
    check_text_fields(body, ACTION_FIELDS)
    params = {k: body[k] for k in ("to_grid", "to_person", "reason") if body.get(k) is not None}
    action = body.get("action")
    new = service().act(case_id, action, actor(), note=body.get("note"), photos=photos,
                        **params)
    audit(CASE_FORWARD if action == "forward" else CASE_TRANSITION, g.user.username,
          target=case_id, detail={"action": action, "state": new["properties"]["state"],
                                  "grid_code": new["properties"]["grid_code"]})
    return jsonify(service().staff_view(new, may_see_contact(new)))


@bp.get("/grids/<code>/cases")
@allow(*CASE_ROLES)
def grid_queue(code):
    """A grid's queue (``state``, ``category``, ``overdue``, ``since``, ``until``, ``page``,
    ``per_page``): 200; 400 bad filter; 403 another grid; 404 unknown grid."""
    if code not in service().community.grids:
        raise NotFound("error.web.no_such_grid", code=code[:20])
    require_grid(code)
    items, total, page, per_page = service().queue([code], request.args)
    return jsonify({"grid_code": code, "total": total, "page": page, "per_page": per_page,
                    "cases": [service().staff_view(f, may_see_contact(f)) for f in items]})


@bp.get("/track/<code>")
@allow(ANYONE)
@no_store
def track(code):
    """Public tracking by code: 200 (no contact, no staff names; all photos); 404 unknown."""
    return jsonify(service().public_view(service().by_tracking(code), all_photos=True))


@bp.post("/track/<code>/rating")
@allow(ANYONE)
@no_store
def rate(code):
    """The resident rates a closed case ``{"rating": 1-5, "comment"}``: 200; 400; 404; 409."""
    limit_by_address("rating", current_app.config["REPORT_IP_LIMIT"], 600)
    feature = service().by_tracking(code)
    body = json_body({"rating", "comment"})
    new = service().act(feature["id"], "rate", Actor(RESIDENT), note=body.get("comment"),
                        rating=body.get("rating"))
    return jsonify(service().public_view(new, all_photos=True))
