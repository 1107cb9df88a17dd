#!/usr/bin/env bash
# Stand up a local consortium by hand: every step an operator would run, on
# one machine. Each organization gets its own directory, keys, config and
# node process; the founders draft, sign and install a genesis roster; then
# one analyst publishes and another reads.
#
#   scripts/local-consortium.sh            # 3 organizations, nodes stopped at the end
#   N=5 KEEP=1 scripts/local-consortium.sh # 5 organizations, leave the nodes running
#
# Environment: N (1-7, default 3), BASE (working directory, default a new
# temporary one), RISKMESH (the binary, default target/release/riskmesh,
# built if missing), KEEP=1 (leave nodes running; the script prints how to
# stop them), P2P_PORT / API_PORT (first ports, default 4710 / 4810).
set -euo pipefail

N=${N:-3}
BASE=${BASE:-$(mktemp -d -t riskmesh-consortium.XXXXXX)}
BIN=${RISKMESH:-target/release/riskmesh}
P2P_PORT=${P2P_PORT:-4710}
API_PORT=${API_PORT:-4810}
ORGS=(amazon anthropic google inflection meta microsoft openai)

if (( N < 1 || N > ${#ORGS[@]} )); then
  echo "N must be between 1 and ${#ORGS[@]}" >&2
  exit 2
fi
if [[ ! -x "$BIN" ]]; then
  echo "== building $BIN"
  cargo build --release -p riskmesh
fi

PIDS=()
cleanup() {
  if [[ "${KEEP:-0}" != "1" && ${#PIDS[@]} -gt 0 ]]; then
    echo "== stopping nodes"
    kill "${PIDS[@]}" 2>/dev/null || true
    wait "${PIDS[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT

echo "== working in $BASE"
members=()
for ((i = 0; i < N; i++)); do
  org=${ORGS[$i]}
  "$BIN" init --org "$org" --dir "$BASE/$org" \
    --listen "/ip4/127.0.0.1/tcp/$((P2P_PORT + i))" \
    --advertise "/ip4/127.0.0.1/tcp/$((P2P_PORT + i))" \
    --api-port "$((API_PORT + i))"
  members+=("$BASE/$org/member.json")
done

echo "== drafting, signing and installing the genesis roster"
"$BIN" roster create --network local-consortium --member "${members[@]}" --out "$BASE/genesis.cbor"
for ((i = 0; i < N; i++)); do
  "$BIN" roster sign "$BASE/genesis.cbor" --key "$BASE/${ORGS[$i]}/org.key"
done
"$BIN" roster verify "$BASE/genesis.cbor"
for ((i = 0; i < N; i++)); do
  "$BIN" roster install "$BASE/genesis.cbor" --config "$BASE/${ORGS[$i]}/config.toml"
done

echo "== starting $N nodes (logs in $BASE/<org>/node.log)"
for ((i = 0; i < N; i++)); do
  org=${ORGS[$i]}
  "$BIN" node --config "$BASE/$org/config.toml" >"$BASE/$org/node.log" 2>&1 &
  PIDS+=($!)
done
for ((i = 0; i < N; i++)); do
  for _ in $(seq 1 100); do
    if "$BIN" status --config "$BASE/${ORGS[$i]}/config.toml" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
done

first=${ORGS[0]}
last=${ORGS[$((N - 1))]}
echo "== $first publishes a consortium bulletin"
"$BIN" publish --config "$BASE/$first/config.toml" --tier consortium \
  --title "Multi-turn role-play jailbreak bypasses refusals" \
  --summary "A fictional frame in turn 1 defeats per-turn refusal scoring." \
  --category misuse-jailbreak --severity high --mitigation "Score whole conversations." --commitment 1

echo "== $last lists what it holds"
for _ in $(seq 1 100); do
  if "$BIN" list --config "$BASE/$last/config.toml" --json | grep -q "role-play"; then break; fi
  sleep 0.1
done
"$BIN" list --config "$BASE/$last/config.toml"
"$BIN" status --config "$BASE/$last/config.toml"

if (( N >= 3 )); then
  mid=${ORGS[1]}
  echo
  echo "== $first publishes a hazardous finding: the details stay on its node, encrypted at rest"
  # Withheld text comes from a file or stdin, never from the command line
  # (where `ps` and the shell history would show it).
  hazard=$(printf '%s\n' "(the withheld recipe)" |
    "$BIN" publish --config "$BASE/$first/config.toml" --json --tier hazardous \
    --title "Model gives meaningful uplift for pathogen enhancement" \
    --summary "Red-teaming found step-level uplift; mitigations below, details withheld." \
    --category bio --severity critical --mitigation "Refusal training on the uncovered prompts." \
    --details-file - --withhold details --approver "$first" --commitment 1 |
    sed -n 's/.*"id": *"\([0-9a-f]\{64\}\)".*/\1/p' | head -1)
  echo "   hazardous entry $hazard"
  for _ in $(seq 1 100); do
    if "$BIN" show "$hazard" --config "$BASE/$last/config.toml" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  echo "== $last sees only the redacted summary"
  "$BIN" show "$hazard" --config "$BASE/$last/config.toml"
  echo "== $mid requests the details"
  request=$("$BIN" request "$hazard" --config "$BASE/$mid/config.toml" --json \
    --reason "Building a classifier for these prompts" |
    sed -n 's/.*"id": *"\([0-9a-f]\{64\}\)".*/\1/p' | head -1)
  for _ in $(seq 1 100); do
    if "$BIN" approve "$request" --config "$BASE/$first/config.toml" --reason "Justified" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  echo "== $first approved; its node releases the details to $mid's node, end-to-end encrypted"
  for _ in $(seq 1 100); do
    if "$BIN" show "$hazard" --withheld --config "$BASE/$mid/config.toml" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  "$BIN" show "$hazard" --withheld --config "$BASE/$mid/config.toml"
  sleep 1
  echo "== the audit trail, as $last sees it"
  "$BIN" audit "$hazard" --config "$BASE/$last/config.toml"
fi

if [[ "${KEEP:-0}" == "1" ]]; then
  echo "== nodes left running: kill ${PIDS[*]}"
fi
