"""A demo says so on every page: while demo accounts with known passwords are active."""

from flask import current_app, g

from gridmap.auth.demo import active_demo_accounts


def is_demo():
    """True while ``demo-accounts.txt`` names an enabled account (once per request)."""
    if "is_demo" not in g:
        g.is_demo = bool(active_demo_accounts(current_app.extensions["gridmap.accounts"],
                                              current_app.extensions["gridmap"].data_dir))
    return g.is_demo


def init_app(app):
    app.jinja_env.globals["is_demo"] = is_demo
