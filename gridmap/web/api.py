"""JSON API. Errors are JSON too (see ``gridmap.web.errors``)."""

from flask import Blueprint, current_app, g, jsonify, request

from gridmap.errors import BadCoordinate, BadInput, Msg
from gridmap.web.access import ANYONE, allow

bp = Blueprint("api", __name__, url_prefix="/api")


def community():
    return current_app.extensions["gridmap"]


def float_arg(name):
    """A required query parameter parsed as a float; 400 naming it otherwise."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        raise BadInput("error.api.missing_parameter", name=name, field=name)
    try:
        return float(raw)
    except ValueError:
        raise BadCoordinate("error.api.not_a_number", value=repr(raw[:40]), field=name) from None


def grid_dict(grid):
    team = community().teams[grid.code]
    return {"code": grid.code, "name": grid.name, "name_en": grid.name_en,
            "team": team.public_dict()}


@bp.get("/route")
@allow(ANYONE)
def route():
    """Route a point: ``?lon=&lat=&datum=wgs84|gcj02|bd09&generation=N``.

    200 with the owning grid, or the outside answer (``grid`` null, nearest
    grid and distance), and the ``generation`` routed by (default: the
    active one; any published one may be asked for); 400 for a missing,
    non-numeric or out-of-range value, an unknown datum or a generation that
    is not a number; 404 no such published generation.
    """
    lon, lat = float_arg("lon"), float_arg("lat")
    datum = request.args.get("datum", "wgs84")
    raw = request.args.get("generation")
    bounds = community().boundaries
    number = bounds.number if raw is None else _generation(raw)
    router = bounds.router if number == bounds.number else community().router_for(number)
    answer = router.route_point(lon, lat, datum=datum)
    body = answer.to_dict()
    body["grid"] = grid_dict(answer.grid) if answer.grid else None
    if "nearest" in body:
        body["nearest"] = grid_dict(answer.nearest)
    body["query"] = {"lon": lon, "lat": lat, "datum": datum}
    body["generation"] = number
    return jsonify(body)


def _generation(raw):
    """A generation number from the query; 400 if not one, 404 if there is no such one."""
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 9999):
        raise BadInput("error.generations.bad_number", value=repr(raw[:20]), field="generation")
    return int(raw)


@bp.get("/grids")
@allow(ANYONE)
def grids():
    """All grids (code, names, public team), 200."""
    return jsonify([grid_dict(g) for g in community().grids])


@bp.get("/health")
@allow(ANYONE)
def health():
    """For load balancers and monitors, and the benchmark's floor (no write, one ``statvfs``
    per disk): 200 ``{"ok": true, "components": {"store": "ok", "accounts": "ok"}}``; 503
    with ``ok`` false when a part cannot write: ``disk_full`` (reads go on; writes answer
    503 until there is room), or for the store ``fsync_failed`` (this worker stopped
    writing cases: check the disk, then restart it)."""
    components = current_app.extensions["gridmap.disks"].status()
    error = current_app.extensions["gridmap.cases"].store.disk_error
    if error is not None:
        components["store"] = "fsync_failed"
    body = {"ok": True, "grids": len(community().grids), "components": components}
    if error is not None:
        body.update(ok=False, error="store_error",
                    message=Msg("error.api.writing_stopped", problem=str(error)).render(g.lang))
    elif "disk_full" in components.values():
        full = ", ".join(name for name, status in components.items() if status == "disk_full")
        body.update(ok=False, error="disk_full",
                    message=Msg("error.api.disk_full", disks=full).render(g.lang))
    return jsonify(body), 200 if body["ok"] else 503
