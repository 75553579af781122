"""Signing in to a live server over HTTP, as a browser would (imported by name)."""

import re

import requests

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(session, url):
    """The CSRF token of ``session`` (a ``requests.Session``), from the sign-in form."""
    r = session.get(url + "/login", timeout=10)
    return CSRF_FIELD.search(r.text).group(1)


def sign_in(url, username, password, session=None):
    """POST the sign-in form with ``session`` (a new one if None); (response, session)."""
    session = session or requests.Session()
    r = session.post(url + "/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_of(session, url)},
                     allow_redirects=False, timeout=10)
    return r, session
