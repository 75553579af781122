"""Test clients that are already signed in, for the web tests (imported by name)."""


def signed_in(app, username=None, csrf=None):
    """A test client signed in as ``username`` (anonymous if None), holding CSRF token ``csrf``."""
    client = app.test_client()
    with client.session_transaction() as s:
        if csrf:
            s["csrf"] = csrf
        if username:
            s["sid"] = app.extensions["gridmap.accounts"].create_session(username)
    return client


def admin_site(data_dir, password, **config):
    """An app over ``data_dir`` with an admin ``root`` (管理员) and a dispatcher ``worker7``
    (王五), both with ``password``; ``config`` adds settings."""
    from gridmap.web import create_app
    app = create_app({"DATA_DIR": str(data_dir), **config})
    accounts = app.extensions["gridmap.accounts"]
    accounts.add_user("root", password, ["admin"], display_name="管理员")
    accounts.add_user("worker7", password, ["dispatcher"], display_name="王五")
    return app
