"""The grid overview map: every grid with its code, name and 1+3+N team."""

import html

import folium
import shapely

from gridmap.maps.assets import use_local_assets

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
           "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def grid_features(community, lang="zh"):
    """GeoJSON features for the map, every text property HTML-escaped.

    Folium's tooltips insert property values as HTML, so nothing reaches
    them unescaped (a planner's grid name could hold markup).
    """
    features = []
    for i, grid in enumerate(community.grids):
        team = community.teams[grid.code]
        name = grid.name if lang == "zh" or not grid.name_en else grid.name_en
        features.append({
            "type": "Feature",
            "geometry": shapely.geometry.mapping(grid.geometry),
            "properties": {
                "grid_code": html.escape(grid.code),
                "name": html.escape(name),
                "team": "<br>".join(html.escape(line) for line in team.summary_lines(lang)),
                "color": PALETTE[i % len(PALETTE)],
            },
        })
    return features


def build_grids_map(community, *, tiles, attribution, assets_url, labels, tooltips=True):
    """A folium map of all grids; hovering a grid shows code, name and team.

    Parameters
    ----------
    community : gridmap.datafolder.Community
    tiles, attribution : str
        Tile URL template and its attribution (the only remote resource).
    assets_url : str
        Where the app serves the npm-installed assets (e.g. ``/assets``).
    labels : dict
        Tooltip labels and layer name in the page's language:
        keys ``code``, ``name``, ``team``, ``layer``, ``lang``.
    tooltips : bool
        Hover tooltips with code, name and team (off where taps pick a spot).
    """
    x0, y0, x1, y1 = community.grids.bounds
    fmap = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=15,
                      tiles=None, control_scale=True)
    use_local_assets(fmap, assets_url)
    folium.TileLayer(tiles=tiles, attr=attribution, max_zoom=19).add_to(fmap)
    folium.GeoJson(
        {"type": "FeatureCollection", "features": grid_features(community, labels["lang"])},
        name=labels["layer"],
        style_function=lambda f: {"fillColor": f["properties"]["color"], "color": "#333",
                                  "weight": 1.5, "fillOpacity": 0.35},
        highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.6},
        tooltip=folium.GeoJsonTooltip(
            fields=["grid_code", "name", "team"],
            aliases=[labels["code"], labels["name"], labels["team"]],
            sticky=True, style="max-width: 20rem; white-space: normal;") if tooltips else None,
    ).add_to(fmap)
    for grid in community.grids:
        spot = grid.geometry.representative_point()
        folium.Marker(
            [spot.y, spot.x], interactive=False,
            icon=folium.DivIcon(html=f'<span class="grid-label">{html.escape(grid.code[-3:])}</span>',
                                icon_size=(24, 24), icon_anchor=(12, 12), class_name="grid-label-icon"),
        ).add_to(fmap)
    fmap.fit_bounds([[y0, x0], [y1, x1]])
    return fmap


def embed(fmap):
    """Split a folium map into the parts a Jinja page places itself.

    Returns ``(head, body, script)`` HTML strings.
    """
    root = fmap.get_root()
    root.render()
    return root.header.render(), root.html.render(), root.script.render()
