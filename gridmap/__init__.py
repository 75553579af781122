"""gridmap: geospatial grid mapping for community grid management (网格化管理).

The package is layered; imports only go downwards:

- ``gridmap.geo``: grids, checks, routing, datums (shapely/numpy, no Flask)
- ``gridmap.cases``: categories and (later) the case workflow (no Flask)
- ``gridmap.maps``: folium map builders
- ``gridmap.web``: the Flask app factory and blueprints
- ``gridmap.cli``: the ``gridmap`` command

Nothing is built at import time: call :func:`gridmap.web.create_app`.
"""

__version__ = "0.1.0"
