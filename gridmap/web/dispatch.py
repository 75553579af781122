"""The dispatcher's console: ``/dispatch``, a map page whose data comes from JSON.

The page is a folium map shell (tiles, grids, the display datum) with the console's
script; every layer, figure and list row comes from ``/api/dispatch/...`` for the
filters in the page's URL (one reader for all: :mod:`gridmap.cases.filters`), and
the map's view and zoom. The server aggregates (heat cells, clusters, counts), so
no answer grows with the number of cases. Grid staff see the console for their own
grids only, on every endpoint; every other role gets a 403.
"""

import csv
import io
from dataclasses import replace
from datetime import date, datetime, timedelta

from flask import Blueprint, current_app, g, jsonify, request, url_for

from gridmap.cases.filters import (FILTER_ARGS, OVERDUE, parse_filter, parse_page, parse_step,
                                   parse_zoom)
from gridmap.cases.workflow import OPEN_STATES, STATES
from gridmap.maps.assets import CONSOLE_JS, LEAFLET_HEAT_JS
from gridmap.maps.console_map import build_console_map
from gridmap.maps.grids_map import embed
from gridmap.web import case_display
from gridmap.web.access import allow, require_grid
from gridmap.web.assets import assets_url
from gridmap.web.cases_api import CASE_ROLES, may_see_contact, service
from gridmap.web.i18n import name_of, page_texts, t
from gridmap.web.pages import map_settings, render_embedded

bp = Blueprint("dispatch", __name__)
API = "/api/dispatch"
LIST_PAGE = 20  #: list rows a page by default
SIDE_ROWS = 5  #: cases in each of the side panel's lists
OVERDUE_SHOWN = 200  #: overdue markers drawn per view and clock at most (the oldest first)
#: the open states each clock runs in, in the order they run
RUNS_IN = {"sign": ("reported",), "handle": ("reported", "signed", "handling"),
           "verify": ("replied",)}
CSV_ROWS = 50_000  #: rows of a CSV export at most
MAX_FRAMES = 400
DEFAULT_DAYS = 30  #: the time slider's period when the filters give none
POLL_MS = 1000  #: how often an open console asks what changed
CSV_COLUMNS = ("case_no", "reported_at", "code", "grid", "category", "state",
               "description", "metric_overdue", "longitude", "latitude", "reporter", "contact_short")
#: texts the console's script shows (from the catalog, in the page's language)
TEXTS = ("category", "state", "grid", "age", "deadline", "open_case", "loading", "load_failed",
         "colon", "list_sep", "metric_open", "metric_overdue", "metric_on_time",
         "metric_received", "received", "closed", "clock_sign", "clock_handle",
         "clock_verify", "no_cases", "cases_in_view", "all_period", "play", "pause",
         "cluster_of", "new_reports", "layer_heat", "layer_cases", "layer_overdue", "grids")


def community():
    return current_app.extensions["gridmap"]


def visible_grids():
    """The grids the caller may see: None (all) for dispatchers, else their own."""
    return None if g.user.has_role("dispatcher") else sorted(g.user.grid_codes)


def console_now():
    """The instant the console judges lateness at: the request's, to the second (the
    requests of one view then share the store's work on the same instant)."""
    return service().clock().replace(microsecond=0)


def case_filter():
    """The request's :class:`CaseFilter`, limited to the caller's grids."""
    return parse_filter(request.args, community(), console_now(), visible_grids())


def map_shell(grids):
    """The console's folium map of ``grids``, embedded (:func:`~gridmap.maps.grids_map.embed`)
    once per set of grids and language, as ``((head, body, script, map name), grid layer
    name)``: rendering it is most of the page's time, and it holds no case."""
    shells = current_app.extensions.setdefault("gridmap.console_maps", {})
    key = (community().grids, g.lang, tuple(gr.code for gr in grids))
    if key not in shells:
        if any(k[0] is not key[0] for k in shells):  # the grids were redrawn: start again
            shells.clear()
        fmap, layer = build_console_map(grids, **map_settings())
        shells[key] = ((*embed(fmap), fmap.get_name()), layer)
    return shells[key]


def area(flt):
    """The bbox of a layer's request: the filter's, else every grid the caller sees."""
    if flt.bbox:
        return flt.bbox
    grids = community().grids
    codes = flt.grid_codes or grids.codes
    boxes = [grids[c].geometry.bounds for c in codes]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def open_only(flt):
    """``flt`` narrowed to overdue open cases (what is late now), by its own ``overdue``
    clock or any."""
    states = tuple(s for s in OPEN_STATES if not flt.states or s in flt.states)
    return replace(flt, overdue=flt.overdue or "any", states=states)


def late_clock(props, now, wanted=None):
    """The clock that ran out, as the overdue layer colours it: ``wanted`` if given, else
    the later of those running late (handling over sign-for), else the first late."""
    if wanted in RUNS_IN:
        return wanted
    flags = service().overdue(props, now)
    running = [c for c in case_display.RUNNING.get(props["state"], ()) if flags[c]]
    return (running[-1:] or [c for c in case_display.CLOCKS if flags[c]][:1] or [None])[0]


