#!/usr/bin/env bash
# Interoperability checks with other projects' tools, run by .ci/run:
# every STIX bundle the default simulation's nodes export must pass the
# OASIS stix2-validator with no errors (and riskmesh's extension schema),
# and taxii2-client must pull every collection of a real node's TAXII 2.1
# server with paging and added_after, bad requests getting TAXII errors.
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

echo "== interop: a real node's TAXII 2.1 server, pulled with taxii2-client"
nodes="$work/nodes"
api_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for org in anthropic google; do
  "$bin" init --org "$org" --dir "$nodes/$org" --listen /ip4/127.0.0.1/tcp/0 \
    --advertise /ip4/127.0.0.1/tcp/9 --api-port "$api_port" > /dev/null
done
"$bin" roster create --network interop --member "$nodes"/anthropic/member.json \
  --member "$nodes"/google/member.json --out "$nodes/genesis.cbor" > /dev/null
for org in anthropic google; do
  "$bin" roster sign "$nodes/genesis.cbor" --key "$nodes/$org/org.key" > /dev/null
done
"$bin" roster install "$nodes/genesis.cbor" --config "$nodes/anthropic/config.toml" > /dev/null
config="$nodes/anthropic/config.toml"
"$bin" node --config "$config" > "$nodes/node.log" 2>&1 &
node_pid=$!
cleanup() { kill "$node_pid" 2> /dev/null || true; wait "$node_pid" 2> /dev/null || true; rm -rf "$work"; }
for _ in $(seq 1 100); do
  if "$bin" status --config "$config" > /dev/null 2>&1; then break; fi
  sleep 0.1
done
publish() { "$bin" publish --config "$config" --json --category misuse-jailbreak --severity high "$@" |
  sed -n 's/.*"id": *"\([0-9a-f]\{64\}\)".*/\1/p' | head -1; }
for i in 1 2 3; do
  publish --tier public --title "Public finding $i" --summary "Seen in the wild ($i)." > /dev/null
done
first=$(publish --tier consortium --title "Role-play jailbreak" --summary "A fictional frame defeats refusals.")
publish --tier consortium --title "Prompt leak" --summary "System prompts leak under pressure." > /dev/null
"$bin" correct "$first" --config "$config" --title "Role-play jailbreak (revised)" > /dev/null
"$bin" retract "$first" --config "$config" --reason "Duplicate of an earlier report" > /dev/null
publish --tier restricted --to google --title "Weights exposure" --summary "A bucket was public." > /dev/null
echo "(the withheld recipe)" | publish --tier hazardous --title "Uplift" --summary "Details withheld." \
  --details-file - > /dev/null
"$py" scripts/interop/check_taxii.py "http://127.0.0.1:$api_port" "$(cat "$nodes/anthropic/data/api-token")"
