"""Geometry and coordinates: grids, checks, routing, datums (no Flask).

Everything inside is WGS 84 (EPSG:4326), in the order lon, lat; other datums
are converted at the edges with :mod:`gridmap.geo.datums`.
"""