def row(feature, now, contact=False):
    """A case as the list, the side panel and a popup show it; the reporter's name and
    contact (``contact``: the list's) where the caller may see them."""
    view = service().staff_view(feature, contact and may_see_contact(feature))
    shown = case_display.card(community(), now, view, feature["id"])
    reporter = view.get("reporter") or {}
    return dict(shown, url=url_for("staff_pages.case_page", case_id=feature["id"]),
                contact=reporter.get("contact"), reporter_name=reporter.get("name"),
                deadline_text=shown["deadline"] and (
                    f"{t('clock_' + shown['deadline']['clock'])}{t('colon')}"
                    f"{shown['deadline']['text']}"))


@bp.get("/dispatch")
@allow(*CASE_ROLES)
def console():
    """The console for the filters in the URL: 200; 400 a bad filter; 403 a grid not
    the caller's."""
    case_filter()  # a bad URL is a 400 here already
    codes = visible_grids() or community().grids.codes
    grids = [community().grids[c] for c in codes]
    frame = map_settings()["frame"]
    parts, layer = map_shell(grids)
    config = {
        "map": parts[3], "grids_layer": layer, "api": API,
        "poll_ms": POLL_MS, "lang": g.lang,
        "grids": [{"code": gr.code, "name": name_of(gr),
                   "team": community().teams[gr.code].summary_lines(g.lang),
                   "bounds": frame.bounds(*gr.geometry.bounds)} for gr in grids],
    }
    chosen = {k: request.args.get(k, "") for k in FILTER_ARGS}
    return render_embedded(
        "dispatch/console.html", parts, config=config, texts=page_texts(*TEXTS),
        chosen=chosen, chosen_list={k: chosen[k].split(",") for k in ("grid", "state", "category")},
        grids=grids, states=STATES, categories=community().categories.values(),
        overdue_choices=OVERDUE, assets=assets_url(), heat_js=LEAFLET_HEAT_JS,
        console_js=CONSOLE_JS)


@bp.get(API + "/heat")
@allow(*CASE_ROLES)
def heat():
    """Heat cells of the matching cases in ``bbox`` at ``zoom``, weights kept:
    ``{"cells": [[lat, lon, weight]], "total", "max"}`` (WGS 84): 200; 400; 403."""
    flt = case_filter()
    return jsonify(service().store.heat(flt, area(flt), parse_zoom(request.args)))


@bp.get(API + "/clusters")
@allow(*CASE_ROLES)
def clusters():
    """The matching cases in ``bbox`` clustered for ``zoom``: ``{"clusters": [{"lat",
    "lon", "count", "bbox", ("id", "case_no" for one case)}], "total"}``; a cluster's
    count is the list's total for its ``bbox``: 200; 400; 403."""
    flt = case_filter()
    return jsonify(service().store.clusters(flt, area(flt), parse_zoom(request.args)))


@bp.get(API + "/overdue")
@allow(*CASE_ROLES)
def overdue():
    """Open cases in ``bbox`` whose running clock is past its deadline now, each with that
    clock (the later one for a case late on two: handling over sign-for), the longest
    waiting first, at most :data:`OVERDUE_SHOWN` a clock: ``{"clocks": [names], "cases":
    [[id, case_no, lon, lat, index in clocks]]}``: 200; 400; 403."""
    flt = case_filter()
    found = {}
    for clock, states in RUNS_IN.items():
        if flt.overdue in (None, "any", clock):
            late = replace(flt, overdue=clock,
                           states=tuple(s for s in states if not flt.states or s in flt.states))
            items, _ = service().store.find(late, "reported_at", OVERDUE_SHOWN, 0,
                                            properties=("case_no",))
            found.update((f["id"], (f, clock)) for f in items)
    clocks = list(RUNS_IN)
    return jsonify({"clocks": clocks, "cases": [  # compact: a view may hold hundreds
        [f["id"], f["properties"]["case_no"], *(round(v, 6) for v in f["geometry"]["coordinates"]),
         clocks.index(clock)]
        for f, clock in sorted(found.values(), key=lambda fc: fc[0]["properties"]["case_no"])]})


@bp.get(API + "/cases")
@allow(*CASE_ROLES)
def cases():
    """One page of the matching cases in ``bbox`` (``sort``, ``page``, ``per_page``), with
    the reporter's contact where the caller may see it: 200; 400; 403."""
    flt = case_filter()
    order, page, per_page = parse_page(request.args, LIST_PAGE)
    items, total = service().store.find(flt, order, per_page, (page - 1) * per_page)
    return jsonify({"total": total, "page": page, "per_page": per_page,
                    "cases": [row(f, flt.now, contact=True) for f in items]})


@bp.get(API + "/cases/<case_id>")
@allow(*CASE_ROLES)
def one_case(case_id):
    """One case as a popup shows it: 200; 403 another grid's; 404 unknown."""
    feature = service().get(case_id)
    require_grid(feature["properties"]["grid_code"])
    return jsonify(row(feature, service().clock()))


