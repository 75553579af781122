"""One language a page: every page, in Chinese and in English, signed in as the roles
that see it, shows no text of the other language. What a person reads is checked: text
nodes, titles, alt texts, labels, the texts a page hands its script (``#texts``) and the
map's tooltips. Allowed: user data (what residents and staff typed, people's names), the
language switch, and the short list of codes and units below."""

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gridmap.auth.demo import ensure_demo_accounts
from gridmap.cases.workflow import STATES, Actor

from signed_in_clients import signed_in

sys.path.insert(0, str(Path(__file__).parents[1] / "photos"))
from photomaker import noise_jpeg  # noqa: E402

CSRF = "c" * 43
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]*")
#: English a Chinese page may show: the switch, standards, file types, units, the team
#: model's "N" (1+3+N), the time zone's id; user names are added from the accounts
ALLOWED_WORDS = {"English", "Open311", "API", "JPEG", "PNG", "WebP", "MB", "N", "m", "km",
                 "Asia", "Shanghai"}
#: Chinese an English page may show: the switch (user data comes from the case and teams)
ALLOWED_CJK = {"中文"}
#: the resident's and staff's own words in this test's cases
USER_TEXT = ("楼道堆放杂物，影响通行", "已清理完毕", "张三", "不属本网格", "重复上报", "已办好", "很满意")
FIELD = re.compile(r"\{\w+\}")  # a message's {field}, filled in by the page's script
#: where a GridmapError's message shows: it may quote what was received (a value, a
#: file name) and list the codes a parameter takes (``state=reported,…``)
ERROR_MESSAGE = re.compile(r'<p class="error-message"[^>]*>.*?</p>', re.S)
PARAMETER_WORDS = {"state", *STATES}
RECEIVED = re.compile(r"'[^'<]*'|\b[0-9a-f]{64}\.jpg\b")
VISIBLE_ATTRS = ("title", "alt", "aria-label", "placeholder")


class PageText(HTMLParser):
    """The texts a person reads on a page: not script or style code, nor what a form's
    text area holds (the admin's own data, such as the calendar's sources)."""

    def __init__(self):
        super().__init__()
        self.texts, self._skip, self._json = [], 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style", "textarea"):
            self._skip += 1
            self._json = attrs.get("type") == "application/json"
        self.texts += [attrs[a] for a in VISIBLE_ATTRS if attrs.get(a)]
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.texts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "textarea"):
            self._skip -= 1
            self._json = False

    def handle_data(self, data):
        if self._json:
            self.texts += [FIELD.sub(" ", v) for v in json.loads(data).values()]
        elif not self._skip and data.strip():
            self.texts.append(data.strip())


def map_texts(page):
    """The folium map's tooltip labels and each grid's name and team as shown on hover."""
    texts = []
    for aliases in re.finditer(r"let aliases = (\[.*?\]);", page):  # shown as labels
        if "<th>${aliases[i]}</th>" in page[aliases.end():aliases.end() + 600]:
            texts += json.loads(aliases[1])
    for props in re.findall(r'"properties": (\{[^{}]*\})', page):
        shown = json.loads(props)
        texts += [shown.get("name", ""), *shown.get("team", "").split("<br>")]
    return [t for t in texts if t]


def read_texts(page):
    parser = PageText()
    parser.feed(page)
    return parser.texts + map_texts(page)


