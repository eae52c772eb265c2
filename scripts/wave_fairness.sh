#!/usr/bin/env bash
# Do command waves starve the UDP plane? (issue 13) An external hub with
# 19,800 devices (two loadgen processes of 9,900, `--shared-hub`, each
# sending waves to its own devices), open-loop UDP at RATE datagrams/s in
# total, with waves every 2 s and without, alternating. Per run: the hub's
# receive-buffer drops over the run, loadgen's unexplained loss, and the
# wave times. Loopback only; every step bounded (`--duration`, `timeout`).
#
#   scripts/wave_fairness.sh [RATES]     (default "30000 50000 70000")
#
# Environment: DEVICES per process (9900), DURATION (15), OUT
# (bench-results/<UTC>_<commit>_wave-fairness). Needs release builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RATES=${1:-"30000 50000 70000"}
DEVICES=${DEVICES:-9900}
DURATION=${DURATION:-15}
LG=$root/target/release/loadgen
HUBBIN=$root/target/release/hub
stamp="$(date -u +%Y%m%dT%H%M%SZ)_$(git -C "$root" rev-parse --short HEAD)"
OUT=${OUT:-$root/bench-results/${stamp}_wave-fairness}
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/wave-fairness.XXXXXX)
hubpid=
cleanup() {
  [[ -n $hubpid ]] && kill "$hubpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

port() { sed -n "s/.*$1=127.0.0.1:\([0-9]*\).*/\1/p" "$2" | head -1; }

run() { # rate waves(0|2) tag
  local rate=$1 every=$2 tag=$3 banner=$tmp/banner-$3
  # A fresh hub per run: no state carried from the previous one.
  "$HUBBIN" --tcp-port 0 --udp-port 0 --admin-port 0 --metrics-port 0 --no-recorder \
    --no-console --log-file "$tmp/log-$tag.txt" >"$banner" 2>&1 &
  hubpid=$!
  for _ in $(seq 100); do grep -q "hub listening" "$banner" && break; sleep 0.05; done
  local t u a
  t=$(port tcp "$banner"); u=$(port udp "$banner"); a=$(port admin "$banner")
  local half=$((rate / 2)) pids=()
  for k in 0 1; do
    timeout $((DURATION + 60)) "$LG" --hub 127.0.0.1 --tcp-port "$t" --udp-port "$u" --admin-port "$a" \
      --devices "$DEVICES" --first-id $((k * DEVICES)) --shared-hub --rate "$half" \
      --duration "$DURATION" --warmup 3 --command-every "$every" \
      --source-ips "127.0.$((k + 1)).1-127.0.$((k + 1)).16" --quiet --summary none \
      --out "$OUT/$tag-$k.json" || true &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  kill "$hubpid" 2>/dev/null || true
  wait "$hubpid" 2>/dev/null || true
  hubpid=
}

for rate in $RATES; do
  run "$rate" 0 "r$rate-nowaves"
  run "$rate" 2 "r$rate-waves"
done

python3 - "$OUT" "$DEVICES" $RATES <<'PY' | tee "$OUT/summary.txt"
import json, sys, statistics
out, per, rates = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print(f"{2 * per} devices over two loadgen processes, external hub, open loop; waves every 2 s or none")
print(f"{'rate':>7} {'waves':>6} {'sent':>9} {'rcvbuf drops':>12} {'unexplained':>11} {'unknown':>8} {'wave ms (median, max)':>22}")
for r in rates:
    for tag in ("nowaves", "waves"):
        sent = drops = unexplained = unknown = 0
        waves = []
        for k in (0, 1):
            try:
                j = json.load(open(f"{out}/r{r}-{tag}-{k}.json"))
            except Exception as e:
                print(f"{r:>7} {tag:>6} missing report {k}: {e}")
                continue
            sent += j["udp"]["sent"]
            unexplained += j["udp"].get("unexplained_loss", 0)
            unknown += j["udp"]["fates"].get("unknown", 0)
            d = j["loss_diagnosis"].get("hub_udp_rcvbuf_drops")
            drops = max(drops, d or 0)
            waves += [w["elapsed_us"] / 1000 for w in j["commands"]["wave_list"] if w["done"]]
        wv = f"{statistics.median(waves):.0f}, {max(waves):.0f}" if waves else "-"
        print(f"{r:>7} {tag:>6} {sent:>9} {drops:>12} {unexplained:>11} {unknown:>8} {wv:>22}")
PY
