"""Where map tiles come from: a preset or a custom URL template, checked at start-up.

A :class:`TileSource` names the tile layers (a base layer and, for Tianditu, its
annotation layer in the page's language), their attribution, the highest zoom, the
datum the tiles are drawn in (``gcj02`` for Amap: overlays are shifted for display,
see :mod:`gridmap.maps.frame`) and the origins a page loads them from (the CSP's
``img-src``). ``none`` has no layer at all: the grids alone, offline.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gridmap.config import HOST
from gridmap.errors import BadInput, ConfigError
from gridmap.geo.datums import normalize_datum

OSM_ATTRIBUTION = ('&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
                   'contributors')
TIANDITU_ATTRIBUTION = '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>'
AMAP_ATTRIBUTION = '&copy; <a href="https://www.amap.com/">高德地图</a> AutoNavi'
#: Tianditu's WMTS in Web Mercator ("_w"); ``layer`` is vec/cva/eva or img/cia/eia
_TIANDITU = ("https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
             "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
             "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}")
_TIANDITU_LAYERS = {"tianditu-vector": ("vec", {"zh": "cva", "en": "eva"}),
                    "tianditu-imagery": ("img", {"zh": "cia", "en": "eia"})}
PRESETS = ("osm", "tianditu-vector", "tianditu-imagery", "amap", "none")
CUSTOM_MAX_ZOOM = 19
#: what Leaflet fills into a URL template; {z}, {x} and {y} are needed
_PLACEHOLDERS = {"s", "z", "x", "y", "r", "-y"}
_TEMPLATE = re.compile(r"[A-Za-z0-9._~!$&()*+,;=:@%/?{}\[\]-]+")
_KEY = re.compile(r"[A-Za-z0-9]{8,64}")
_SUBDOMAINS = re.compile(r"[A-Za-z0-9]{1,26}")


@dataclass(frozen=True)
class TileLayer:
    """One Leaflet tile layer: a URL template and the values of its ``{s}``."""

    url: str
    subdomains: str = ""

    def origins(self):
        """``scheme://host[:port]`` of every host the layer loads from (none if same-origin)."""
        parts = urlsplit(self.url)
        if not parts.netloc:
            return []
        hosts = ([parts.netloc.replace("{s}", s) for s in self.subdomains]
                 if "{s}" in parts.netloc else [parts.netloc])
        return [f"{parts.scheme}://{host}" for host in hosts]


@dataclass(frozen=True)
class TileSource:
    """A checked tile setting (see :func:`tile_source`)."""

    name: str                       # a preset, or "custom"
    datum: str                      # what the tiles are drawn in: "wgs84" or "gcj02"
    attribution: str = ""
    max_zoom: int = CUSTOM_MAX_ZOOM
    base: TileLayer = None          # None: no tiles (preset "none")
    labels: dict = field(default_factory=dict)  # language -> annotation layer

    def layers(self, lang):
        """The layers a page in ``lang`` draws, bottom first."""
        return [layer for layer in (self.base, self.labels.get(lang, self.labels.get("zh")))
                if layer is not None]

    def origins(self):
        """Every origin any page may load tiles from, sorted (the CSP's ``img-src``)."""
        layers = [self.base, *self.labels.values()] if self.base else []
        return sorted({o for layer in layers for o in layer.origins()})


def tile_source(config):
    """Check ``TILES`` and the settings that go with it; return a :class:`TileSource`.

    Parameters
    ----------
    config : dict
        ``TILES`` (a preset from :data:`PRESETS` or a URL template), ``TILES_DATUM``,
        ``TILES_ATTRIBUTION``, ``TILES_SUBDOMAINS`` and ``TIANDITU_KEY``.

    Raises
    ------
    ConfigError
        Naming the setting at fault and what it may be.
    """
    value = config["TILES"].strip()
    if "{" not in value:
        source = _preset(value.lower(), config)
        datum = _datum(config["TILES_DATUM"], default=source.datum)
        if datum != source.datum:
            raise ConfigError("error.tiles.datum_not_preset", preset=source.name,
                              datum=source.datum, value=repr(config["TILES_DATUM"][:60]),
                              field="TILES_DATUM")
        return source
    return TileSource(
        "custom", _datum(config["TILES_DATUM"], default="wgs84"),
        config["TILES_ATTRIBUTION"].strip() or OSM_ATTRIBUTION,
        base=TileLayer(_template(value), _subdomains(config["TILES_SUBDOMAINS"])))


def _preset(name, config):
    extra = config["TILES_ATTRIBUTION"].strip()  # e.g. the map's review number (审图号)

    def credit(own):
        return f"{own} {extra}" if extra else own

    if name == "osm":
        return TileSource(name, "wgs84", credit(OSM_ATTRIBUTION), 19,
                          TileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png"))
    if name == "amap":
        return TileSource(name, "gcj02", credit(AMAP_ATTRIBUTION), 18, TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}", "1234"))
    if name in _TIANDITU_LAYERS:
        key = _tianditu_key(config["TIANDITU_KEY"], name)
        base, labels = _TIANDITU_LAYERS[name]
        return TileSource(  # CGCS2000 is within centimetres of WGS 84
            name, "wgs84", credit(TIANDITU_ATTRIBUTION), 18,
            TileLayer(_TIANDITU.format(layer=base, key=key), "01234567"),
            {lang: TileLayer(_TIANDITU.format(layer=layer, key=key), "01234567")
             for lang, layer in labels.items()})
    if name == "none":
        return TileSource(name, "wgs84")
    shown = repr(name) if len(name) <= 60 else repr(name[:57] + "...")
    raise ConfigError("error.tiles.bad_preset", allowed=list(PRESETS), value=shown,
                      field="TILES")


def _tianditu_key(key, preset):
    key = key.strip()
    if not key:
        raise ConfigError("error.tiles.no_tianditu_key", preset=preset, field="TIANDITU_KEY")
    if not _KEY.fullmatch(key):
        raise ConfigError("error.tiles.bad_tianditu_key", field="TIANDITU_KEY")
    return key


def _datum(value, default):
    if not value.strip():
        return default
    try:
        datum = normalize_datum(value)
    except BadInput:
        datum = None
    if datum not in ("wgs84", "gcj02"):  # Baidu's tiles have a tiling of their own
        raise ConfigError("error.tiles.bad_datum", value=repr(value[:60]), field="TILES_DATUM")
    return datum


def _template(url):
    parts = urlsplit(url) if _TEMPLATE.fullmatch(url) else None
    names = set(re.findall(r"\{([^{}]*)\}", url))
    where_ok = parts is not None and (
        (parts.scheme in ("http", "https") and HOST.fullmatch(parts.netloc.replace("{s}", "a")))
        or (not parts.scheme and not parts.netloc and url.startswith("/")))
    if not (where_ok and {"z", "x"} <= names <= _PLACEHOLDERS and names & {"y", "-y"}
            and url.count("{") == url.count("}") == len(re.findall(r"\{[^{}]*\}", url))):
        shown = repr(url) if len(url) <= 80 else repr(url[:77] + "...")
        raise ConfigError("error.tiles.bad_template", value=shown, field="TILES")
    return url


def _subdomains(value):
    value = value.strip()
    if not _SUBDOMAINS.fullmatch(value):
        raise ConfigError("error.tiles.bad_subdomains", value=repr(value[:40]),
                          field="TILES_SUBDOMAINS")
    return value
