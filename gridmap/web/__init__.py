"""The Flask app factory. Nothing is built at import time."""

import logging
from functools import partial
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from gridmap.config import ROOT, load_config
from gridmap.audit import AuditLog
from gridmap.auth.accounts import AccountStore
from gridmap.auth.throttle import Throttle
from gridmap.cases.photos import referenced_ids
from gridmap.cases.service import CaseService, clock_columns
from gridmap.datafolder import load_community, secret_key
from gridmap.diskspace import DiskWatch
from gridmap.errors import ConfigError
from gridmap.maps.assets import LEAFLET_HEAT_JS, LEAFLET_JS
from gridmap.photos import PhotoStore
from gridmap.photos.sweeper import sweep_if_due
from gridmap.store.geojsonseq import GeoJSONSeqStore
from gridmap.web import uploads
from gridmap.web.jsonanswer import AnswerJSONProvider

log = logging.getLogger(__name__)


def create_app(config=None):
    """Build the app: defaults, then ``GRIDMAP_*`` env vars, then ``config``.

    Raises
    ------
    ConfigError
        Bad settings, a missing or invalid grid file, missing front-end assets.
    """
    app = Flask("gridmap", template_folder=str(ROOT / "templates"),
                instance_path=str(ROOT / "instance"), static_folder=None)
    app.json = AnswerJSONProvider(app)
    app.request_class = uploads.Request  # the body limit of the view asked
    app.config.update(load_config(config))
    app.url_map.merge_slashes = False  # "a//b" is a 404, not a redirect to "a/b"
    for name in (LEAFLET_JS, LEAFLET_HEAT_JS):
        if not (Path(app.config["ASSETS_DIR"]) / name).is_file():
            raise ConfigError("error.web.assets_missing", path=f"{app.config['ASSETS_DIR']}/{name}")
    community = load_community(app.config)
    app.extensions["gridmap"] = community
    data_dir = community.data_dir
    app.secret_key = app.config["SECRET_KEY"] or secret_key(data_dir)
    app.extensions["gridmap.accounts"] = AccountStore(
        data_dir / "accounts.sqlite3", idle_timeout_s=app.config["SESSION_IDLE_MINUTES"] * 60)
    app.extensions["gridmap.throttle"] = Throttle(data_dir / "throttle.sqlite3")
    app.extensions["gridmap.audit"] = AuditLog(data_dir / "audit.jsonl")
    store = GeoJSONSeqStore(data_dir / "cases", clocks=clock_columns(community))
    app.extensions["gridmap.cases"] = CaseService(store, community, photos=PhotoStore(data_dir))
    cases = app.extensions["gridmap.cases"]
    # gridmap serve's workers call this now and then (server/worker.py): photos no case names
    app.extensions["gridmap.photo_sweep"] = partial(
        sweep_if_due, cases.photos, lambda: referenced_ids(cases.store.all()))
    app.extensions["gridmap.disks"] = DiskWatch({"store": data_dir / "cases", "accounts": data_dir})
    # a report is text, bigger bodies get a 413; views that take photos allow more (uploads.py)
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    app.extensions["gridmap.body_limit"] = partial(uploads.body_limit, app)  # for the server

    from gridmap.web import (access, admin, admin_audit, admin_users, api, assets, auth, body,
                             case_pages, cases_api, compression, demo, dispatch, durability,
                             errors, i18n, open311, pages, photo_views, planning_api,
                             planning_page, security, staff_pages)

    # read (and gzipped) once: URLs carry their version, answers need no disk
    app.extensions["gridmap.assets"] = assets.AssetFiles(app.config["ASSETS_DIR"],
                                                         compress=app.config["COMPRESS"])

    # order matters: identify and authorise the caller before checking CSRF; the
    # durability hook first, so it answers last, once the request's writes are on disk;
    # compression's just before it (after every other hook has made the body)
    for module in (durability, compression, i18n, errors, access, security, demo):
        module.init_app(app)
    for module in (pages, api, assets, auth, admin, admin_users, admin_audit, cases_api,
                   case_pages, staff_pages, dispatch, photo_views, open311, planning_api,
                   planning_page):
        app.register_blueprint(module.bp)
    # each request sees categories and calendar changed by an admin in another worker
    # (two stat calls when nothing changed); store reads catch up by themselves
    app.before_request(community.refresh)
    app.before_request(durability.refuse_without_room)  # once the caller is known
    access.check_policies(app)
    app.wsgi_app = body.guard(app.wsgi_app)  # a body the server cannot read whole is a 400
    if app.config["PROXY_HOPS"]:  # the client's address from the proxies' headers, not the socket's
        # each proxy appends to X-Forwarded-For; the nearest one sets X-Forwarded-Proto
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_HOPS"], x_proto=1)
    log.info("gridmap ready: %d grids from %s", len(community.grids), data_dir)
    return app