def strangers(lang, texts, allowed_cjk, allowed_words=ALLOWED_WORDS):
    """The pieces of ``texts`` in the other language than ``lang``."""
    found = []
    for text in texts:
        for piece in allowed_cjk:
            text = text.replace(piece, " ")
        if lang == "en":
            found += CJK.findall(text)
        else:
            found += [w for w in WORD.findall(text) if w not in allowed_words]
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A demo data folder (banner on) with cases in every state, photos, staff and admins."""
    from gridmap.web import create_app
    data_dir = tmp_path_factory.mktemp("lang") / "data"
    app = create_app({"DATA_DIR": str(data_dir)})
    accounts, community = app.extensions["gridmap.accounts"], app.extensions["gridmap"]
    service = app.extensions["gridmap.cases"]
    codes = community.grids.codes
    ensure_demo_accounts(accounts, codes, data_dir)
    accounts.add_user("staff7", "correct horse battery", ["grid_staff"], grid_codes=[codes[6]])
    accounts.add_user("disp", "correct horse battery", ["dispatcher"])
    accounts.add_user("adm", "correct horse battery", ["admin"])
    point = community.grids.grids[6].geometry.representative_point()
    staff = Actor("grid_staff", "staff7", frozenset([codes[6]]))
    disp = Actor("dispatcher", "disp")

    def report(photos=()):
        feature, _, _ = service.report({"lon": point.x, "lat": point.y, "category": "06",
                                        "description": USER_TEXT[0], "contact": "100-2718-2818",
                                        "name": USER_TEXT[2]}, photos=photos)
        return feature

    cases = {"reported": report()}
    done = report(photos=[noise_jpeg(1)])
    for action, note in (("sign", None), ("start", None), ("reply", USER_TEXT[1])):
        service.act(done["id"], action, staff, note=note,
                    photos=[noise_jpeg(2)] if action == "reply" else ())
    service.act(done["id"], "close", disp)
    cases["closed"] = service.get(done["id"])
    rated = report()
    for action, note in (("sign", None), ("start", None), ("reply", USER_TEXT[5])):
        service.act(rated["id"], action, staff, note=note)
    service.act(rated["id"], "close", disp)
    service.act(rated["id"], "rate", Actor("resident"), note=USER_TEXT[6], rating=2)
    cases["rated"] = service.get(rated["id"])
    service.act(rated["id"], "reopen", disp, note=USER_TEXT[5])
    cases["reopened"] = service.get(rated["id"])
    gone = report()
    service.act(gone["id"], "cancel", staff, note=USER_TEXT[4], reason="duplicate")
    cases["cancelled"] = service.get(gone["id"])
    moved = report()
    service.act(moved["id"], "forward", disp, note=USER_TEXT[3], to_grid=codes[7])
    cases["forwarded"] = service.get(moved["id"])
    allowed = set(ALLOWED_CJK) | set(USER_TEXT)
    for team in community.teams.values():  # people's names: no English exists
        allowed |= {m.name for _, _, _, m in team.slots() if m} | {h.name for h in team.helpers}
    words = ALLOWED_WORDS | {u.username for u in accounts.list_users()}
    return app, cases, codes, allowed, words


def pages(cases, codes):
    """(who, method, path, form, status) of every page; a status above 399 but 404 and
    405 (werkzeug's, with our messages) shows a GridmapError's message."""
    closed, reported = cases["closed"], cases["reported"]
    photo = closed["properties"]["photos"][0]["id"]
    track = closed["properties"]["tracking_code"]
    walk = [(None, "GET", "/", None, 200), (None, "GET", "/report", None, 200),
            (None, "GET", "/track", None, 200), (None, "GET", "/login", None, 200),
            (None, "GET", "/no/such/page", None, 404), (None, "POST", "/", {}, 405)]
    walk += [(None, "GET", f"/track/{c['properties']['tracking_code']}", None, 200)
             for c in cases.values()]
    walk += [("staff7", "GET", f"/grid/{codes[6]}", None, 200),
             ("staff7", "GET", f"/grid/{codes[6]}?state=reported&overdue=any", None, 200),
             ("disp", "GET", "/cases", None, 200), ("disp", "GET", "/cases?grid=" + codes[7], None, 200),
             ("adm", "GET", "/admin/users", None, 200), ("adm", "GET", "/admin/audit", None, 200),
             ("adm", "GET", "/admin/categories", None, 200), ("adm", "GET", "/admin/calendar", None, 200)]
    walk += [("disp", "GET", f"/case/{c['id']}", None, 200) for c in cases.values()]
    walk += [("staff7", "GET", f"/case/{c['id']}", None, 200) for c in cases.values()
             if c["properties"]["grid_code"] == codes[6]]
    walk += [("staff7", "POST", f"/case/{reported['id']}",  # the confirmations
              {"action": "cancel", "reason": "invalid", "note": USER_TEXT[4]}, 200),
             ("staff7", "POST", f"/case/{reported['id']}",
              {"action": "forward", "to_grid": codes[7], "note": USER_TEXT[3]}, 200),
             ("disp", "POST", f"/case/{closed['id']}/photos/{photo}", {"public": "1"}, 302),
             (None, "GET", f"/track/{track}/photos/{'0' * 64}.jpg", None, 404),
             (None, "GET", f"/grid/{codes[6]}", None, 401),
             ("staff7", "GET", f"/case/{cases['forwarded']['id']}", None, 403),
             ("disp", "GET", "/cases?state=bogus", None, 400),
             ("staff7", "POST", f"/case/{reported['id']}", {"action": "cancel"}, 400),
             (None, "GET", "/track/NOSUCH-CODE", None, 404)]
    return walk


def fetch(app, who, method, path, form, lang):
    client = signed_in(app, who, CSRF)
    client.set_cookie("lang", lang)
    data = {"csrf_token": CSRF, **form} if form is not None else None
    response = client.open(path, method=method, data=data)
    if response.status_code == 302:  # read the page it leads to, with its flash
        return response.status_code, client.get(response.headers["Location"]).get_data(as_text=True)
    return response.status_code, response.get_data(as_text=True)


def walk(site, lang):
    """Every page in ``lang``: ``{page: strange pieces}`` and how many pages were read."""
    app, cases, codes, allowed, words = site
    failures, walked = {}, 0
    for who, method, path, form, status in pages(cases, codes):
        got, page = fetch(app, who, method, path, form, lang)
        assert got == status, (who, path, page[:300])
        assert 'id="demo-banner"' in page and f'lang="{"en" if lang == "en" else "zh-CN"}"' in page
        messages = [RECEIVED.sub(" ", text) for text in read_texts("".join(ERROR_MESSAGE.findall(page)))]
        found = (strangers(lang, read_texts(ERROR_MESSAGE.sub("", page)), allowed, words)
                 + strangers(lang, messages, allowed, words | PARAMETER_WORDS))
        walked += 1
        if found:
            failures[f"{who} {method} {path}"] = sorted(set(found))[:12]
    return failures, walked


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_shows_text_of_the_other_language(site, lang):
    failures, walked = walk(site, lang)
    assert walked >= 30
    assert not failures, json.dumps(failures, ensure_ascii=False, indent=1)


def test_the_check_sees_the_other_language(site):
    """Self-test: a Chinese word on an English page, an English one on a Chinese page, in
    text, in an attribute, in the page's script texts and in a map tooltip, are found."""
    allowed = site[3]
    html_en = ('<p>Grid</p><img alt="照片"><script type="application/json" id="texts">'
               '{"a": "\\u5b9a\\u4f4d"}</script><script>let x = "网格";</script>')
    assert strangers("en", read_texts(html_en), allowed) == ["照片", "定位"]
    html_zh = '<p>网格 Grid</p><button title="签收 now">签收</button>'
    assert strangers("zh", read_texts(html_zh), allowed) == ["Grid", "now"]
    tooltip = ('let aliases = ["Grid code", "名称"]; `<th>${aliases[i]}</th>`'
               ' "properties": {"name": "第1网格", "team": "a<br>b"}')
    assert strangers("en", map_texts(tooltip), allowed) == ["名称", "第", "网格"]
    assert strangers("en", ["中文 赵杰 English"], allowed) == []  # the switch, a person's name
