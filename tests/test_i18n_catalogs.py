"""The message catalogs are complete: every message in both languages, with
the same ``{fields}``, and every key the code or a template asks for exists."""

import re
import string
from pathlib import Path

import pytest

from gridmap import i18n

ROOT = Path(__file__).resolve().parents[1]
KEY_CALL = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""")


def fields(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_every_message_is_in_both_languages_with_the_same_fields(domain):
    catalogs = {lang: i18n.read_catalog(lang, domain) for lang in i18n.LANGS}
    ids = {lang: {m.id for m in catalog if m.id} for lang, catalog in catalogs.items()}
    assert ids["zh"] == ids["en"], ids["zh"] ^ ids["en"]
    for msgid in ids["zh"]:
        zh, en = (catalogs[lang][msgid] for lang in i18n.LANGS)
        assert zh.string and en.string, f"{msgid} is untranslated"
        assert not zh.fuzzy and not en.fuzzy, f"{msgid} is marked fuzzy"
        assert fields(zh.string) == fields(en.string), msgid


def test_every_key_the_code_and_templates_ask_for_exists():
    sources = [*ROOT.joinpath("gridmap").rglob("*.py"), *ROOT.joinpath("templates").rglob("*.html")]
    asked = {key for path in sources for key in KEY_CALL.findall(path.read_text("utf-8"))}
    assert len(asked) > 100
    missing = asked - set(i18n.messages("zh")) | asked - set(i18n.messages("en"))
    assert not missing


def test_gettext_fills_fields_and_names_a_missing_message():
    assert i18n.gettext("en", "stars", n=4) == "4 stars"
    assert i18n.gettext("zh", "stars", n=4) == "4 星"
    assert i18n.gettext("fr", "stars", n=4) == "4 星"  # unknown languages read Chinese
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
