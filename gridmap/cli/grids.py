"""``gridmap grids ...``: commands for planners working on grid files.

Exit codes of ``gridmap grids check``: 0 no errors (warnings allowed),
1 errors found, 2 unusable input (message on stderr).
"""

import json
from pathlib import Path

import click

from gridmap.errors import GridmapError

EXIT_OK, EXIT_ISSUES, EXIT_UNUSABLE = 0, 1, 2


@click.group()
def grids():
    """网格文件工具 / grid file tools."""


@grids.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--outline", type=click.Path(dir_okay=False, path_type=Path),
              help="社区边界文件 / community boundary file; without it, holes in the grids are gaps.")
@click.option("--crs", metavar="EPSG:xxxx",
              help="文件未声明坐标系时采用 / CRS of FILE (and --outline) when it declares none.")
@click.option("--layer", metavar="NAME", help="多图层文件中的图层 / layer of a multi-layer FILE.")
@click.option("--code-field", default="grid_code", show_default=True, metavar="NAME",
              help="网格编码字段 / field holding the grid code.")
@click.option("--code-pattern", metavar="REGEX",
              help="编码规则 / regex every code must match in full [default: ^500114\\d{9}$].")
@click.option("--sliver-area", type=click.FloatRange(min=0), default=1.0, show_default=True,
              metavar="M2", help="小于此面积(m²)的空隙/重叠标为碎片 / gaps and overlaps below this are slivers.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print the report as JSON.")
@click.pass_context
def check(ctx, file, outline, crs, layer, code_field, code_pattern, sliver_area, as_json):
    """检查网格文件：无缝拼接、编码 / check that FILE's grids tile without gaps or overlaps.

    FILE is GeoJSON, GeoPackage, Shapefile or a zipped Shapefile. Exit
    status: 0 clean (warnings allowed), 1 errors found, 2 unusable input.
    """
    from gridmap.geo.checks import DEFAULT_CODE_PATTERN, check_grids
    from gridmap.geo.gridfile import read_grid_file

    try:
        gdf = read_grid_file(file, crs=crs, layer=layer)
        outline_gdf = read_grid_file(outline, crs=crs) if outline is not None else None
        report = check_grids(gdf, outline=outline_gdf, code_field=code_field,
                             sliver_area_m2=sliver_area,
                             code_pattern=code_pattern or DEFAULT_CODE_PATTERN)
    except GridmapError as exc:
        click.echo(f"gridmap grids check: {exc}", err=True)
        if as_json:
            click.echo(json.dumps({"file": str(file), **exc.to_dict()}, ensure_ascii=False, indent=2))
        ctx.exit(EXIT_UNUSABLE)
    if as_json:
        body = {"file": str(file), "outline": None if outline is None else str(outline),
                **report.to_dict()}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{file}")
        click.echo(report.format_text())
    ctx.exit(EXIT_OK if report.ok else EXIT_ISSUES)


# -- boundary generations (docs/generations.md) ------------------------------

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path),
    help="数据目录 / data folder [default: GRIDMAP_DATA_DIR or instance/data].")
commit_option = click.option(
    "--commit", is_flag=True,
    help="真正执行；不加则只显示将做什么 / do it; without this, only print what would be done.")
team_option = click.option(
    "--team", "teams", multiple=True, metavar="NEW=OLD|vacant",
    help="新网格取哪个现行网格的队伍（或空缺），可重复 / whose team a new grid takes (repeatable).")


def _planning(data_dir):
    """The data folder's Planning, and the actor named in the audit log."""
    from gridmap.audit import AUDIT_FILE, AuditLog
    from gridmap.auth.accounts import ACCOUNTS_FILE, AccountStore
    from gridmap.cases.service import CaseService, clock_columns
    from gridmap.cli.users import _os_user
    from gridmap.config import load_config
    from gridmap.datafolder import load_community
    from gridmap.planning import Planning
    from gridmap.store.geojsonseq import GeoJSONSeqStore

    config = load_config({"DATA_DIR": str(data_dir)} if data_dir is not None else None)
    community = load_community(config)
    cases = CaseService(GeoJSONSeqStore(community.data_dir / "cases",
                                        clocks=clock_columns(community)), community)
    planning = Planning(community, cases, AuditLog(community.data_dir / AUDIT_FILE),
                        AccountStore(community.data_dir / ACCOUNTS_FILE))
    return planning, f"cli:{_os_user()}"


def _team_choices(values):
    from gridmap.errors import BadInput

    teams = {}
    for value in values:
        new, sep, old = value.partition("=")
        if not sep or not new.strip() or not old.strip():
            raise BadInput("error.generations.bad_teams", field="teams")
        teams[new.strip()] = None if old.strip() == "vacant" else old.strip()
    return teams


def _fail(ctx, name, exc):
    click.echo(f"gridmap grids {name}: {exc}", err=True)
    ctx.exit(EXIT_UNUSABLE)


