"""Security headers (with a CSP the map pages work under) and CSRF protection.

CSRF: every state-changing request that a browser could send with our
cookies (any POST/PUT/PATCH/DELETE carrying a session cookie, and every
form submission) must echo the session's CSRF token, as the form field
``csrf_token`` or the ``X-CSRF-Token`` header. Requests authenticated by an
API token (``Authorization: Bearer``) carry no ambient credential and are
exempt; so are views marked :func:`csrf_exempt` (e.g. Open311 POST, which
authenticates by ``api_key``), and multipart requests without a session cookie
to the public JSON API (a report with photos from an app: nothing to ride on).
"""

import base64
import hmac
import re
import secrets

from flask import current_app, g, request, session

from gridmap.errors import Forbidden
from gridmap.web.access import ANYONE

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


class CsrfFailed(Forbidden):
    code = "csrf_failed"


def csrf_exempt(view):
    view.csrf_exempt = True
    return view


def no_store(view):
    """Mark a public view whose answers carry a secret (a tracking code, a CSRF token)."""
    view.no_store = True
    return view


def cacheable(view):
    """Mark a view whose answers are the same for everyone (static files), whoever asks."""
    view.cacheable = True
    return view


def csrf_token():
    """The session's CSRF token (created on first use), masked afresh at each call.

    A page shows ``base64url(pad + (token XOR pad))`` with a random pad, so no two
    answers carry the same bytes for it: a compressed page's length then tells an
    attacker who adds text of their own nothing about the token (BREACH). The check
    takes the masked form and the session's token itself (API clients)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    token = session["csrf"].encode()
    pad = secrets.token_bytes(len(token))
    return base64.urlsafe_b64encode(pad + bytes(a ^ b for a, b in zip(token, pad))).decode()


def _unmask(sent):
    """The token a masked ``sent`` hides; ``sent`` itself if it is not a masked token."""
    try:
        raw = base64.urlsafe_b64decode(sent.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return sent
    if len(sent) < 64 or len(raw) % 2:
        return sent
    half = len(raw) // 2
    return bytes(a ^ b for a, b in zip(raw[half:], raw[:half])).decode("latin-1")


def nonce():
    """This response's CSP nonce, for inline ``<script>`` tags."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def add_nonce(html):
    """Give every ``<script>`` tag in generated HTML (folium's) this response's nonce."""
    return re.sub(r"<script(?=[\s>])", f'<script nonce="{nonce()}"', html)


def _check_csrf():
    if request.method not in UNSAFE_METHODS:
        return
    # cheapest first: a request without a session cookie that is not a form (an
    # anonymous JSON report) cannot ride on anyone's session
    has_cookie = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
    is_form = request.mimetype in FORM_TYPES
    if not (has_cookie or is_form) or g.get("auth_by_token"):
        return
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "csrf_exempt", False):
        return
    if (not has_cookie and request.mimetype == "multipart/form-data"
            and request.path.startswith("/api/") and ANYONE in getattr(view, "allowed_roles", ())):
        return  # a report with photos from an app
    sent = request.form.get("csrf_token") if is_form else None
    sent = _unmask(sent or request.headers.get("X-CSRF-Token", ""))
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed("error.web.csrf")




def _cache_control(response):
    """``no-store`` for every answer that may carry a contact or a secret: to staff roles'
    views, to anyone signed in (a page names them and holds their CSRF token), and from
    views marked :func:`no_store`; :func:`cacheable` views keep their own (their errors,
    which set none, follow the rules)."""
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "cacheable", False) and "Cache-Control" in response.headers:
        return
    roles = getattr(view, "allowed_roles", None)
    if (g.get("user") is not None or getattr(view, "no_store", False)
            or (roles is not None and ANYONE not in roles)):
        response.headers["Cache-Control"] = "no-store"


def add_headers(response):
    _cache_control(response)
    img_src = " ".join(["'self'", "data:", *current_app.config["MAP_TILES"].origins()])
    csp = (f"default-src 'self'; script-src 'self' 'nonce-{nonce()}'; "
           "style-src 'self' 'unsafe-inline'; "
           f"img-src {img_src}; connect-src 'self'; font-src 'self'; "
           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(), microphone=()")
    if current_app.config["COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app):
    app.config.update(
        SESSION_COOKIE_NAME="gridmap_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["COOKIE_SECURE"],
    )
    app.before_request(_check_csrf)
    app.after_request(add_headers)
    app.jinja_env.globals.update(csrf_token=csrf_token, csp_nonce=nonce)
