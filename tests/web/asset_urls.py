"""Where a running server serves Leaflet, as its pages say (the URL carries a version)."""

import re
import urllib.request

LEAFLET_JS = re.compile(r'/assets/[0-9a-f]{8}/leaflet/dist/leaflet\.js')


def leaflet_js_path(url):
    """The path of ``leaflet.js`` in the grid map page of the server at ``url``."""
    with urllib.request.urlopen(url + "/") as r:
        return LEAFLET_JS.search(r.read().decode())[0]
