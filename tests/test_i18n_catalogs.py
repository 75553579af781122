"""The message catalogs are complete: every message in both languages, with
the same ``{fields}``, and every key the code or a template asks for exists,
keys composed from a prefix (``t('action_' ~ action)``) included."""

import re
import string
from pathlib import Path

import pytest

from gridmap import i18n
from gridmap.audit import ACTIONS
from gridmap.auth.roles import ROLES
from gridmap.cases.calendar import WEEKDAYS
from gridmap.cases.workflow import CANCEL_REASONS, NEEDS_NOTE, STATES, TRANSITIONS
from gridmap.teams import SLOTS
from gridmap.web.case_display import CLOCKS
from gridmap.web.errors import HTTP_MESSAGES
from gridmap.web.staff_pages import CONFIRMED

USER_CONFIRMED = ("disable", "reset")  # the admin's account page asks before these
ROOT = Path(__file__).resolve().parents[1]
CALL = r"""\b(?:t|tn|_|gettext|ngettext)\(\s*"""
KEY_CALL = re.compile(CALL + r"""["']([a-z0-9_.]+)["']\s*[,)]""")
PREFIX_CALL = re.compile(CALL + r"""(?:["']([a-z0-9_.]+)["']\s*[~+]|f["']([a-z0-9_.]+)\{)""")
#: every prefix a key is composed from, and what the code puts after it
COMPOSED = {
    # "report": a case's first history event; "regrid": moved by new boundaries
    "action_": (*TRANSITIONS, "report", "regrid"),
    "note_": NEEDS_NOTE,
    "reason_": CANCEL_REASONS,
    "confirm_yes_": CONFIRMED,
    "role_": ROLES,  # a resident's events say t('resident')
    "clock_": CLOCKS,
    "state_": STATES,
    "slot_": tuple(slot for slot, *_ in SLOTS),
    "routing_": ("inside", "boundary"),  # "snapped" has its own message, with the distance
    "wd_": tuple(day[:3] for day in WEEKDAYS),
    "http_": (*HTTP_MESSAGES, 500),
    "user_": ("disabled", "enabled"),  # f"user_{change}d"
    "user_not_self_": USER_CONFIRMED,
    "confirm_user_": (*USER_CONFIRMED, *(f"{c}_effect" for c in USER_CONFIRMED)),
    "confirm_yes_user_": USER_CONFIRMED,
    "audit_filter_": ("actor", "target", "action", "since", "until", "page"),
    "audit_says.": ACTIONS,
    "audit_action.": ACTIONS,
}


