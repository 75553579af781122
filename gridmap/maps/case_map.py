"""A case's map: where it is, its grid's boundary, and nearby cases linking to theirs."""

import html

import folium
import shapely

CASE_COLOUR, NEARBY_COLOUR, GRID_COLOUR = "#b22222", "#1f5fa8", "#333"


def build_case_map(grid, lon, lat, *, frame, nearby=()):
    """A folium map of one case in its grid.

    Parameters
    ----------
    grid : gridmap.geo.grids.Grid
        The case's grid; its boundary is drawn.
    lon, lat : float
        The case's location (WGS 84).
    frame : gridmap.maps.frame.MapFrame
        Tiles and the datum everything is drawn in.
    nearby : iterable of dict
        Other cases to mark, each with ``lon``, ``lat``, ``url`` and ``label`` (plain
        text: it is escaped here); a marker's popup links to ``url``.
    """
    fmap = frame.new_map(lon, lat, zoom_start=17)
    folium.GeoJson(frame.geometry(grid.geometry),
                   style_function=lambda f: {"color": GRID_COLOUR, "weight": 2,
                                             "fillColor": "#4e79a7", "fillOpacity": 0.12},
                   ).add_to(fmap)
    points = [{"type": "Feature", "geometry": frame.geometry(shapely.Point(o["lon"], o["lat"])),
               "properties": {"link": f'<a href="{html.escape(o["url"])}">'
                                      f'{html.escape(o["label"])}</a>'}} for o in nearby]
    if points:  # GeoJsonPopup inserts the link as HTML (folium's Popup would need jQuery)
        folium.GeoJson({"type": "FeatureCollection", "features": points},
                       marker=folium.CircleMarker(radius=7, color=NEARBY_COLOUR, weight=2,
                                                  fill=True, fill_opacity=0.6),
                       popup=folium.GeoJsonPopup(fields=["link"], labels=False),
                       ).add_to(fmap)
    folium.CircleMarker(frame.latlng(lon, lat), radius=10, color=CASE_COLOUR, weight=3, fill=True,
                        fill_opacity=0.5, interactive=False).add_to(fmap)
    x0, y0, x1, y1 = grid.geometry.bounds  # widened to the case (a snapped one lies outside)
    x0, y0, x1, y1 = min(x0, lon), min(y0, lat), max(x1, lon), max(y1, lat)
    fmap.fit_bounds(frame.bounds(x0, y0, x1, y1), max_zoom=18)
    return fmap
