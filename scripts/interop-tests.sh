#!/usr/bin/env bash
# Interoperability checks with other projects' tools, run by .ci/run:
# every STIX bundle the default simulation's nodes export must pass the
# OASIS stix2-validator with no errors (and riskmesh's extension schema).
# The tools are installed from PyPI into a virtualenv in a temporary
# directory that is removed afterwards. Needs python3 with venv and pip.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/riskmesh"
work=$(mktemp -d)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

echo "== interop: building riskmesh (debug)"
cargo build --quiet -p riskmesh

echo "== interop: installing stix2-validator and taxii2-client into a temporary venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
  "stix2-validator==3.3.2" "taxii2-client==2.3.0"
py="$work/venv/bin/python"

echo "== interop: default simulation, each node's STIX bundle"
# The simulation's own invariants are checked by its tests; here a run
# that broke one still hands over its bundles, and they must validate.
if ! "$bin" sim --no-progress --out "$work/sim-report" --stix-out "$work/stix" > "$work/sim.log" 2>&1; then
  echo "   (the simulation reported a broken invariant; see below — its bundles are still checked)"
  tail -n 20 "$work/sim.log"
fi
bundles=("$work"/stix/*.stix.json)
if [ ! -e "${bundles[0]}" ]; then
  echo "no bundles were written"; cat "$work/sim.log"; exit 1
fi
"$py" scripts/interop/check_stix.py spec/stix/riskmesh-extension.schema.json "${bundles[@]}"
