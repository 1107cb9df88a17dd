#!/usr/bin/env bash
# Browser checks of the web console, run by .ci/run: a real headless
# Chromium (the distribution's package, /usr/bin/chromium) driven by
# playwright-core (pinned in scripts/browser/package-lock.json) against a
# consortium of real riskmesh node processes on 127.0.0.1. Prints
# "browser checks: N passed, M failed"; a failing check saves a screenshot
# of the page into $SHOTS (default: a directory the script names).
#
#   scripts/browser-tests.sh              # the checks
#   SCREENSHOT=docs/console.png scripts/browser-tests.sh   # also the README's screenshot
#
# Needs: chromium, node and npm (`npm ci` is run in scripts/browser if
# node_modules is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/riskmesh"
work=$(mktemp -d -t riskmesh-browser.XXXXXX)
SHOTS=${SHOTS:-$work/screenshots}
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
  if [[ "${KEEP_WORK:-0}" != "1" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

echo "== browser: building riskmesh (debug)"
cargo build --quiet -p riskmesh

if [[ ! -d scripts/browser/node_modules/playwright-core ]]; then
  echo "== browser: npm ci (playwright-core)"
  (cd scripts/browser && npm ci --no-audit --no-fund --silent)
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== browser: two organizations, two real nodes (working in $work)"
orgs=(anthropic google)
members=()
declare -A api
for org in "${orgs[@]}"; do
  p2p=$(free_port)
  api[$org]=$(free_port)
  "$bin" init --org "$org" --dir "$work/$org" --listen "/ip4/127.0.0.1/tcp/$p2p" \
    --advertise "/ip4/127.0.0.1/tcp/$p2p" --api-port "${api[$org]}" > /dev/null
  members+=("$work/$org/member.json")
done
"$bin" roster create --network browser --member "${members[@]}" --out "$work/genesis.cbor" > /dev/null
for org in "${orgs[@]}"; do
  "$bin" roster sign "$work/genesis.cbor" --key "$work/$org/org.key" > /dev/null
done
for org in "${orgs[@]}"; do
  "$bin" roster install "$work/genesis.cbor" --config "$work/$org/config.toml" > /dev/null
  "$bin" node --config "$work/$org/config.toml" > "$work/$org/node.log" 2>&1 &
  PIDS+=($!)
done
for org in "${orgs[@]}"; do
  for _ in $(seq 1 150); do
    if "$bin" status --config "$work/$org/config.toml" > /dev/null 2>&1; then break; fi
    sleep 0.1
  done
done

console_url() { "$bin" console --config "$work/$1/config.toml" --json | sed -n 's/.*"url":"\([^"]*\)".*/\1/p'; }
mkdir -p "$SHOTS"
status=0
A_URL=$(console_url anthropic) A_TOKEN_FILE="$work/anthropic/data/api-token" \
  B_URL=$(console_url google) B_TOKEN_FILE="$work/google/data/api-token" \
  B_CONFIG="$work/google/config.toml" A_CONFIG="$work/anthropic/config.toml" RISKMESH="$bin" \
  SHOTS="$SHOTS" SCREENSHOT="${SCREENSHOT:-}" \
  node scripts/browser/console.test.mjs || status=$?
if [[ $status -ne 0 ]]; then
  echo "screenshots of the failures: $SHOTS"
  KEEP_WORK=1
  for org in "${orgs[@]}"; do echo "--- $org node log (tail)"; tail -n 15 "$work/$org/node.log"; done
fi
exit $status
