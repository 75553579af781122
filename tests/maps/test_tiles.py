"""Tile settings: the presets, a custom URL template, and every bad value stopping start-up
with a message naming the setting."""

import pytest
from click.testing import CliRunner

from gridmap.cli import main
from gridmap.config import load_config
from gridmap.errors import ConfigError

KEY = "0123456789abcdef0123456789ABCDEF"


def tiles(**settings):
    return load_config(settings, environ={})["MAP_TILES"]


def urls(source, lang="zh"):
    return [layer.url for layer in source.layers(lang)]


def test_openstreetmap_by_default():
    source = tiles()
    assert (source.name, source.datum, source.max_zoom) == ("osm", "wgs84", 19)
    assert urls(source) == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    assert "OpenStreetMap" in source.attribution
    assert source.origins() == ["https://tile.openstreetmap.org"]


@pytest.mark.parametrize("preset, base, labels, labels_en", [
    ("tianditu-vector", "vec", "cva", "eva"), ("Tianditu-Imagery", "img", "cia", "eia")])
def test_tianditu_draws_its_annotation_layer_over_the_base_in_wgs84(preset, base, labels,
                                                                   labels_en):
    source = tiles(TILES=preset, TIANDITU_KEY=KEY)
    assert (source.datum, source.max_zoom) == ("wgs84", 18)  # CGCS2000 draws as WGS 84
    zh = urls(source)
    assert [u.split(".gov.cn/")[1].split("/")[0] for u in zh] == [f"{base}_w", f"{labels}_w"]
    assert all(u.startswith("https://t{s}.tianditu.gov.cn/") and u.endswith(f"&tk={KEY}")
               and f"LAYER={u.split('.gov.cn/')[1][:3]}&" in u for u in zh)
    assert [layer.subdomains for layer in source.layers("zh")] == ["01234567"] * 2
    assert urls(source, "en")[1].split(".gov.cn/")[1].startswith(f"{labels_en}_w/")  # English names
    assert "天地图" in source.attribution and "tianditu.gov.cn" in source.attribution
    assert source.origins() == [f"https://t{n}.tianditu.gov.cn" for n in range(8)]


def test_amap_is_gcj02_from_its_four_hosts():
    source = tiles(TILES="amap")
    assert (source.datum, source.max_zoom) == ("gcj02", 18)
    assert urls(source) == ["https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1"
                            "&scale=1&style=8&x={x}&y={y}&z={z}"]
    assert "高德" in source.attribution
    assert source.origins() == [f"https://webrd0{n}.is.autonavi.com" for n in "1234"]


def test_none_has_no_tiles_and_loads_from_nowhere():
    source = tiles(TILES="none")
    assert (urls(source), urls(source, "en"), source.origins()) == ([], [], [])


def test_a_presets_attribution_keeps_its_own_and_adds_the_configured_text():
    source = tiles(TILES="tianditu-vector", TIANDITU_KEY=KEY, TILES_ATTRIBUTION="审图号：GS(2025)1号")
    assert source.attribution.startswith('&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>')
    assert source.attribution.endswith(" 审图号：GS(2025)1号")


def test_a_url_template_as_before_with_its_datum_and_subdomains():
    source = tiles(TILES="https://{s}.tiles.example:8443/v1/{z}/{x}/{y}{r}.png")
    assert (source.name, source.datum) == ("custom", "wgs84")
    assert source.attribution == "&copy; <a href=\"https://www.openstreetmap.org/copyright\">" \
                                 "OpenStreetMap</a> contributors"  # the default, as before
    assert source.origins() == [f"https://{s}.tiles.example:8443" for s in "abc"]
    source = tiles(TILES="http://10.0.0.5/gaode/{z}/{x}/{y}.png", TILES_DATUM="GCJ-02",
                   TILES_ATTRIBUTION="&copy; 高德", TILES_SUBDOMAINS="1234")
    assert (source.datum, source.attribution, source.max_zoom) == ("gcj02", "&copy; 高德", 19)
    assert source.origins() == ["http://10.0.0.5"]  # no {s} in the host: one origin
    source = tiles(TILES="/tiles/{z}/{x}/{-y}.png", TILES_DATUM="cgcs2000")  # this site's own
    assert (urls(source), source.datum, source.origins()) == (
        ["/tiles/{z}/{x}/{-y}.png"], "wgs84", [])


