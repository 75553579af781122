"""Interface language: Chinese first, English on request (``?lang=en``)."""

from flask import g, request

from gridmap.i18n import LANGS, gettext
from gridmap.web.api_lang import api_lang, is_api


def pick_lang():
    """``?lang=`` wins, then the ``lang`` cookie it sets, then Chinese.

    The browser's Accept-Language is not used: staff phones and office PCs
    are often set to English while the users read Chinese.
    """
    asked = request.args.get("lang")
    if asked in LANGS:
        return asked
    remembered = request.cookies.get("lang")
    return remembered if remembered in LANGS else "zh"


def choose_lang():
    """The language of this request's answer: the API's choice under ``/api/`` and
    ``/open311/`` (:func:`~gridmap.web.api_lang.api_lang`), :func:`pick_lang` elsewhere."""
    return api_lang() if is_api() else pick_lang()


def t(key, **params):
    """The message ``key`` in the current request's language (``gridmap/locale``)."""
    return gettext(getattr(g, "lang", None), key, **params)


def init_app(app):
    @app.before_request
    def _set_lang():
        g.lang = choose_lang()

    @app.after_request
    def _remember_lang(response):
        if request.args.get("lang") in LANGS:
            response.set_cookie("lang", request.args["lang"], max_age=365 * 86400,
                                samesite="Lax", httponly=True)
        return response

    app.jinja_env.globals["t"] = t
