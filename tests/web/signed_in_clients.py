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