def _show_plan(plan):
    click.echo(f"  沿用 / carried over: {len(plan.carried)}   面积未变 / unchanged: {len(plan.kept)}")
    for new in plan.new:
        was = f" (文件中为 / file said {new['was']})" if new["was"] else ""
        team = plan.team_from.get(new["code"])
        click.echo(f"  新网格 / new {new['code']}{was}: 队伍 / team "
                   f"{'← ' + team if team else '空缺 / vacant'}")
    for code in plan.replaced:
        click.echo(f"  被替换 / replaced {code}")


def _show_report(report):
    click.echo(report.format_text())


@grids.command("draft")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--crs", metavar="EPSG:xxxx", help="文件未声明坐标系时采用 / CRS of FILE when it declares none.")
@click.option("--layer", metavar="NAME", help="多图层文件中的图层 / layer of a multi-layer FILE.")
@click.option("--code-field", default="grid_code", show_default=True, metavar="NAME",
              help="网格编码字段 / field holding the grid code.")
@click.option("--description", default="", help="说明 / what changes and why.")
@click.option("--effective-date", metavar="YYYY-MM-DD", help="生效日期 / effective date [default: today].")
@click.option("--complete", is_flag=True,
              help="文件即全部网格，不沿用 / FILE holds every grid: nothing carries over.")
@team_option
@commit_option
@data_dir_option
@click.pass_context
def draft(ctx, file, crs, layer, code_field, description, effective_date, complete, teams,
          commit, data_dir):
    """由边界文件建立网格草案 / make the draft generation from FILE.

    Grids FILE leaves out carry over from the active generation; a grid keeps
    its code while its area is unchanged, new areas get the next free codes.
    Without --commit nothing is stored.
    """
    from gridmap.geo.generations import check_description, check_effective_date
    from gridmap.geo.gridfile import read_grid_file
    from gridmap.planning import features_of

    try:
        planning, actor = _planning(data_dir)
        features = features_of(read_grid_file(file, crs=crs, layer=layer), code_field)
        options = {"description": check_description(description),
                   "effective_date": check_effective_date(effective_date),
                   "complete": complete, "teams": _team_choices(teams)}
        if commit:
            gen, plan = planning.draft(features, actor, **options)
            click.echo(f"草案已保存为第 {gen.number} 版 / draft saved as generation {gen.number}")
        else:
            plan = planning.store.plan(features, complete, options["teams"])
            click.echo("将建立草案 / would make the draft:")
        _show_plan(plan)
        _show_report(planning.check(plan.features))
        if not commit:
            click.echo("未保存：加 --commit 执行 / nothing stored: add --commit to do it")
    except GridmapError as exc:
        _fail(ctx, "draft", exc)


def _generation_arg(planning, value):
    from gridmap.errors import BadInput

    doc = planning.store.manifest()
    if value == "active":
        return doc["active"]
    if value == "draft":
        if doc.get("draft") is None:
            raise BadInput("error.generations.no_draft_to_compare", field="b")
        return doc["draft"]
    if not (value.isascii() and value.isdigit()):
        raise BadInput("error.generations.bad_number", value=repr(value)[:20], field="generation")
    return int(value)


@grids.command("diff")
@click.argument("a", default="active")
@click.argument("b", default="draft")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON.")
@data_dir_option
@click.pass_context
def diff(ctx, a, b, as_json, data_dir):
    """比较两版网格对案件的影响 / what going from generation A to B does to the cases.

    A and B are generation numbers, `active` or `draft` (defaults: active → draft).
    """
    try:
        planning, _ = _planning(data_dir)
        body = planning.preview(_generation_arg(planning, a), _generation_arg(planning, b))
    except GridmapError as exc:
        _fail(ctx, "diff", exc)
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, indent=1))
        return
    _show_preview(body)


def _show_preview(body):
    click.echo(f"第 {body['from']['number']} 版 → 第 {body['to']['number']} 版 / "
               f"generation {body['from']['number']} → {body['to']['number']}")
    effect = body["impact"]
    if effect is None:
        click.echo("目标版本有问题，无法计算影响 / the target has problems: no impact computed")
    else:
        click.echo(f"案件 / cases {effect['cases']}, 未办结 / open {effect['open']}")
        click.echo(f"{'from':16} {'to':16} {'all':>7} {'open':>7}")
        for row in effect["transitions"]:
            click.echo(f"{row['from'] or '-':16} {row['to'] or '-':16} {row['all']:7} {row['open']:7}")
        click.echo(f"将换网格的未办结案件 / open cases that would change grid: {effect['moves_total']}")
        for move in effect["moves"][:50]:
            click.echo(f"  #{move['case_no']} {move['from']} → {move['to']}")
        click.echo("面积变化 / area change:")
        for code, area in effect["areas"].items():
            pct = "new" if area["change_pct"] is None else f"{area['change_pct']:+.2f} %"
            if area["change_pct"] != 0:
                click.echo(f"  {code} {pct}")
        click.echo(f"工作量（未办结，均值 {effect['workload_mean']}）/ workload (open, mean):")
        for row in effect["workload"]:
            mark = " *" if row["marked"] else ""
            click.echo(f"  {row['code']} {row['open']} ({row['ratio']}){mark}")
    for team in body["teams"]:
        click.echo(f"新网格 / new {team['code']}: 队伍 / team "
                   f"{'← ' + team['team_from'] if team['team_from'] else '空缺 / vacant'}")
    check = body["check"]
    click.echo(f"检查 / check: {check['error_count']} errors, {check['warning_count']} warnings")
    for issue in check["issues"]:
        click.echo(f"  {issue['severity']}: {issue['message']}")


