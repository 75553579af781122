"""The Flask app factory. Nothing is built at import time."""

import logging
from pathlib import Path

from flask import Flask

from gridmap.config import ROOT, load_config
from gridmap.datafolder import load_community
from gridmap.errors import ConfigError
from gridmap.maps.assets import LEAFLET_JS

log = logging.getLogger(__name__)


def create_app(config=None):
    """Build the app: defaults, then ``GRIDMAP_*`` env vars, then ``config``.

    Raises
    ------
    ConfigError
        Bad settings, a missing or invalid grid file, missing front-end assets.
    """
    app = Flask("gridmap", template_folder=str(ROOT / "templates"),
                instance_path=str(ROOT / "instance"))
    app.config.update(load_config(config))
    app.json.ensure_ascii = False
    if not (Path(app.config["ASSETS_DIR"]) / LEAFLET_JS).is_file():
        raise ConfigError("找不到前端资源 Leaflet，请先运行 ./run serve（npm ci）/ front-end assets "
                          f"missing ({app.config['ASSETS_DIR']}/{LEAFLET_JS}): run ./run serve (npm ci)")
    app.extensions["gridmap"] = load_community(app.config)

    from gridmap.web import api, assets, errors, i18n, pages

    i18n.init_app(app)
    errors.init_app(app)
    for module in (pages, api, assets):
        app.register_blueprint(module.bp)
    log.info("gridmap ready: %d grids from %s", len(app.extensions["gridmap"].grids),
             app.extensions["gridmap"].data_dir)
    return app
