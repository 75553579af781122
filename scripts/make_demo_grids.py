"""Generate the schematic demo grids of 路东社区 shipped in ``geodata/``.

The boundaries are invented (示意): no public source gives them. They are
built so that they tile the community outline exactly:

1. Voronoi cells of 13 seed points, laid out in three rows (4, 5, 4) so that
   the sequence numbers run west→east within a row and rows north→south;
2. every internal Voronoi edge is bent at one or two points, like a street;
3. the bent edges and the outline are noded on a 1e-7° (≈1 cm) grid and
   polygonised, so neighbouring grids share their edges vertex for vertex.

Run ``python scripts/make_demo_grids.py`` to rewrite
``geodata/grids.geojson`` and ``geodata/community.geojson``; the output is
deterministic.
"""

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Polygon, mapping

GEODATA = Path(__file__).resolve().parents[1] / "geodata"
PRECISION = 1e-7

OUTLINE = [
    (108.7890, 29.5290), (108.7935, 29.5318), (108.7990, 29.5326),
    (108.8042, 29.5312), (108.8085, 29.5296), (108.8112, 29.5262),
    (108.8121, 29.5218), (108.8098, 29.5196), (108.8104, 29.5171), (108.8068, 29.5132),
    (108.8011, 29.5110), (108.7952, 29.5117), (108.7907, 29.5146), (108.7912, 29.5175),
    (108.7879, 29.5192), (108.7872, 29.5243),
]

# (seed lon, seed lat, Chinese name, English name), rows north→south,
# each row west→east.  Street names are invented.
SEEDS = [
    [(108.7918, 29.5282, "正阳北片", "Zhengyang North"),
     (108.7968, 29.5297, "城东上街", "Chengdong Upper St"),
     (108.8024, 29.5290, "新华小区", "Xinhua Estate"),
     (108.8078, 29.5268, "舟白苑", "Zhoubai Garden")],
    [(108.7898, 29.5228, "老街口", "Old Street Corner"),
     (108.7948, 29.5240, "菜市场片", "Market Block"),
     (108.7999, 29.5232, "路东小学", "Ludong Primary School"),
     (108.8046, 29.5225, "滨河西片", "Riverside West"),
     (108.8095, 29.5214, "滨河东片", "Riverside East")],
    [(108.7921, 29.5168, "桃园巷", "Taoyuan Lane"),
     (108.7972, 29.5150, "南门坝", "South Gate Flat"),
     (108.8026, 29.5145, "物流园", "Logistics Park"),
     (108.8073, 29.5170, "安置房小区", "Resettlement Estate")],
]


def bent(a, b, rng):
    """A street from a to b with one or two bends of up to 7 % of its length."""
    a, b = np.asarray(a), np.asarray(b)
    d = b - a
    normal = np.array([-d[1], d[0]])
    cuts = sorted(rng.uniform(0.25, 0.75, size=rng.integers(1, 3)))
    pts = [a] + [a + t * d + rng.uniform(-0.07, 0.07) * normal for t in cuts] + [b]
    return LineString(pts)


def build():
    rng = np.random.default_rng(20261127)
    outline = Polygon(OUTLINE)
    seeds = [s for row in SEEDS for s in row]
    cells = shapely.voronoi_polygons(
        MultiPoint([(s[0], s[1]) for s in seeds]), extend_to=outline.buffer(0.01)
    )
    edges = {}
    for cell in cells.geoms:
        ring = list(cell.exterior.coords)
        for p, q in zip(ring, ring[1:]):
            key = tuple(sorted((tuple(np.round(p, 9)), tuple(np.round(q, 9)))))
            edges[key] = key
    streets = [bent(p, q, rng) for p, q in sorted(edges)]
    inner = shapely.intersection(streets, outline)
    lines = shapely.union_all(
        [outline.exterior, *[g for g in inner if not g.is_empty]], grid_size=PRECISION
    )
    faces = [f for f in shapely.polygonize(shapely.get_parts(lines)).geoms
             if outline.contains(f.representative_point())]
    if len(faces) != len(seeds):
        raise SystemExit(f"expected {len(seeds)} faces, got {len(faces)}")
    ordered = []
    for seq, (lon, lat, name, name_en) in enumerate(seeds, start=1):
        face = next(f for f in faces if f.covers(shapely.Point(lon, lat)))
        ordered.append((seq, name, name_en, shapely.normalize(face)))
    community = shapely.union_all([f for *_, f in ordered], grid_size=PRECISION)
    return community, ordered


def write(community, grids):
    note = "示意边界，非真实网格 / schematic boundary, not the real grid"
    fc = {
        "type": "FeatureCollection",
        "name": "ludong_grids",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "grid_code": f"500114005001{seq:03d}",
                    "seq": seq,
                    "name": f"第{seq}网格（{name}）",
                    "name_en": f"Grid {seq} ({name_en})",
                    "community": "路东社区",
                    "schematic": True,
                    "note": note,
                },
                "geometry": mapping(face),
            }
            for seq, name, name_en, face in grids
        ],
    }
    outline = {
        "type": "FeatureCollection",
        "name": "ludong_community",
        "features": [{
            "type": "Feature",
            "properties": {
                "name": "路东社区", "name_en": "Ludong Community",
                "subdistrict": "舟白街道", "district": "黔江区", "county_code": "500114",
                "schematic": True, "note": note,
            },
            "geometry": mapping(community),
        }],
    }
    for name, obj in (("grids.geojson", fc), ("community.geojson", outline)):
        text = json.dumps(obj, ensure_ascii=False, indent=1)
        (GEODATA / name).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    write(*build())