def fields(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def sources():
    """Code and templates asking for messages (the loader's own ``gettext(lang, …)`` not)."""
    return [*(p for p in ROOT.joinpath("gridmap").rglob("*.py") if p != ROOT / "gridmap/i18n.py"),
            *ROOT.joinpath("templates").rglob("*.html")]


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_every_message_is_in_both_languages_with_the_same_fields(domain):
    catalogs = {lang: i18n.read_catalog(lang, domain) for lang in i18n.LANGS}
    ids = {lang: {m.id for m in catalog if m.id} for lang, catalog in catalogs.items()}
    assert ids["zh"] == ids["en"], ids["zh"] ^ ids["en"]
    for msgid in ids["zh"]:
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        zh, en = (catalogs[lang][key] for lang in i18n.LANGS)
        assert not zh.fuzzy and not en.fuzzy, f"{key} is marked fuzzy"
        texts = [s for m in (zh, en) for s in (m.string if m.pluralizable else (m.string,))]
        assert all(texts), f"{key} is untranslated"
        assert len({frozenset(fields(s)) for s in texts}) == 1, key
        if zh.pluralizable:  # one form per plural form of each language
            assert [len(zh.string), len(en.string)] == [1, 2], key


def test_every_key_the_code_and_templates_ask_for_exists():
    asked = {key for path in sources() for key in KEY_CALL.findall(path.read_text("utf-8"))}
    assert len(asked) > 100
    missing = asked - set(i18n.messages("zh")) | asked - set(i18n.messages("en"))
    assert not missing


def test_every_composed_key_exists_for_every_value_the_code_puts_after_its_prefix():
    prefixes = {p for path in sources() for found in PREFIX_CALL.findall(path.read_text("utf-8"))
                for p in found if p}
    assert prefixes >= {"action_", "reason_", "clock_", "role_", "note_", "confirm_yes_", "http_"}
    assert prefixes <= set(COMPOSED), f"say what follows {prefixes - set(COMPOSED)} in COMPOSED"
    composed = {f"{prefix}{value}" for prefix in prefixes for value in COMPOSED[prefix]}
    for lang in i18n.LANGS:
        assert not composed - set(i18n.messages(lang)), lang


def test_the_check_finds_a_message_missing_in_one_language(monkeypatch):
    en, zh = dict(i18n.messages("en")), i18n.messages("zh")
    del en["reason_invalid"]
    monkeypatch.setattr(i18n, "messages", lambda lang: en if lang == "en" else zh)
    with pytest.raises(AssertionError):
        test_every_composed_key_exists_for_every_value_the_code_puts_after_its_prefix()
    with pytest.raises(KeyError, match="reason_invalid"):
        i18n.gettext("en", "reason_invalid")


def test_gettext_fills_fields_and_names_a_missing_message():
    assert i18n.gettext("en", "page_of", page=1, pages=2) == "Page 1 of 2"
    assert i18n.gettext("zh", "page_of", page=1, pages=2) == "第 1 / 2 页"
    assert i18n.gettext("fr", "title") == i18n.gettext("zh", "title")  # unknown: Chinese
    with pytest.raises(KeyError, match="no_such_message"):
        i18n.gettext("en", "no_such_message")


ERROR_ID = re.compile(r"""["'](error\.[a-z0-9_.]+)["']""")


def test_every_error_message_the_code_raises_is_in_the_errors_catalog_and_used():
    """A raise with an unknown message id is caught here, before it runs (and
    ``Msg`` refuses one at once when it does); no message is left unused."""
    sources = [p for p in ROOT.joinpath("gridmap").rglob("*.py") if p.name != "i18n.py"]
    used = {msgid for path in sources for msgid in ERROR_ID.findall(path.read_text("utf-8"))}
    catalog = {m.id for m in i18n.read_catalog("zh", "errors") if m.id}
    assert len(used) > 250
    assert used - catalog == set()
    assert catalog - used == set()


def test_a_message_id_missing_from_the_catalog_is_refused_at_the_raise():
    from gridmap.errors import BadInput, Msg
    with pytest.raises(KeyError, match="error.no_such_message"):
        BadInput("error.no_such_message", field="x")
    with pytest.raises(KeyError, match="not a message id"):
        Msg("not a message id / 不是")


@pytest.mark.parametrize("msgid", sorted(
    m.id for m in i18n.read_catalog("zh", "errors") if m.id))
def test_every_error_message_speaks_one_language(msgid):
    """Filled with plain values, each error message has no text of the other language."""
    from one_language import assert_chinese, assert_english

    from gridmap.errors import Msg
    names = fields(i18n.messages("zh")[msgid]) | fields(i18n.messages("en")[msgid])
    message = Msg(msgid, **{name: 7 for name in names})
    assert_english(message.render("en"))
    assert_chinese(message.render("zh"))


def test_a_number_picks_the_plural_form_as_shown():
    assert i18n.ngettext("en", "hours_left", 1, h="1") == "1 working hour left"
    assert i18n.ngettext("en", "hours_left", 1.0, h="1") == "1 working hour left"
    assert i18n.ngettext("en", "hours_left", 1.5, h="1.5") == "1.5 working hours left"
    assert i18n.ngettext("en", "stars", 2) == "2 stars" and i18n.ngettext("en", "stars", 1) == "1 star"
    assert i18n.ngettext("zh", "stars", 1) == "1 星" and i18n.ngettext("zh", "stars", 5) == "5 星"
    with pytest.raises(KeyError, match="plural"):
        i18n.gettext("en", "stars", n=1)
    with pytest.raises(KeyError, match="plural"):
        i18n.ngettext("en", "title", 1)
