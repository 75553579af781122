"""Interface language: Chinese first, English on request (``?lang=en``)."""

from flask import g, request

LANGS = ("zh", "en")

MESSAGES = {
    "title": ("路东社区网格地图", "Ludong Community Grid Map"),
    "schematic": ("示意数据：网格边界与人员均为虚构，仅供演示。",
                  "Schematic data: boundaries and people are invented, for demonstration only."),
    "grids": ("网格", "Grids"),
    "code": ("网格代码", "Grid code"),
    "name": ("名称", "Name"),
    "team": ("团队（1+3+N）", "Team (1+3+N)"),
    "helpers": ("N（协助力量）", "N (helpers)"),
    "vacant": ("空缺", "vacant"),
    "other_lang": ("English", "中文"),
    "route_api": ("坐标定位接口", "Routing API"),
    "error": ("出错了", "Something went wrong"),
    "back": ("返回首页", "Back to the map"),
}


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


def t(key):
    """The message ``key`` in the current request's language."""
    zh, en = MESSAGES[key]
    return en if getattr(g, "lang", "zh") == "en" else zh


def init_app(app):
    @app.before_request
    def _set_lang():
        g.lang = pick_lang()

    @app.after_request
    def _remember_lang(response):
        if request.args.get("lang") in LANGS:
            response.set_cookie("lang", request.args["lang"], max_age=365 * 86400,
                                samesite="Lax", httponly=True)
        return response

    app.jinja_env.globals["t"] = t
