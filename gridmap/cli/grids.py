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