@grids.command("move-cases")
@commit_option
@data_dir_option
@click.pass_context
def move_cases(ctx, commit, data_dir):
    """把位置已属其他网格的未办结案件移过去 / move open cases into the grid of the active
    generation their place lies in (as publish --move-cases does; closed cases stay).

    Without --commit it only lists the moves.
    """
    import collections

    try:
        planning, actor = _planning(data_dir)
        moves = planning.open_moves()
        if commit:
            moved = planning.move_open_cases(actor)
            click.echo(f"已移交未办结案件 / open cases moved: {len(moved)}")
            return
    except GridmapError as exc:
        _fail(ctx, "move-cases", exc)
    pairs = collections.Counter((old, new) for _, old, new in moves)
    click.echo(f"将移交未办结案件 / open cases it would move: {len(moves)}")
    for (old, new), n in sorted(pairs.items()):
        click.echo(f"  {old} → {new}: {n}")
    click.echo("未执行：加 --commit 执行 / nothing done: add --commit to do it")


@grids.command("publish")
@click.option("--move-cases", is_flag=True,
              help="把位置已属其他网格的未办结案件移过去 / move open cases into their new grid.")
@team_option
@commit_option
@data_dir_option
@click.pass_context
def publish(ctx, move_cases, teams, commit, data_dir):
    """发布草案（须通过全部检查）/ publish the draft if it passes every grid check."""
    try:
        planning, actor = _planning(data_dir)
        teams = _team_choices(teams)
        if commit:
            old, new, moved = planning.publish(actor, "planner", move_cases=move_cases,
                                               teams=teams)
            click.echo(f"已发布第 {new.number} 版（原第 {old.number} 版）/ published generation "
                       f"{new.number} (was {old.number}); 移交案件 / cases moved: {len(moved)}")
            return
        body = planning.preview()
        _show_preview(body)
        ok = body["check"]["ok"]
        moves = body["impact"]["moves_total"] if body["impact"] else 0
        click.echo(("将发布第 {n} 版 / would publish generation {n}" if ok else
                    "不能发布：草案有问题 / would refuse: the draft has problems").format(
                        n=body["to"]["number"]))
        if ok:
            click.echo(f"将移交未办结案件 / open cases it would move: {moves if move_cases else 0}")
        click.echo("未执行：加 --commit 执行 / nothing done: add --commit to do it")
        if not ok:
            ctx.exit(EXIT_ISSUES)
    except GridmapError as exc:
        _fail(ctx, "publish", exc)


@grids.command("rollback")
@click.argument("number", type=click.IntRange(min=1))
@commit_option
@data_dir_option
@click.pass_context
def rollback(ctx, number, commit, data_dir):
    """回退到较早发布的第 NUMBER 版 / make published generation NUMBER active again."""
    from gridmap.errors import Conflict

    try:
        planning, actor = _planning(data_dir)
        if commit:
            old, new = planning.rollback(number, actor, "planner")
            click.echo(f"现行第 {new.number} 版（原第 {old.number} 版）/ generation {new.number} "
                       f"is active (was {old.number})")
            return
        target, active = planning.store.get(number), planning.store.active()
        if target.status != "published":
            raise Conflict("error.generations.not_published", number=number)
        if target.number == active.number:
            raise Conflict("error.generations.already_active", number=number)
        click.echo(f"将启用第 {number} 版（现行第 {active.number} 版）/ would make generation "
                   f"{number} active (now {active.number})")
        click.echo("未执行：加 --commit 执行 / nothing done: add --commit to do it")
    except GridmapError as exc:
        _fail(ctx, "rollback", exc)


@grids.command("export")
@click.argument("number", type=click.IntRange(min=1), required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="写入文件 / write to this file [default: stdout].")
@data_dir_option
@click.pass_context
def export(ctx, number, output, data_dir):
    """导出一版网格为 GeoJSON / print generation NUMBER (default: the active one) as GeoJSON."""
    try:
        planning, _ = _planning(data_dir)
        number = number or planning.store.active().number
        text = json.dumps(planning.store.collection(number), ensure_ascii=False, indent=1)
    except GridmapError as exc:
        _fail(ctx, "export", exc)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


@grids.command("list")
@data_dir_option
@click.pass_context
def list_generations(ctx, data_dir):
    """列出各版网格 / list the generations."""
    try:
        planning, _ = _planning(data_dir)
        doc = planning.store.manifest()
        gens = planning.store.generations(doc)
    except GridmapError as exc:
        _fail(ctx, "list", exc)
    for gen in gens:
        mark = "*" if gen.number == doc["active"] else "D" if gen.status == "draft" else " "
        click.echo(f"{mark} {gen.number:4} {gen.effective_date} {gen.author:16} "
                   f"{len(gen.codes):3} grids  {gen.description}")
