"""Interface language: Chinese first, English on request (``?lang=en``).

Flask-Babel picks each request's locale (:func:`choose_lang`) and formats dates
and numbers for it; its one domain reads gridmap's own catalogs
(:mod:`gridmap.i18n`, compiled in memory: no ``.mo`` file is tracked). Texts
hold ``{name}`` fields, so the callables templates see (``t``, ``_``,
``gettext``, ``ngettext``) fill them with ``str.format``, not ``%``.
"""

import json
from functools import cached_property

from babel.support import NullTranslations
from flask import current_app, g, request
from flask_babel import Babel, Domain, get_locale
from markupsafe import Markup

from gridmap import i18n
from gridmap.i18n import DEFAULT_LANG, LANGS
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
    return remembered if remembered in LANGS else DEFAULT_LANG


class CatalogDomain(Domain):
    """Flask-Babel's domain over :func:`gridmap.i18n.translations` (read once a process)."""

    def get_translations(self):
        locale = get_locale()
        return i18n.translations(str(locale)) if locale else NullTranslations()


class GridmapBabel(Babel):
    """Flask-Babel with :class:`CatalogDomain` as its default domain."""

    @cached_property
    def domain_instance(self):
        return CatalogDomain()


def lang():
    """The request's language (``zh`` or ``en``)."""
    return str(get_locale())


def choose_lang():
    """The language of this request's answer: the API's choice under ``/api/`` and
    ``/open311/`` (:func:`~gridmap.web.api_lang.api_lang`), :func:`pick_lang` elsewhere."""
    return api_lang() if is_api() else pick_lang()


def t(key, **params):
    """The message ``key`` in the request's language, ``{fields}`` from ``params``."""
    return i18n.gettext(lang(), key, **params)


def tn(key, n, **params):
    """The plural message ``key`` in the form for ``n`` (see :func:`gridmap.i18n.ngettext`)."""
    return i18n.ngettext(lang(), key, n, **params)


def name_of(thing):
    """A grid's or category's name in the request's language: ``name_en`` in English
    where there is one (a mapping's keys or an object's attributes), else ``name``."""
    get = thing.get if isinstance(thing, dict) else lambda k: getattr(thing, k, None)
    return (lang() == "en" and get("name_en")) or get("name")


def _ngettext(singular, plural, n, **params):
    """Jinja's ``ngettext(singular, plural, n)``: our plural entries have one key."""
    return tn(singular, n, **params)


def page_texts(*keys):
    """A ``<script type="application/json">`` holding the messages ``keys`` in the
    request's language, for a page's script to read (no text hard-coded in JS)::

        {{ page_texts('no_position', 'distance_m') }}
        const text = JSON.parse(document.getElementById("texts").textContent);
    """
    body = json.dumps({k: t(k) for k in keys}, ensure_ascii=False)
    body = body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(f'<script type="application/json" id="texts">{body}</script>')


def timezone():
    """Times are shown in the working calendar's zone."""
    return current_app.extensions["gridmap"].calendar.timezone


def init_app(app):
    GridmapBabel(app, locale_selector=choose_lang, timezone_selector=timezone,
                 default_locale=DEFAULT_LANG)
    # after Flask-Babel's own: keys with {fields}, filled by keyword (``_('stars', n=4)``)
    app.jinja_env.install_gettext_callables(t, _ngettext, newstyle=False)
    app.jinja_env.globals.update(t=t, tn=tn, page_texts=page_texts, name_of=name_of)

    @app.before_request
    def _set_lang():
        g.lang = lang()

    @app.after_request
    def _remember_lang(response):
        if request.args.get("lang") in LANGS:
            response.set_cookie("lang", request.args["lang"], max_age=365 * 86400,
                                samesite="Lax", httponly=True)
        return response
