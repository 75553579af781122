"""API errors answer in the language asked: ``?lang=``, then the page's ``lang`` cookie,
then Accept-Language (q-values honoured), then Chinese; pages in the page's language."""

import pytest
from one_language import assert_chinese, assert_english

from gridmap.web.api_lang import accepted_lang

#: (method, path, body): a request each endpoint refuses, and a word of its English message
REFUSED = [
    ("get", "/api/route?lon=abc&lat=29.5", None, "must be a number"),
    ("post", "/api/reports", {"category": "05"}, "missing field"),
    ("get", "/api/track/NOPE0-NOPE0", None, "tracking code"),
]


@pytest.fixture
def plain(app):
    """A client that sends no Accept-Language of its own."""
    client = app.test_client()
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
    return client


def message(plain, method, path, body, **kwargs):
    response = getattr(plain, method)(path, json=body, **kwargs)
    assert 400 <= response.status_code < 500, response.data
    data = response.get_json()
    assert set(data) >= {"error", "message", "message_id", "params"}
    return data


@pytest.mark.parametrize("method, path, body, word", REFUSED)
def test_chinese_without_a_choice(plain, method, path, body, word):
    data = message(plain, method, path, body)
    assert_chinese(data["message"])


@pytest.mark.parametrize("method, path, body, word", REFUSED)
def test_accept_language_asks_for_english(plain, method, path, body, word):
    for header in ("en", "en-US,en;q=0.9", "fr, en-GB;q=0.8, zh;q=0.5", "zh;q=0, en",
                   "zh-CN;q=0.4, EN;q=0.6"):
        data = message(plain, method, path, body, headers={"Accept-Language": header})
        assert word in data["message"], header
        assert_english(data["message"])


@pytest.mark.parametrize("method, path, body, word", REFUSED)
def test_accept_language_asks_for_chinese_or_falls_back_to_it(plain, method, path, body, word):
    for header in ("zh-CN", "zh-Hant-TW, en;q=0.5", "en;q=0, zh", "de, fr", "*"):
        data = message(plain, method, path, body, headers={"Accept-Language": header})
        assert_chinese(data["message"])


@pytest.mark.parametrize("method, path, body, word", REFUSED)
def test_the_lang_parameter_wins_over_accept_language_and_keeps_the_code(plain, method, path,
                                                                         body, word):
    sep = "&" if "?" in path else "?"
    en = message(plain, method, f"{path}{sep}lang=en", body, headers={"Accept-Language": "zh"})
    zh = message(plain, method, f"{path}{sep}lang=zh", body, headers={"Accept-Language": "en"})
    assert word in en["message"] and "lang" not in en.get("field", "")
    assert_english(en["message"])
    assert_chinese(zh["message"])
    assert (en["error"], en["message_id"], en["params"]) == (zh["error"], zh["message_id"],
                                                            zh["params"])


def test_the_page_switch_cookie_counts_before_accept_language(plain):
    plain.get("/report?lang=en")  # the switch sets the lang cookie
    data = message(plain, "get", "/api/route?lon=abc&lat=29.5", None,
                   headers={"Accept-Language": "zh-CN"})
    assert_english(data["message"])


def test_open311_errors_answer_in_the_language_asked(plain):
    for fmt in ("json", "xml"):
        zh = plain.get(f"/open311/v2/services/X9.{fmt}")
        en = plain.get(f"/open311/v2/services/X9.{fmt}", headers={"Accept-Language": "en"})
        assert zh.status_code == en.status_code == 404
        assert "没有该服务" in zh.get_data(as_text=True)
        assert "no service with service_code 'X9'" in en.get_data(as_text=True)
        assert "没有" not in en.get_data(as_text=True)


def test_an_html_page_shows_its_error_in_the_page_language(plain):
    en = plain.get("/grid/nope?lang=en", headers={"Accept-Language": "zh"})
    zh = plain.get("/grid/nope", headers={"Accept-Language": "en"})
    assert en.status_code == zh.status_code in (401, 404)
    assert "没有该网格" not in en.get_data(as_text=True) and "请先登录" not in en.get_data(as_text=True)


@pytest.mark.parametrize("header, lang", [
    ("", None), ("en", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en;q=0.8, zh;q=0.9", "zh"),
    ("en;q=abc, zh;q=0.1", "zh"), ("en_US", "en"), ("  EN-gb ; q=1.0 ", "en"), ("de", None),
    ("zh;q=0", None),
])
def test_accepted_lang_reads_the_header(header, lang):
    assert accepted_lang(header) == lang