@bp.get(API + "/cases.csv")
@allow(*CASE_ROLES)
def cases_csv():
    """The matching cases in ``bbox`` as CSV (UTF-8 with a byte order mark, so Excel reads
    Chinese; at most :data:`CSV_ROWS`), contacts as on the list: 200; 400; 403."""
    flt = case_filter()
    order, _, _ = parse_page(request.args)
    items, _ = service().store.find(flt, order, CSV_ROWS, 0)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([t(k) for k in CSV_COLUMNS])
    for feature in items:  # the staff view only: a card's deadline texts cost 1 ms a case
        view = service().staff_view(feature, may_see_contact(feature))
        reporter = view.get("reporter") or {}
        writer.writerow([cell(v) for v in (
            view["case_no"], view["reported_at"], view["grid_code"],
            name_of(community().grids[view["grid_code"]]),
            name_of(community().category(view["category"])), t("state_" + view["state"]),
            view["description"],
            t("list_sep").join(t("clock_" + k) for k, late in view["overdue"].items() if late),
            *view["location"][:2], reporter.get("name") or "", reporter.get("contact") or "")])
    response = current_app.response_class(out.getvalue().encode("utf-8"),
                                          mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="cases-{flt.now:%Y%m%d-%H%M}.csv"')
    return response


def cell(value):
    """A CSV cell a spreadsheet will not run: text starting ``= + - @`` (or a tab or
    carriage return) gets a ``'`` first."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.get(API + "/figures")
@allow(*CASE_ROLES)
def figures():
    """The side panel and the choropleth, for the filters (not the map's area): figures
    per grid and per category, the oldest overdue open cases, the newest: 200; 400; 403."""
    flt = replace(case_filter(), bbox=None)
    store, now = service().store, flt.now
    per_grid = store.grid_figures(flt, now)
    per_category = store.count_by(flt, by=("category",), tz=community().calendar.timezone)
    oldest, _ = store.find(open_only(flt), "reported_at", SIDE_ROWS, 0)
    newest, total = store.find(flt, "-reported_at", SIDE_ROWS, 0)
    return jsonify({
        "total": total,
        "grids": [{"code": code, "name": name_of(community().grids[code]), **per_grid[code]}
                  for code in (flt.grid_codes or community().grids.codes) if code in per_grid],
        "categories": sorted(({"code": r["category"],
                               "name": name_of(community().category(r["category"])),
                               "count": r["count"]} for r in per_category),
                             key=lambda r: -r["count"]),
        "oldest_overdue": [dict(row(f, now), clock=late_clock(f["properties"], now, flt.overdue))
                           for f in oldest],
        "newest": [row(f, now) for f in newest]})


@bp.get(API + "/frames")
@allow(*CASE_ROLES)
def frames():
    """The time slider's frames: each day or week (``step``) of the filter's period (the
    last :data:`DEFAULT_DAYS` days without one) with its count of matching cases in
    ``bbox``: 200; 400; 403."""
    step = parse_step(request.args)
    flt = case_filter()
    tz = flt.now.tzinfo
    until = (flt.until.astimezone(tz) - timedelta(microseconds=1)).date() if flt.until \
        else flt.now.date()
    since = flt.since.astimezone(tz).date() if flt.since else until - timedelta(DEFAULT_DAYS - 1)
    width = timedelta(7 if step == "week" else 1)
    start = since - timedelta(since.weekday()) if step == "week" else since
    starts = []
    while start <= until and len(starts) < MAX_FRAMES:
        starts.append(start)
        start += width
    if not starts:  # a period that begins after today
        return jsonify({"step": step, "frames": []})
    first, end = _midnight(starts[0], tz), _midnight(start, tz)
    within = replace(flt, since=max(flt.since or first, first), until=min(flt.until or end, end))
    counts = {period_start(r[step], step): r["count"]
              for r in service().store.count_by(within, by=(step,),
                                                tz=community().calendar.timezone)}
    return jsonify({"step": step, "frames": [
        {"since": s.isoformat(), "until": (s + width - timedelta(1)).isoformat(),
         "count": counts.get(s, 0)} for s in starts]})


def period_start(key, step):
    """The first day of a :meth:`count_by` period: ``"2026-03-01"`` (a day) or
    ``"2026-W09"`` (an ISO week)."""
    if step == "week":
        year, week = key.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    return date.fromisoformat(key)


def _midnight(day, tz):
    return datetime(day.year, day.month, day.day, tzinfo=tz)


@bp.get(API + "/live")
@allow(*CASE_ROLES)
def live():
    """What changed, cheaply, for a console polling every :data:`POLL_MS`: the newest
    case number the caller may see and how many cases they see: 200."""
    flt = parse_filter({}, community(), console_now(), visible_grids())
    items, total = service().store.find(flt, "-case_no", 1, 0)
    return jsonify({"latest": items[0]["properties"]["case_no"] if items else 0,
                    "total": total})
