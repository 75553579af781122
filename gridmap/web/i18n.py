"""Interface language: Chinese first, English on request (``?lang=en``)."""

from flask import g, request

LANGS = ("zh", "en")

MESSAGES = {
    "title": ("路东社区网格地图", "Ludong Community Grid Map"),
    "schematic": ("示意数据：网格边界与人员均为虚构，仅供演示。",
                  "Schematic data: boundaries and people are invented, for demonstration only."),
    "demo_banner": ("演示系统：账号密码公开，请勿用于真实数据。",
                    "Demo system: account passwords are public. Do not use it for real data."),
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
    "signin": ("登录", "Sign in"),
    "signout": ("退出", "Sign out"),
    "signin_staff_only": ("仅限工作人员。居民无需登录即可上报和查询。",
                          "Staff only. Residents report and track cases without an account."),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "signin_failed": ("用户名或密码错误", "Wrong user name or password"),
    "signin_needed": ("请先登录", "Please sign in"),
    "users": ("用户管理", "Users"),
    "audit": ("审计日志", "Audit log"),
    "display_name": ("姓名", "Name"),
    "roles": ("角色", "Roles"),
    "grid_codes": ("所属网格", "Grids"),
    "enabled": ("状态", "Status"),
    "active": ("启用", "active"),
    "disabled": ("已停用", "disabled"),
    "disable": ("停用", "Disable"),
    "enable": ("启用", "Enable"),
    "add_user": ("新增用户", "Add user"),
    "save": ("保存", "Save"),
    "when": ("时间", "When"),
    "action": ("操作", "Action"),
    "actor": ("操作人", "Actor"),
    "target": ("对象", "Target"),
    "address": ("地址", "Address"),
    "role_grid_staff": ("网格员", "grid staff"),
    "role_dispatcher": ("调度员", "dispatcher"),
    "role_planner": ("规划员", "planner"),
    "role_admin": ("管理员", "admin"),
    "report": ("我要上报", "Report a problem"),
    "report_intro": ("点击地图选择问题位置，或使用当前位置。", "Tap the map where the problem is, or use your location."),
    "use_location": ("使用我的位置", "Use my location"),
    "location": ("位置", "Location"),
    "no_location": ("尚未选择位置", "No location chosen yet"),
    "category": ("类别", "Category"),
    "description": ("问题描述", "Description"),
    "description_public": ("描述会公开显示（进度查询页和开放数据接口），请勿填写电话、身份证号等个人信息；"
                           "电话请填在下方“联系电话”。",
                           "The description is public (tracking page and open data): don't put phone "
                           "or ID numbers in it; give your phone in the contact field below."),
    "contact": ("联系电话（选填，仅负责网格的工作人员和调度员可见，不公开）",
                "Contact phone (optional; seen only by the responsible grid's team and the "
                "dispatchers, never published)"),
    "contact_short": ("联系方式", "Contact"),
    "reporter_name": ("称呼（选填）", "Your name (optional)"),
    "hide_name": ("不显示我的姓名", "Don't show my name"),
    "submit": ("提交", "Submit"),
    "submitted": ("已提交，请记下查询码", "Submitted: keep your tracking code"),
    "tracking_code": ("查询码", "Tracking code"),
    "grid_team": ("负责网格", "Responsible grid"),
    "handler": ("承办人", "Handler"),
    "deadline": ("办结时限", "Deadline"),
    "track": ("进度查询", "Track a case"),
    "track_intro": ("输入上报后得到的查询码。", "Enter the tracking code you got when reporting."),
    "state": ("状态", "State"),
    "reply": ("处理回复", "Reply"),
    "history": ("处理过程", "History"),
    "rate": ("评价", "Rate"),
    "rating": ("满意度（1–5）", "Satisfaction (1-5)"),
    "comment": ("意见（选填）", "Comment (optional)"),
    "queue": ("案件队列", "Case queue"),
    "since": ("上报起", "Reported from"),
    "until": ("上报止", "Reported until"),
    "filter": ("筛选", "Filter"),
    "page_of": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "prev_page": ("上一页", "Previous"),
    "next_page": ("下一页", "Next"),
    "reported_at": ("上报时间", "Reported"),
    "overdue": ("超时", "overdue"),
    "note": ("说明", "Note"),
    "to_grid": ("转办至网格", "Forward to grid"),
    "reason": ("撤销原因", "Cancel reason"),
    "duplicates_nearby": ("附近已有同类未办结案件：", "Open cases of the same kind nearby:"),
    "action_sign": ("签收", "Sign for"),
    "action_start": ("开始处置", "Start"),
    "action_reply": ("回复", "Reply"),
    "action_close": ("核查结案", "Verify and close"),
    "action_forward": ("转办", "Forward"),
    "action_cancel": ("撤销", "Cancel"),
    "action_reopen": ("重新办理", "Reopen"),
    "action_rate": ("评价", "Rate"),
    "action_report": ("上报", "Reported"),
    "none": ("暂无", "none"),
    "settings_categories": ("类别与时限", "Categories and limits"),
    "settings_calendar": ("工作日历", "Working calendar"),
    "settings_saved": ("已保存，所有服务进程将在下一次请求时使用新设置。",
                       "Saved: every server process uses the new settings from its next request."),
    "settings_apply_to_new": (
        "修改只对此后计算的时限生效：已有案件保留上报时定下的时限；转办后的签收时限、回复后的核查时限、重新办理后的处置时限按当时的设置计算。",
        "Changes apply to deadlines set from now on: existing cases keep the deadlines they were "
        "given; the sign-for deadline after a forward, the verification deadline after a reply "
        "and the handling deadline after a reopen use the settings in force at that time."),
    "category_code": ("代码", "Code"),
    "name_en": ("英文名称", "English name"),
    "sign_hours": ("签收时限", "Sign for within"),
    "handle_hours": ("处置时限", "Handle within"),
    "verify_hours": ("核查时限", "Verify within"),
    "in_working_hours": ("单位：工作小时，可有小数（如 0.5），须大于 0、不超过 {max}。",
                         "In working hours; fractions allowed (e.g. 0.5); above 0, at most {max}."),
    "add_category": ("新增类别", "Add a category"),
    "new_code_hint": ("两位数字，不能与已有代码重复", "two digits, not used yet"),
    "categories_no_delete": ("类别不能删除（已有案件引用类别代码）；不再受理的类别可以停用：居民上报时不再出现，已有案件照常办理。",
                             "Categories cannot be deleted (cases refer to their codes); retire one "
                             "that is no longer taken: residents can no longer pick it, its cases "
                             "go on as before."),
    "retired": ("停用", "Retired"),
    "retired_hint": ("补回被误删的类别时勾选：已有案件照常办理，居民不能再选", "tick to put back a category "
                     "deleted by mistake: its cases go on, residents cannot pick it"),
    "category_code_had_cases": (
        "注意：已有 {n} 件案件使用代码 {code}（其类别曾被从文件中删除），它们现在显示为这个类别并使用它的时限。",
        "Note: {n} existing cases have code {code} (its category had been deleted from the "
        "file); they now show as this category and use its limits."),
    "timezone": ("时区", "Time zone"),
    "working_days": ("工作日", "Working days"),
    "working_hours": ("工作时段（每行一段，如 08:30-12:00）",
                      "Working periods (one a line, e.g. 08:30-12:00)"),
    "holidays": ("放假日（每行一个日期 YYYY-MM-DD）", "Holidays (one date a line, YYYY-MM-DD)"),
    "workdays": ("调休上班日（每行一个周末日期 YYYY-MM-DD）",
                 "Make-up workdays (one weekend date a line, YYYY-MM-DD)"),
    "years": ("日期所属年份及依据（每行：年份 依据；暂定年份在年份后加 *）",
              "Years the dates cover, with their source (a line: year source; a * after a "
              "provisional year)"),
    "calendar_yearly": ("每年国务院办公厅发布次年节假日安排（通常在 11 月）后，在此更新放假日、调休上班日和年份。",
                        "Every year, once the State Council publishes next year's public holidays "
                        "(usually in November), update the holidays, make-up workdays and years here."),
    "wd_mon": ("周一", "Mon"), "wd_tue": ("周二", "Tue"), "wd_wed": ("周三", "Wed"),
    "wd_thu": ("周四", "Thu"), "wd_fri": ("周五", "Fri"), "wd_sat": ("周六", "Sat"),
    "wd_sun": ("周日", "Sun"),
    "all_cases": ("全部案件", "All cases"),
    "filters": ("筛选", "Filters"),
    "grid": ("网格", "Grid"),
    "all_grids": ("全部网格", "All grids"),
    "overdue_any": ("任一超时", "any overdue"),
    "clock_sign": ("签收时限", "Sign for by"),
    "clock_handle": ("办结时限", "Handle by"),
    "clock_verify": ("核查时限", "Verify by"),
    "hours_left": ("剩余 {h} 工作小时", "{h} working hours left"),
    "overdue_by": ("已超时 {h} 工作小时", "overdue by {h} working hours"),
    "overdue_just": ("刚刚超时", "just overdue"),
    "met_on_time": ("按时完成", "met"),
    "met_late": ("超时完成", "met late"),
    "just_now": ("刚刚", "just now"),
    "minutes_ago": ("{n} 分钟前", "{n} min ago"),
    "hours_ago": ("{n} 小时前", "{n} h ago"),
    "days_ago": ("{n} 天前", "{n} days ago"),
    "show_distance": ("显示与我的距离", "Show how far I am"),
    "distance_m": ("约 {n} 米", "about {n} m"),
    "distance_km": ("约 {n} 公里", "about {n} km"),
    "no_position": ("未能获取位置", "Location not available"),
    "case": ("案件", "Case"),
    "reporter": ("上报人", "Reporter"),
    "no_contact": ("未留联系方式", "no contact given"),
    "name_hidden": ("（不显示姓名）", "(name not shown)"),
    "handlers": ("处置人", "Handled by"),
    "routing": ("定位", "Routing"),
    "routing_inside": ("在网格内", "inside the grid"),
    "routing_boundary": ("在网格边界上", "on the grid's boundary"),
    "routing_snapped": ("网格外 {d} 米，就近归入", "{d} m outside, given to the nearest grid"),
    "forward_count": ("转办次数", "Forwards"),
    "rework_count": ("返工次数", "Reworks"),
    "reason_duplicate": ("重复上报", "duplicate"),
    "reason_invalid": ("无效上报", "invalid"),
    "rating_comment": ("评价意见", "Comment"),
    "resident": ("居民", "resident"),
    "nearby": ("附近同类案件（{r} 米内）", "Cases of the same kind nearby (within {r} m)"),
    "photos": ("照片", "Photos"),
    "actions": ("可执行的操作", "What you can do"),
    "no_actions": ("你现在不能对该案件执行操作。", "There is nothing for you to do on this case now."),
    "note_reply": ("回复内容（居民可见）", "Reply (the resident sees it)"),
    "note_forward": ("转办原因", "Why forward"),
    "note_cancel": ("撤销说明", "Why cancel"),
    "note_reopen": ("重新办理原因", "Why reopen"),
    "choose": ("请选择", "Choose…"),
    "confirm_forward": ("确认把案件 #{no} 转办至 {grid}？", "Forward case #{no} to {grid}?"),
    "confirm_cancel": ("确认撤销案件 #{no}？撤销后不能再办理。",
                       "Cancel case #{no}? A cancelled case cannot be worked on again."),
    "confirm_yes_forward": ("确认转办", "Yes, forward"),
    "confirm_yes_cancel": ("确认撤销", "Yes, cancel"),
    "confirm_no": ("不，返回", "No, go back"),
    "next_step_confirm": ("下一步确认", "Next: confirm"),
    "choose_category": ("请选择类别", "Choose a category"),
    "choose_stars": ("请点击星星评分", "Tap a star to rate"),
    "stars": ("{n} 星", "{n} stars"),
    "attach_photos": ("照片（最多 3 张）", "Photos (up to 3)"),
    "photos_hint": ("JPEG、PNG 或 WebP，每张最多 10 MB；照片仅工作人员和您可见，公开须经工作人员同意。",
                    "JPEG, PNG or WebP, at most 10 MB each; only staff and you see them unless "
                    "staff make one public."),
    "too_many_photos": ("照片最多 3 张", "At most 3 photos"),
    "reply_photos": ("处置后照片", "Photos after the work"),
    "photo_public": ("公开", "public"),
    "photo_private": ("不公开", "private"),
    "make_public": ("设为公开", "Make public"),
    "make_private": ("取消公开", "Make private"),
    "photo_made_public": ("照片已公开", "The photo is public now"),
    "photo_made_private": ("照片已设为不公开", "The photo is private now"),
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