@pytest.mark.parametrize("settings, key", [
    ({"TILES": "gaode"}, "TILES"),
    ({"TILES": "OSM "}, None),  # a preset, whatever its case and spaces: no error
    ({"TILES": ""}, "TILES"),
    ({"TILES": "https://tiles.example/tiles.png"}, "TILES"),
    ({"TILES": "https://tiles.example/{z}/{x}.png"}, "TILES"),
    ({"TILES": "https://tiles.example/{z}/{x}/{y}/{q}.png"}, "TILES"),
    ({"TILES": "https://tiles.example/{z}/{x}/{y}.png}"}, "TILES"),
    ({"TILES": "ftp://tiles.example/{z}/{x}/{y}.png"}, "TILES"),
    ({"TILES": "https://user@tiles.example/{z}/{x}/{y}.png"}, "TILES"),
    ({"TILES": "//tiles.example/{z}/{x}/{y}.png"}, "TILES"),
    ({"TILES": "tiles/{z}/{x}/{y}.png"}, "TILES"),
    ({"TILES": 'https://tiles.example/{z}/{x}/{y}.png"onerror="x'}, "TILES"),
    ({"TILES": "https://tiles.example/{z}/{x}/{y}.png x"}, "TILES"),
    ({"TILES": "tianditu-vector"}, "TIANDITU_KEY"),
    ({"TILES": "tianditu-imagery", "TIANDITU_KEY": "  "}, "TIANDITU_KEY"),
    ({"TILES": "tianditu-vector", "TIANDITU_KEY": "abc&tk=1"}, "TIANDITU_KEY"),
    ({"TILES": "tianditu-vector", "TIANDITU_KEY": "short"}, "TIANDITU_KEY"),
    ({"TILES": "https://t.example/{z}/{x}/{y}.png", "TILES_DATUM": "bd09"}, "TILES_DATUM"),
    ({"TILES": "https://t.example/{z}/{x}/{y}.png", "TILES_DATUM": "utm"}, "TILES_DATUM"),
    ({"TILES": "amap", "TILES_DATUM": "wgs84"}, "TILES_DATUM"),
    ({"TILES": "osm", "TILES_DATUM": "gcj02"}, "TILES_DATUM"),
    ({"TILES": "amap", "TILES_DATUM": "gcj-02"}, None),  # says what the preset is: fine
    ({"TILES": "https://{s}.t.example/{z}/{x}/{y}.png", "TILES_SUBDOMAINS": ""}, "TILES_SUBDOMAINS"),
    ({"TILES": "https://{s}.t.example/{z}/{x}/{y}.png", "TILES_SUBDOMAINS": "a,b"},
     "TILES_SUBDOMAINS"),
])
def test_bad_tile_settings_name_the_setting(settings, key):
    if key is None:
        assert tiles(**settings).name in ("osm", "amap")
        return
    with pytest.raises(ConfigError) as err:
        tiles(**settings)
    assert err.value.field == key
    assert key in err.value.render("zh") and key in err.value.render("en")


def test_serve_refuses_to_start_naming_the_setting(tmp_path, monkeypatch):
    from gunicorn.app.base import BaseApplication

    started = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: started.append(self))
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRIDMAP_TILES", "tianditu-vector")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2 and started == []
    assert "cannot start" in result.output and "TIANDITU_KEY" in result.output
    monkeypatch.setenv("GRIDMAP_TIANDITU_KEY", KEY)
    assert CliRunner().invoke(main, ["serve"]).exit_code == 0 and len(started) == 1
