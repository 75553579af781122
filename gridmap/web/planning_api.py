"""The planning API: boundary generations for planners (``/api/planning/``).

JSON in and out (a boundary file may also come as a multipart upload); every
view is for the ``planner`` role (others get a 403) and goes through
:class:`gridmap.planning.Planning`, like ``gridmap grids``. Publishing and
rolling back are written to the audit log. See ``docs/generations.md``.
"""

import tempfile
from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, request

from gridmap.errors import BadInput, InvalidBoundary, NotFound
from gridmap.geo.difference import differences
from gridmap.geo.gridfile import SUFFIXES, read_grid_file
from gridmap.geo.impact import WORKLOAD_SHARE
from gridmap.planning import Planning, features_of
from gridmap.planning_edits import BODY_FIELDS, DraftEditor, flags
from gridmap.web.access import allow
from gridmap.web.cases_api import json_body

bp = Blueprint("planning_api", __name__, url_prefix="/api/planning")
PLANNER = "planner"
#: a boundary file uploaded as the draft (multipart ``file``) may be this big
FILE_BODY_BYTES = 32 << 20
DRAFT_FIELDS = frozenset({"type", "features", "description", "effective_date", "complete",
                          "teams"})


def planning():
    ext = current_app.extensions
    return Planning(ext["gridmap"], ext["gridmap.cases"], ext["gridmap.audit"],
                    ext["gridmap.accounts"])


def takes_file(view):
    """A view that takes a boundary file as a multipart upload (see ``uploads``)."""
    view.max_body_bytes = FILE_BODY_BYTES
    return view


def _number(raw, name):
    if raw is None:
        return None
    text = str(raw)
    if isinstance(raw, bool) or not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 9999:
        raise BadInput("error.generations.bad_number", value=repr(text)[:20], field=name)
    return int(text)


def _teams(value):
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()):
        raise BadInput("error.generations.bad_teams", field="teams")
    return value


def _flag(value, name):
    if value in (None, False, "", "0", "false"):
        return False
    if value in (True, "1", "true"):
        return True
    raise BadInput("error.generations.bad_move_cases", value=repr(value)[:20], field=name)


@bp.get("/generations")
@allow(PLANNER)
def generations():
    """Every generation (manifest entries, oldest first), the active number and the draft's."""
    store = planning().store
    doc = store.manifest()
    return jsonify({"active": doc["active"], "draft": doc.get("draft"),
                    "generations": [g_.to_dict() for g_ in store.generations(doc)],
                    "events": doc.get("events", [])})


@bp.get("/generations/<int:number>")
@allow(PLANNER)
def generation(number):
    """One generation as a GeoJSON FeatureCollection (its entry in ``generation``); 404."""
    return jsonify(planning().store.collection(number))


@bp.get("/draft")
@allow(PLANNER)
def get_draft():
    """The draft as a FeatureCollection with its check report (``check``); 404 without one."""
    plan = planning()
    draft = plan.store.draft()
    if draft is None:
        raise NotFound("error.generations.no_draft")
    body = plan.store.collection(draft.number)
    body["check"] = plan.check(body["features"]).to_dict()
    _, index = DraftEditor(plan).state()
    body.update(flags(index))
    return jsonify(body)


@bp.post("/draft")
@allow(PLANNER)
@takes_file
def make_draft():
    """Make the draft: a JSON FeatureCollection (with ``description``,
    ``effective_date``, ``complete``, ``teams``), or a multipart upload of a
    boundary file (``file``; ``crs``, ``layer``, ``code_field`` and the same
    fields as form values). 201 with the generation, how codes were given
    (``plan``) and its check report; 400/422 naming the problem, nothing stored."""
    if request.mimetype == "multipart/form-data":
        features, form = _uploaded_features(), request.form
        options = {"description": form.get("description"),
                   "effective_date": form.get("effective_date"),
                   "complete": _flag(form.get("complete"), "complete")}
    else:
        body = json_body(DRAFT_FIELDS)
        if body.get("type") != "FeatureCollection" or not isinstance(body.get("features"), list):
            raise BadInput("error.generations.bad_features", field="features")
        features = body["features"]
        if not all(isinstance(f, dict) and isinstance(f.get("properties", {}), (dict, type(None)))
                   for f in features):
            raise BadInput("error.generations.bad_features", field="features")
        options = {"description": body.get("description"),
                   "effective_date": body.get("effective_date"),
                   "complete": _flag(body.get("complete"), "complete"),
                   "teams": _teams(body.get("teams"))}
    plan = planning()
    gen, made = plan.draft(features, g.user.username, **options)
    return jsonify({"generation": gen.to_dict(), "plan": made.to_dict(),
                    "check": plan.check(made.features).to_dict()}), 201


