#!/usr/bin/env bash
# Mutation testing of one core package against its own test folder (docs/testing.md).
#   ./run mutate geo|cases|store [MUTANT_NAME_GLOB...]
# e.g. ./run mutate cases 'gridmap.cases.workflow*'
# ./run sets up .venv with mutmut (the [mutation] extra, pinned by constraints.txt); this runs it in
# .mutation/PACKAGE/ (gridmap/PACKAGE mutated, tests/PACKAGE run; results are kept there,
# so a rerun only tests mutants whose code or tests changed) and prints the score of
# every mutated file. Not part of ./run test: it takes minutes to an hour per package.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
package=${1:-}
case "$package" in
  geo|cases|store) shift ;;
  *) echo "usage: scripts/mutation.sh geo|cases|store [MUTANT_NAME_GLOB...]" >&2; exit 2 ;;
esac

work="$root/.mutation/$package"
mkdir -p "$work"
for path in gridmap tests geodata templates node_modules; do
  ln -sfn "$root/$path" "$work/$path"
done
# setup.cfg's [mutmut] section, narrowed to this package and its tests.
"$root/.venv/bin/python" - "$package" "$work/setup.cfg" <<'PY'
import configparser, sys
package, target = sys.argv[1], sys.argv[2]
config = configparser.ConfigParser(interpolation=None)
config.read("setup.cfg", encoding="utf-8")
out = configparser.ConfigParser(interpolation=None)
out["mutmut"] = dict(config["mutmut"])
out["mutmut"]["only_mutate"] = f"gridmap/{package}/*"
out["mutmut"]["pytest_add_cli_args_test_selection"] = f"tests/{package}/"
out["tool:pytest"] = dict(config["tool:pytest"])
out["tool:pytest"]["testpaths"] = f"tests/{package}"
with open(target, "w", encoding="utf-8") as f:
    out.write(f)
PY
cd "$work"
# Fresh copies of the tests and data each run (mutmut copies them only once).
rm -rf mutants/tests mutants/geodata mutants/templates
"$root/.venv/bin/mutmut" run --max-children "${MUTATION_JOBS:-2}" "$@" || true
"$root/.venv/bin/python" "$root/scripts/mutation_score.py" mutants
