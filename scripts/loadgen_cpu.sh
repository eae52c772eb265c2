#!/usr/bin/env bash
# loadgen's CPU per datagram generated (STATUS handling included) against an
# EXTERNAL hub, beside iperf3's UDP client at the same datagram rate and size,
# alternating in one run (issue 13). Loopback only; every step is bounded in
# time (loadgen --duration, iperf3 -t, `timeout` around each).
#
#   scripts/loadgen_cpu.sh [ROUNDS]            (default 3)
#
# Environment: RATE (50000 datagrams/s), DEVICES (1000), DURATION (10),
# PACE (open: `--rate RATE`, each device's datagrams spread evenly; closed:
# the original client's rhythm, a cycle's 10 datagrams back to back every
# second, so DEVICES=5000 offers 50000/s and each burst is one sendmmsg;
# iperf3 is run at RATE either way),
# LOADGEN_BIN (target/release/loadgen), BASELINE_BIN (optional: a second
# loadgen binary, e.g. a build of the previous commit, measured in the same
# rounds as "before"), OUT (bench-results/<UTC>_<commit>_loadgen-cpu).
# Needs release builds (`cargo build --release -p hub -p loadgen`) and iperf3.
#
# loadgen: report `cpu.loadgen_s` (process CPU; the hub is external) ÷
# `counters.generated` (warm-up 0, so every datagram of the run counts).
# iperf3: client user+sys CPU from /usr/bin/time ÷ packets it sent (--json).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-3}
RATE=${RATE:-50000}
PACE=${PACE:-open}
pace=(--rate "$RATE")
[[ $PACE == closed ]] && pace=()
DEVICES=${DEVICES:-1000}
DURATION=${DURATION:-10}
LG=${LOADGEN_BIN:-$root/target/release/loadgen}
HUBBIN=$root/target/release/hub
stamp="$(date -u +%Y%m%dT%H%M%SZ)_$(git -C "$root" rev-parse --short HEAD)"
OUT=${OUT:-$root/bench-results/${stamp}_loadgen-cpu-$PACE}
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/loadgen-cpu.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

hub_pid= hubs=0
start_hub() { # a fresh hub per loadgen run: a hub that saw these device names
  # in an earlier run would take CYCLE:1 for an old cycle and send no STATUS
  local o="$tmp/hub-$((++hubs)).out" # a new file: never read the last hub's banner
  "$HUBBIN" --tcp-port 0 --udp-port 0 --admin-port 0 --metrics-port 0 --no-recorder \
    --log-file "$tmp/hub.log" >"$o" 2>&1 &
  hub_pid=$!
  pids+=("$hub_pid")
  for _ in $(seq 100); do grep -q 'hub listening' "$o" 2>/dev/null && break; sleep 0.1; done
  banner=$(grep 'hub listening' "$o")
  TCP=$(port tcp) UDP=$(port udp) ADMIN=$(port admin)
}
stop_hub() { kill "$hub_pid" 2>/dev/null || true; wait "$hub_pid" 2>/dev/null || true; }
port() { sed -E "s/.*$1=[0-9.]+:([0-9]+).*/\1/" <<<"$banner"; }
echo "pace $PACE, rate $RATE/s, $DEVICES devices, ${DURATION}s, $ROUNDS rounds, external hub (fresh per run), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/summary.txt"

run_loadgen() { # name bin round
  local f="$OUT/$1-$3.json"
  start_hub
  timeout $((DURATION + 40)) "$2" --hub 127.0.0.1 --tcp-port "$TCP" --udp-port "$UDP" --admin-port "$ADMIN" \
    --devices "$DEVICES" "${pace[@]}" --duration "${DURATION}s" --warmup 0s --connect-rate 1000000 \
    --command-every 0 --seed 42 --quiet --out "$f" \
    >"$tmp/lg.txt" 2>&1 || true
  stop_hub
  python3 - "$f" "$1" <<'PY' | tee -a "$OUT/summary.txt" || echo "$1 round $3 failed" | tee -a "$OUT/summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
c = r["cpu"]; g = r["counters"]["generated"]
if not r["counters"]["generated"]:
    sys.exit(f'{sys.argv[2]:8} generated nothing: {sys.argv[1]}')
print(f'{sys.argv[2]:8} ns/dgram {1e9 * c["loadgen_s"] / g:7.0f}  cpu {c["loadgen_s"]:.2f}s (user {c["process_user_s"]:.2f} sys {c["process_sys_s"]:.2f})  generated {g}  {r["udp"]["datagrams_per_s"]:.0f}/s  lag p99 {r["generator"]["send_lag_p99_us"] / 1000:.1f} ms  timeouts {r["counters"]["status_timeouts"]}  identity {r["udp"]["identity"]}')
PY
}

run_iperf() { # round
  local port=$((20000 + RANDOM % 20000))
  timeout $((DURATION + 20)) iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  local s=$!
  sleep 0.5
  local bits=$((RATE * 48 * 8))
  timeout $((DURATION + 15)) /usr/bin/time -f '%U %S' -o "$tmp/time" \
    iperf3 -c 127.0.0.1 -p "$port" -u -b "$bits" -l 48 -t "$DURATION" --json >"$OUT/iperf3-$1.json" || true
  wait "$s" 2>/dev/null || true
  python3 - "$OUT/iperf3-$1.json" "$tmp/time" <<'PY' | tee -a "$OUT/summary.txt" || echo "iperf3 round $1 failed" | tee -a "$OUT/summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
u, s = map(float, open(sys.argv[2]).read().split()[-2:])
n = r["end"]["sum"]["packets"]
print(f'iperf3   ns/dgram {1e9 * (u + s) / n:7.0f}  cpu {u + s:.2f}s (user {u:.2f} sys {s:.2f})  packets {n}  {n / r["end"]["sum"]["seconds"]:.0f}/s')
PY
}

for r in $(seq "$ROUNDS"); do
  [[ -n ${BASELINE_BIN:-} ]] && run_loadgen before "$BASELINE_BIN" "$r"
  run_loadgen loadgen "$LG" "$r"
  run_iperf "$r"
done

python3 - "$OUT" <<'PY' | tee -a "$OUT/summary.txt"
import re, statistics, sys, json
rows = {}
for line in open(sys.argv[1] + "/summary.txt"):
    m = re.match(r"(\w+)\s+ns/dgram\s+(\d+)", line)
    if m:
        rows.setdefault(m.group(1), []).append(int(m.group(2)))
med = {k: statistics.median(v) for k, v in rows.items()}
for k, v in rows.items():
    print(f"median {k}: {med[k]:.0f} ns/dgram (of {v})")
if "iperf3" in med:
    for k in med:
        if k != "iperf3":
            print(f"{k} / iperf3 = {med[k] / med['iperf3']:.2f}")
if "before" in med and "loadgen" in med:
    print(f"loadgen after / before = {med['loadgen'] / med['before']:.2f}")
json.dump({"ns_per_datagram": rows, "median": med}, open(sys.argv[1] + "/summary.json", "w"), indent=1)
PY