def _uploaded_features():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadInput("error.api.missing_parameter", name="file", field="file")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidBoundary("error.gridfile.unsupported_type", name=upload.filename[:80],
                              allowed=list(SUFFIXES), field="file")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        upload.save(path)
        frame = read_grid_file(path, crs=request.form.get("crs") or None,
                               layer=request.form.get("layer") or None)
    return features_of(frame, request.form.get("code_field") or "grid_code")


@bp.delete("/draft")
@allow(PLANNER)
def discard_draft():
    """Drop the draft: 200 with its entry; 404 without one."""
    store = planning().store
    if store.draft() is None:
        raise NotFound("error.generations.no_draft")
    return jsonify({"discarded": planning().discard_draft().to_dict()})


@bp.post("/draft/edits")
@allow(PLANNER)
def edit_draft():
    """One edit of the draft (``op``: move_vertex, split, merge, redraw, add, remove,
    set_props, fix; see docs/editor.md); a draft is started from the active generation
    when there is none. 200 with ``draft``, ``features``, ``issues`` (the check report),
    ``can_undo``, ``can_redo``, ``edits``; 400 naming a bad field; 422 with ``reason``
    when the edit would break the grids. Nothing changes on a refusal."""
    body = json_body(BODY_FIELDS)
    return jsonify(DraftEditor(planning()).edit(body, g.user.username))


@bp.post("/draft/undo")
@allow(PLANNER)
def undo_edit():
    """Undo the last edit of the draft: the same answer as an edit; 409 nothing to undo."""
    return jsonify(DraftEditor(planning()).undo(g.user.username))


@bp.post("/draft/redo")
@allow(PLANNER)
def redo_edit():
    """Redo the edit undone last: the same answer as an edit; 409 nothing to redo."""
    return jsonify(DraftEditor(planning()).redo(g.user.username))


@bp.put("/draft/teams")
@allow(PLANNER)
def draft_teams():
    """``{"teams": {new code: active code or null}}``: whose team each new grid takes."""
    teams = _teams(json_body({"teams"}).get("teams")) or {}
    return jsonify({"generation": planning().store.set_teams(teams, g.user.username).to_dict()})


@bp.get("/preview")
@allow(PLANNER)
def preview():
    """``?from=A&to=B&workload_share=0.5``: what going from A (default: active) to B
    (default: the draft) does to the cases, with B's check report."""
    share = request.args.get("workload_share")
    try:
        share = WORKLOAD_SHARE if share is None else float(share)
        if not 0 < share < 100:
            raise ValueError
    except ValueError:
        raise BadInput("error.api.not_a_number", value=repr(share)[:20],
                       field="workload_share") from None
    return jsonify(planning().preview(_number(request.args.get("from"), "from"),
                                      _number(request.args.get("to"), "to"), share))


@bp.post("/publish")
@allow(PLANNER)
def publish():
    """``{"draft": N, "move_cases": bool, "teams": {...}, "description": text,
    "effective_date": "YYYY-MM-DD"}``: publish the draft (``draft``: the one previewed;
    description and date replace the draft's when given). 200 with the old and new
    generation and the moved cases; 409 without a draft or another one; 422 listing
    every check problem, nothing changed."""
    body = json_body({"draft", "move_cases", "teams", "description", "effective_date"})
    old, new, moved = planning().publish(
        g.user.username, PLANNER, move_cases=_flag(body.get("move_cases"), "move_cases"),
        expected_draft=_number(body.get("draft"), "draft"), teams=_teams(body.get("teams")),
        ip=request.remote_addr, description=body.get("description"),
        effective_date=body.get("effective_date"))
    return jsonify({"from": old.to_dict(), "to": new.to_dict(), "moved": moved})


@bp.post("/rollback")
@allow(PLANNER)
def rollback():
    """``{"generation": N}``: make published generation N active again. 200; 404 no such
    generation; 409 a draft or the active one."""
    body = json_body({"generation"})
    number = _number(body.get("generation"), "generation")
    if number is None:
        raise BadInput("error.api.missing_parameter", name="generation", field="generation")
    old, new = planning().rollback(number, g.user.username, PLANNER, ip=request.remote_addr)
    return jsonify({"from": old.to_dict(), "to": new.to_dict()})


@bp.get("/difference")
@allow(PLANNER)
def difference():
    """``?from=A&to=B`` (defaults as for the preview): the pieces of ground whose grid
    differs between the two generations, a FeatureCollection (``from``, ``to``,
    ``area_m2``) for the preview's overlay; 404 no such generation; 422 grids that
    cannot be read (fix the draft first)."""
    store = planning().store
    doc = store.manifest()
    a = _number(request.args.get("from"), "from") or store.active(doc).number
    b = _number(request.args.get("to"), "to")
    if b is None:
        draft = store.draft(doc)
        if draft is None:
            raise BadInput("error.generations.no_draft_to_compare", field="to")
        b = draft.number
    return jsonify({"type": "FeatureCollection", "from": a, "to": b,
                    "features": differences(store.grid_set(a, doc), store.grid_set(b, doc))})
