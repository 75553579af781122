"""The planner's editor: ``/planning``, a map page whose data comes from the planning API.

The page is a folium map shell (tiles, the active generation's grids with their
codes) with the editor's script (``planning.js``); the grids it edits, the check
report, the preview and the generations all come from ``/api/planning/...``, and
every answer of an edit redraws the map from the FeatureCollection the server
returns (the server is the source of truth). Planners only; every other role
gets a 403. See docs/editor.md, "The page".
"""

from flask import Blueprint, current_app, g

from gridmap.maps.assets import PLANNING_JS
from gridmap.maps.console_map import build_console_map
from gridmap.web.access import allow
from gridmap.web.assets import assets_url
from gridmap.web.i18n import name_of, page_texts
from gridmap.web.pages import map_settings, render_with_map
from gridmap.web.planning_api import PLANNER

bp = Blueprint("planning_page", __name__)
API = "/api/planning"
#: texts the editor's script shows (from the catalog, in the page's language)
TEXTS = (
    "colon", "list_sep", "vacant", "loading", "load_failed", "grid", "name",
    "pl_active", "pl_draft", "pl_generation_n", "pl_none", "pl_grids_count", "pl_edits_count",
    "pl_saved",
    "pl_select_first", "pl_select_two", "pl_draw_hint", "pl_draw_polygon_hint",
    "pl_vertex_hint", "pl_confirm_remove", "pl_confirm_discard", "pl_confirm_publish",
    "pl_confirm_rollback", "pl_no_problems", "pl_problems_count", "pl_fix", "pl_uploaded",
    "pl_discarded", "pl_published", "pl_rolled_back", "pl_refused", "pl_team_from",
    "pl_new_grid", "pl_outside", "pl_moves_total", "pl_marked", "pl_ratio", "pl_no_draft",
    "pl_preview_of", "pl_case_no", "pl_from", "pl_to", "pl_all", "pl_open", "pl_area_change",
    "pl_workload", "pl_generation", "pl_status_published", "pl_status_draft",
    "pl_generation_active", "pl_moved_cases", "pl_cannot_route", "pl_slots_vacant",
    "pl_team_full", "pl_pick_grid", "pl_teams_saved", "pl_diff_legend")


def map_shell(grids):
    """A folium map of ``grids`` (the active generation) drawn in the page's frame, each
    feature carrying its ``grid_code``; returns ``(map, name of the grid layer)``: the
    editor's script labels it and redraws it from each answer of the API."""
    return build_console_map(grids, frame=map_settings()["frame"], style={
        "fillColor": "#9ecae1", "color": "#08519c", "weight": 1.5, "fillOpacity": 0.2})


def team_summaries(community):
    """Every known grid's team as the side panel shows it: head's name, vacant slots."""
    teams = {}
    for code, team in community.teams.items():
        slots = team.slots()
        teams[code] = {"head": team.head.name if team.head else None,
                       "vacant": sum(1 for *_, m in slots if m is None), "slots": len(slots)}
    return teams


@bp.get("/planning")
@allow(PLANNER)
def editor():
    """The editor: 200 for planners."""
    community = current_app.extensions["gridmap"]
    grids = list(community.grids)
    fmap, layer = map_shell(grids)
    config = {"map": fmap.get_name(), "grids_layer": layer, "api": API, "lang": g.lang,
              "active": community.generation,
              "names": {gr.code: name_of(gr) for gr in grids},
              "teams": team_summaries(community)}
    return render_with_map("planning/editor.html", fmap, config=config,
                           texts=page_texts(*TEXTS), assets=assets_url(),
                           planning_js=PLANNING_JS)
