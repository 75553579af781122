"""The grid overview map: every grid with its code, name and 1+3+N team."""

import html

import folium
from branca.element import MacroElement
from folium.template import Template

from gridmap.maps.frame import DECIMALS

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
           "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def grid_features(community, frame, lang="zh", teams=True):
    """GeoJSON features for the map (drawn in ``frame``), every text property HTML-escaped.

    Folium's tooltips insert property values as HTML, so nothing reaches
    them unescaped (a planner's grid name could hold markup). Without
    ``teams`` (a map without tooltips shows none) the features leave them out.
    """
    features = []
    for i, grid in enumerate(community.grids):
        name = grid.name if lang == "zh" or not grid.name_en else grid.name_en
        properties = {"grid_code": html.escape(grid.code), "name": html.escape(name),
                      "color": PALETTE[i % len(PALETTE)]}
        if teams:
            properties["team"] = "<br>".join(
                html.escape(line) for line in community.teams[grid.code].summary_lines(lang))
        features.append({"type": "Feature", "geometry": frame.geometry(grid.geometry, DECIMALS),
                         "properties": properties})
    return features


class GridLabels(MacroElement):
    """Each grid's short code at a point inside it, in one script.

    ``labels``: ``[[lat, lon, html], ...]``. (folium's ``Marker`` with a ``DivIcon`` adds
    Leaflet's default marker first, which fetches its two images, then swaps the icon;
    and it repeats the same half kilobyte of script for every grid.)
    """

    _template = Template("""
{% macro script(this, kwargs) %}
{{ this.labels | tojson }}.forEach(function (l) {
  L.marker([l[0], l[1]], {interactive: false, icon: L.divIcon({
    html: l[2], iconSize: [24, 24], iconAnchor: [12, 12], className: "grid-label-icon"})
  }).addTo({{ this._parent.get_name() }});
});
{% endmacro %}""")

    def __init__(self, labels):
        super().__init__()
        self._name = "GridLabels"
        self.labels = labels


def build_grids_map(community, *, frame, labels, tooltips=True):
    """A folium map of all grids; hovering a grid shows code, name and team.

    Parameters
    ----------
    community : gridmap.datafolder.Community
    frame : gridmap.maps.frame.MapFrame
        Tiles (the only remote resource) and the datum the grids are drawn in.
    labels : dict
        Tooltip labels and layer name in the page's language:
        keys ``code``, ``name``, ``team``, ``layer``, ``lang``.
    tooltips : bool
        Hover tooltips with code, name and team (off where taps pick a spot).
    """
    x0, y0, x1, y1 = community.grids.bounds
    fmap = frame.new_map((x0 + x1) / 2, (y0 + y1) / 2, zoom_start=15)
    folium.GeoJson(
        {"type": "FeatureCollection",
         "features": grid_features(community, frame, labels["lang"], teams=tooltips)},
        name=labels["layer"],
        style_function=lambda f: {"fillColor": f["properties"]["color"], "color": "#333",
                                  "weight": 1.5, "fillOpacity": 0.35},
        highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.6},
        tooltip=folium.GeoJsonTooltip(
            fields=["grid_code", "name", "team"],
            aliases=[labels["code"], labels["name"], labels["team"]],
            sticky=True, style="max-width: 20rem; white-space: normal;") if tooltips else None,
    ).add_to(fmap)
    spots = [(grid, grid.geometry.representative_point()) for grid in community.grids]
    GridLabels([[*(round(v, DECIMALS) for v in frame.latlng(spot.x, spot.y)),
                 f'<span class="grid-label">{html.escape(grid.code[-3:])}</span>']
                for grid, spot in spots]).add_to(fmap)
    fmap.fit_bounds(frame.bounds(x0, y0, x1, y1))
    return fmap


def embed(fmap):
    """Split a folium map into the parts a Jinja page places itself.

    Returns ``(head, body, script)`` HTML strings. The script goes without folium's
    indentation and blank lines (a third of its bytes; no JavaScript string in it
    spans lines: folium writes data as JSON).
    """
    root = fmap.get_root()
    root.render()
    script = "\n".join(line.strip() for line in root.script.render().splitlines() if line.strip())
    return root.header.render(), root.html.render(), script
