"""The map shell of the dispatcher's console: tiles, the grids it colours, no data.

Every case-derived layer (heat, clusters, overdue cases, the grid colours) is drawn by
the console's script (``console.js``) from JSON, so the page's size does not depend
on the number of cases.
"""

import folium

from gridmap.maps.frame import DECIMALS


CONSOLE_STYLE = {"fillColor": "#cccccc", "color": "#555", "weight": 1.2, "fillOpacity": 0.25}


def build_console_map(grids, *, frame, style=CONSOLE_STYLE):
    """A folium map of ``grids`` (a list of :class:`~gridmap.geo.grids.Grid`) drawn in
    ``frame`` with the Leaflet path ``style``, each feature carrying only its
    ``grid_code``; returns ``(map, name of the grid layer's JavaScript variable)`` for a
    page's script to colour, label or redraw (the console's, the planner's editor's)."""
    x0 = min(gr.geometry.bounds[0] for gr in grids)
    y0 = min(gr.geometry.bounds[1] for gr in grids)
    x1 = max(gr.geometry.bounds[2] for gr in grids)
    y1 = max(gr.geometry.bounds[3] for gr in grids)
    fmap = frame.new_map((x0 + x1) / 2, (y0 + y1) / 2, zoom_start=15)
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"grid_code": gr.code},
             "geometry": frame.geometry(gr.geometry, DECIMALS)} for gr in grids]},
        style_function=lambda f: style,
        control=False)
    layer.add_to(fmap)
    fmap.fit_bounds(frame.bounds(x0, y0, x1, y1))
    return fmap, layer.get_name()
