"""The language of an API answer (under ``/api/`` and ``/open311/``).

Pages speak the language chosen with ``?lang=`` (see :mod:`gridmap.web.i18n`).
API clients ask with ``?lang=``, then ``Accept-Language``; without either,
Chinese. The ``lang`` cookie the page switch sets counts after ``?lang=``,
so a page's own scripts get answers in the page's language.
"""

from flask import request

from gridmap.i18n import DEFAULT_LANG, LANGS

JSON_PREFIXES = ("/api/", "/open311/")


def is_api():
    """True for a request under ``/api/`` or ``/open311/`` (answered in JSON or XML)."""
    return request.path.startswith(JSON_PREFIXES)


def accepted_lang(header):
    """The most preferred of our languages in an ``Accept-Language`` value, or None.

    Quality values count (``q=0`` refuses a language); ties keep the header's
    order; any region or script counts for its language (``zh-Hant-TW`` is ``zh``).

    >>> accepted_lang("fr, en-GB;q=0.8, zh;q=0.5")
    'en'
    >>> accepted_lang("en;q=0, zh-CN")
    'zh'
    >>> accepted_lang("de, *;q=0.5") is None
    True
    """
    best, best_q = None, 0.0
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().replace("_", "-").split("-")[0].lower()
        if lang not in LANGS:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0  # a malformed weight counts as a refusal, not a preference
        if 0 < q <= 1 and q > best_q:
            best, best_q = lang, q
    return best


def api_lang():
    """``?lang=``, then the ``lang`` cookie, then ``Accept-Language``, then Chinese."""
    for asked in (request.args.get("lang"), request.cookies.get("lang")):
        if asked in LANGS:
            return asked
    return accepted_lang(request.headers.get("Accept-Language", "")) or DEFAULT_LANG
