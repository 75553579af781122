"""Message catalogs: gettext ``.po`` files, one per language and domain.

The catalogs live in ``gridmap/locale/<lang>/LC_MESSAGES/<domain>.po``, the
files a translator edits. They are read (and compiled in memory) once per
process, so no generated ``.mo`` file is tracked or has to be kept fresh.

Message ids are stable keys (``"tracking_code"``, ``"error.bad_coordinate"``);
texts may hold ``{name}`` fields, filled by :func:`gettext`'s keyword
arguments. A text that depends on a number ("1 working hour", "2 working
hours") is a plural entry (``msgid_plural`` with one ``msgstr[i]`` per plural
form of the language, read by :func:`ngettext`). Chinese is the default
language, English the other.
"""

import functools
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
DOMAINS = ("messages", "errors")
LOCALE_DIR = Path(__file__).parent / "locale"


def po_path(lang, domain):
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


def read_catalog(lang, domain):
    """The parsed catalog (a :class:`babel.messages.Catalog`) of one file."""
    with open(po_path(lang, domain), "rb") as f:
        return read_po(f, locale=lang, domain=domain)


@functools.cache
def translations(lang):
    """Every domain's messages in ``lang``, compiled once per process."""
    merged = None
    for domain in DOMAINS:
        buffer = io.BytesIO()
        write_mo(buffer, read_catalog(lang, domain))
        buffer.seek(0)
        compiled = Translations(buffer, domain=domain)
        if merged is None:
            merged = compiled
        else:
            merged.merge(compiled)
    return merged


@functools.cache
def messages(lang):
    """``{msgid: text}`` of every domain in ``lang`` (untranslated ones left out);
    a plural entry's text is the tuple of its forms, keyed by its ``msgid``."""
    found = {}
    for domain in DOMAINS:
        for message in read_catalog(lang, domain):
            msgid = message.id[0] if message.pluralizable else message.id
            if msgid and (all(message.string) if message.pluralizable else message.string):
                found[msgid] = message.string
    return found


def _text(lang, msgid, plural):
    lang = lang if lang in LANGS else DEFAULT_LANG
    try:
        text = messages(lang)[msgid]
    except KeyError:
        raise KeyError(f"message {msgid!r} is missing from the {lang} catalog") from None
    if isinstance(text, tuple) != plural:
        raise KeyError(f"message {msgid!r} is {'not ' if plural else ''}a plural entry: "
                       f"use {'gettext' if plural else 'ngettext'}")
    return lang, text


def gettext(lang, msgid, **params):
    """The message ``msgid`` in ``lang``, its ``{fields}`` filled from ``params``.

    A message missing from the catalog raises ``KeyError``: the catalog check
    in the tests keeps that from reaching users.
    """
    _, text = _text(lang, msgid, plural=False)
    return text.format(**params) if params else text


def ngettext(lang, msgid, n, **params):
    """The plural entry ``msgid`` in ``lang`` in the form for the number ``n``, as
    shown (``n`` is also the ``{n}`` field unless ``params`` give one). A number
    with decimals takes the form of 2, as in English and Chinese ("1.5 hours").

    >>> ngettext("en", "hours_left", 1, h="1"), ngettext("en", "hours_left", 1.5, h="1.5")
    ('1 working hour left', '1.5 working hours left')
    """
    lang, forms = _text(lang, msgid, plural=True)
    whole = int(n) if float(n).is_integer() else 2
    text = forms[translations(lang).plural(whole)]
    return text.format(**{"n": n, **params})
