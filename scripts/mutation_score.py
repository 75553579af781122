"""Print mutmut's score for every mutated file under a mutants/ folder.

    python scripts/mutation_score.py .mutation/cases/mutants

A file's score is killed / (mutants - equivalents), where the equivalents are the
mutant names listed in docs/mutation-equivalents.md (each with its reason there).
Timeouts count as killed (the mutant made a test hang), as mutmut counts them;
mutants not run (not selected) are left out, and files with none run are not listed.
"""

import json
import re
import sys
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255, 37}
EQUIVALENTS = Path(__file__).resolve().parents[1] / "docs" / "mutation-equivalents.md"


def equivalents():
    if not EQUIVALENTS.exists():
        return set()
    return set(re.findall(r"`(gridmap\.[\w.]+__mutmut_\d+)`", EQUIVALENTS.read_text("utf-8")))


def main(folder):
    known = equivalents()
    for meta in sorted(Path(folder).glob("gridmap/**/*.py.meta")):
        codes = {n: c for n, c in json.loads(meta.read_text("utf-8"))["exit_code_by_key"].items()
                 if c is not None}  # None: not run (yet, or not selected)
        if not codes:
            continue
        equivalent = sorted(n for n in codes if n in known)
        counted = {n: c for n, c in codes.items() if n not in known}
        killed = sum(c in KILLED for c in counted.values())
        survivors = sorted(n for n, c in counted.items() if c not in KILLED)
        score = 100.0 * killed / len(counted) if counted else 100.0
        name = meta.relative_to(folder).as_posix()[:-len(".meta")]
        print(f"{name}: {killed}/{len(counted)} killed ({score:.1f} %), "
              f"{len(equivalent)} equivalent not counted")
        for survivor in survivors:
            print(f"    survived ({counted[survivor]}): {survivor}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mutants")
