"""Checks that a message speaks one language: no Chinese in English, no English in Chinese.

Values may be of either kind (a field name, a file name, a code, an OS error's
text), so the Chinese check looks for English *sentences*: three lowercase
words in a row that are not inside quotes.
"""

import re

CJK = re.compile("[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
ENGLISH_RUN = re.compile(r"\b[a-z]{2,}(?: [a-z]{2,}){2,}\b")
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|“[^”]*”")


def assert_english(text):
    assert text and not CJK.search(text), f"Chinese in English text: {text!r}"


def assert_chinese(text):
    assert CJK.search(text), f"no Chinese in Chinese text: {text!r}"
    run = ENGLISH_RUN.search(QUOTED.sub("''", text))
    assert run is None, f"English sentence {run and run.group()!r} in Chinese text: {text!r}"


def both(error):
    """``(zh, en)``: the error rendered in each language, each checked for the other's text."""
    zh, en = error.render("zh"), error.render("en")
    assert_chinese(zh)
    assert_english(en)
    return zh, en
