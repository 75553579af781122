"""Configuration: defaults, then ``GRIDMAP_*`` environment variables, then a mapping.

Every key is checked here, so a bad value stops startup with a message
naming the key, the value and what is allowed.
"""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from gridmap.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

#: key -> (default, type, description)
SETTINGS = {
    "DATA_DIR": (str(ROOT / "instance" / "data"), str,
                 "data folder; created from geodata/ on first start"),
    "COUNTY_CODE": ("500114", str, "6-digit county code (黔江区 500114)"),
    "SUBDISTRICT_CODE": ("005", str, "3-digit subdistrict code (舟白街道; unpublished, sources say 005 or 004)"),
    "COMMUNITY_CODE": ("001", str, "3-digit community code (路东社区; unpublished placeholder)"),
    "SNAP_TOLERANCE_M": (50.0, float, "points this close outside a grid are snapped to it"),
    "EDIT_SNAP_M": (2.0, float, "the grid editor snaps points this close (metres) to a vertex "
                    "or an edge, exactly (docs/editor.md)"),
    "TILES": ("osm", str, "map tiles: osm, tianditu-vector, tianditu-imagery, amap (GCJ-02), "
              "none (grids only, offline), or a tile URL template"),
    "TILES_DATUM": ("", str, "datum a custom TILES URL draws in: wgs84 (default, also "
                    "cgcs2000) or gcj02; presets know their own"),
    "TILES_ATTRIBUTION": ("", str, "a custom TILES URL's attribution (HTML; default: "
                          "OpenStreetMap contributors); with a preset, added to its own"),
    "TILES_SUBDOMAINS": ("abc", str, "the values of {s} in a custom TILES URL, one character each"),
    "TIANDITU_KEY": ("", str, "Tianditu (天地图) developer key, needed by the tianditu presets"),
    "ASSETS_DIR": (str(ROOT / "node_modules"), str, "npm-installed front-end packages"),
    "SECRET_KEY": ("", str, "signs session cookies; empty: a random key kept in DATA_DIR/secret_key"),
    "COOKIE_SECURE": (False, bool, "send session cookies over HTTPS only (set when served over HTTPS)"),
    "SESSION_IDLE_MINUTES": (480, int, "a staff session ends after this long unused"),
    "SIGNIN_MAX_FAILURES": (5, int, "failed sign-ins for one account before it is locked for a while"),
    "SIGNIN_LOCK_SECONDS": (900, int, "how long that lock lasts"),
    "SIGNIN_IP_LIMIT": (30, int, "sign-in attempts per client address per 5 minutes (a burst of "
                        "this many, then one per 5 min / limit)"),
    "REPORT_IP_LIMIT": (20, int, "anonymous reports (and ratings) per client address per 10 minutes "
                        "(a burst of this many, then one per 10 min / limit)"),
    "PROXY_HOPS": (0, int, "reverse proxies in front of the service (one nginx: 1); their "
                   "X-Forwarded-For and X-Forwarded-Proto are trusted, so rate limits and the "
                   "audit log see the client's address; 0: the socket's address, headers ignored"),
    "CLIENT_TIMEOUT_SECONDS": (20, int, "a client gets this long to send a request's headers "
                               "(and to idle between requests), three times as long for its "
                               "body and to take the answer; then it is disconnected"),
    "OPEN311_API_KEYS": ("", str, "comma-separated keys an Open311 client must send as api_key "
                         "to POST requests; empty: POST needs no key"),
    "COMPRESS": (True, bool, "gzip pages, JSON answers and front-end files for clients that "
                 "accept it; off: everything is sent as it is (a proxy in front compresses)"),
    "PUBLIC_URL": ("", str, "the address clients reach the service at, e.g. "
                   "https://grid.example.cn (Open311 discovery names it); empty: see README"),
}
MAX_PROXY_HOPS = 5
MAX_EDIT_SNAP_M = 100.0
DIGITS = {"COUNTY_CODE": 6, "SUBDISTRICT_CODE": 3, "COMMUNITY_CODE": 3}
#: a host name or address, and an optional port: what a URL's authority may be here
HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]"
                  r"{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
URL_PATH = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*")


def load_config(mapping=None, environ=None):
    """Return the checked configuration as a dict.

    Parameters
    ----------
    mapping : dict, optional
        Values that win over the environment (e.g. from tests).
    environ : dict, optional
        Defaults to ``os.environ``; only ``GRIDMAP_<KEY>`` entries are read.
    """
    environ = os.environ if environ is None else environ
    config = {key: default for key, (default, _, _) in SETTINGS.items()}
    for key in SETTINGS:
        if f"GRIDMAP_{key}" in environ:
            config[key] = environ[f"GRIDMAP_{key}"]
    for key, value in (mapping or {}).items():
        config[key] = value
    for key, (_, kind, _) in SETTINGS.items():
        config[key] = _coerce(key, config[key], kind)
    for key in ("SESSION_IDLE_MINUTES", "SIGNIN_MAX_FAILURES", "SIGNIN_LOCK_SECONDS",
                "SIGNIN_IP_LIMIT", "REPORT_IP_LIMIT", "CLIENT_TIMEOUT_SECONDS"):
        if config[key] < 1:
            raise ConfigError("error.config.not_positive", key=key, value=repr(config[key]))
    if not 0 <= config["PROXY_HOPS"] <= MAX_PROXY_HOPS:
        raise ConfigError("error.config.bad_proxy_hops", high=MAX_PROXY_HOPS,
                          value=repr(config["PROXY_HOPS"]))
    keys = config["OPEN311_API_KEYS"]
    if keys.strip() and not any(k.strip() for k in keys.split(",")):
        raise ConfigError("error.config.no_api_key", value=repr(keys))
    config["PUBLIC_URL"] = _public_url(config["PUBLIC_URL"])
    for key, width in DIGITS.items():
        value = config[key]
        if not (value.isdigit() and len(value) == width):
            raise ConfigError("error.config.bad_digits", key=key, width=width, value=repr(value))
    if config["SNAP_TOLERANCE_M"] < 0 or config["SNAP_TOLERANCE_M"] != config["SNAP_TOLERANCE_M"]:
        raise ConfigError("error.config.bad_tolerance", value=repr(config["SNAP_TOLERANCE_M"]))
    snap = config["EDIT_SNAP_M"]
    if not (0 < snap <= MAX_EDIT_SNAP_M):  # also NaN
        raise ConfigError("error.config.bad_edit_snap", high=MAX_EDIT_SNAP_M, value=repr(snap))
    from gridmap.maps.tiles import tile_source  # it checks hosts with HOST, from here

    config["MAP_TILES"] = tile_source(config)
    return config


def _public_url(value):
    """An absolute http(s) URL without user, query or fragment, kept without its final ``/``."""
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        ok = parts.port is None or parts.port > 0  # .port raises for one out of range
    except ValueError:
        ok = False
    if not (ok and parts.scheme in ("http", "https") and HOST.fullmatch(parts.netloc)
            and URL_PATH.fullmatch(parts.path) and "?" not in value and "#" not in value):
        raise ConfigError("error.config.bad_public_url", value=repr(value))
    return value.rstrip("/")


def _coerce(key, value, kind):
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    try:
        if isinstance(value, bool):
            raise TypeError
        if kind is bool:
            return {"1": True, "true": True, "yes": True, "on": True,
                    "0": False, "false": False, "no": False, "off": False}[str(value).lower()]
        return kind(value)
    except (TypeError, ValueError, KeyError):
        raise ConfigError("error.config.bad_type", key=key, type=kind.__name__,
                          value=repr(value)) from None
