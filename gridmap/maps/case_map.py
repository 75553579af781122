"""A case's map: where it is, its grid's boundary, and nearby cases linking to theirs."""

import html

import folium
import shapely

from gridmap.maps.assets import use_local_assets

CASE_COLOUR, NEARBY_COLOUR, GRID_COLOUR = "#b22222", "#1f5fa8", "#333"


def build_case_map(grid, lon, lat, *, tiles, attribution, assets_url, nearby=()):
    """A folium map of one case in its grid.

    Parameters
    ----------
    grid : gridmap.geo.grids.Grid
        The case's grid; its boundary is drawn.
    lon, lat : float
        The case's location (WGS 84).
    tiles, attribution, assets_url : str
        As for :func:`gridmap.maps.grids_map.build_grids_map`.
    nearby : iterable of dict
        Other cases to mark, each with ``lon``, ``lat``, ``url`` and ``label`` (plain
        text: it is escaped here); a marker's popup links to ``url``.
    """
    fmap = folium.Map(location=[lat, lon], zoom_start=17, tiles=None, control_scale=True)
    use_local_assets(fmap, assets_url)
    folium.TileLayer(tiles=tiles, attr=attribution, max_zoom=19).add_to(fmap)
    folium.GeoJson(shapely.geometry.mapping(grid.geometry),
                   style_function=lambda f: {"color": GRID_COLOUR, "weight": 2,
                                             "fillColor": "#4e79a7", "fillOpacity": 0.12},
                   ).add_to(fmap)
    points = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [o["lon"], o["lat"]]},
               "properties": {"link": f'<a href="{html.escape(o["url"])}">'
                                      f'{html.escape(o["label"])}</a>'}} for o in nearby]
    if points:  # GeoJsonPopup inserts the link as HTML (folium's Popup would need jQuery)
        folium.GeoJson({"type": "FeatureCollection", "features": points},
                       marker=folium.CircleMarker(radius=7, color=NEARBY_COLOUR, weight=2,
                                                  fill=True, fill_opacity=0.6),
                       popup=folium.GeoJsonPopup(fields=["link"], labels=False),
                       ).add_to(fmap)
    folium.CircleMarker([lat, lon], radius=10, color=CASE_COLOUR, weight=3, fill=True,
                        fill_opacity=0.5, interactive=False).add_to(fmap)
    x0, y0, x1, y1 = grid.geometry.bounds  # widened to the case (a snapped one lies outside)
    x0, y0, x1, y1 = min(x0, lon), min(y0, lat), max(x1, lon), max(y1, lat)
    fmap.fit_bounds([[y0, x0], [y1, x1]], max_zoom=18)
    return fmap
