#!/usr/bin/env bash
# The hub's anonymous memory per device (issue 13: ≤ 1 KiB): an external
# hub (no recorder) holding N devices that stream (1 s interval) and take a
# command wave every 3 s, for N = SIZES; the figure is the slope between
# sizes, so fixed costs (buffers, tables' first pages) drop out. Peak
# RssAnon is sampled every 0.5 s. Loopback only; each run bounded by
# `timeout` and `--duration`. loadgen's own peak RssAnon is sampled beside
# it (its budget: 1.5 KiB per device).
#
#   scripts/memory_per_device.sh [SIZES]      (default "4950 9900", twice)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${1:-"4950 9900 4950 9900"}
stamp="$(date -u +%Y%m%dT%H%M%SZ)_$(git -C "$root" rev-parse --short HEAD)"
OUT=${OUT:-$root/bench-results/${stamp}_memory-per-device.txt}
tmp=$(mktemp -d /tmp/hubmem.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
port() { sed -n "s/.*$1=127.0.0.1:\([0-9]*\).*/\1/p" "$2" | head -1; }
for n in $SIZES; do
  "$root/target/release/hub" --tcp-port 0 --udp-port 0 --admin-port 0 --metrics-port 0 \
    --no-recorder --no-console --log-file "$tmp/log-$n.txt" >"$tmp/banner" 2>&1 &
  hp=$!
  for _ in $(seq 100); do grep -q "hub listening" "$tmp/banner" && break; sleep 0.05; done
  base=$(awk '/RssAnon/ {print $2}' /proc/$hp/status)
  timeout 90 "$root/target/release/loadgen" --hub 127.0.0.1 --tcp-port "$(port tcp "$tmp/banner")" \
    --udp-port "$(port udp "$tmp/banner")" --admin-port "$(port admin "$tmp/banner")" \
    --devices "$n" --duration 15 --command-every 3 --source-ips 127.0.0.2-127.0.0.17 \
    --quiet --summary none --out "$tmp/r-$n.json" || true &
  lp=$!
  peak=0 lgpeak=0
  while kill -0 $lp 2>/dev/null; do
    r=$(awk '/RssAnon/ {print $2}' /proc/$hp/status); ((r > peak)) && peak=$r
    # loadgen's own (the process writing this run's report).
    for p in $(pgrep -f -- "--out $tmp/r-$n.json"); do
      [[ $(cat /proc/$p/comm 2>/dev/null) == loadgen ]] || continue
      g=$(awk '/RssAnon/ {print $2}' /proc/$p/status 2>/dev/null || echo 0)
      ((g > lgpeak)) && lgpeak=$g
    done
    sleep 0.5
  done
  reg=$(python3 -c "import json;print(json.load(open('$tmp/r-$n.json'))['devices']['registered'])")
  echo "devices=$n registered=$reg idle_anon_kib=$base peak_anon_kib=$peak loadgen_peak_anon_kib=$lgpeak" | tee -a "$OUT"
  kill $hp; wait $hp 2>/dev/null || true
done
python3 - "$OUT" <<'PY' | tee -a "$OUT"
import re, sys, statistics
rows = [dict(re.findall(r"(\w+)=(\d+)", l)) for l in open(sys.argv[1]) if l.startswith("devices=")]
for who, key in (("hub", "peak_anon_kib"), ("loadgen", "loadgen_peak_anon_kib")):
    by = {}
    for r in rows:
        if key in r:
            by.setdefault(int(r["devices"]), []).append(int(r[key]))
    if len(by) < 2:
        continue
    sizes = sorted(by)
    lo, hi = sizes[0], sizes[-1]
    slope = (statistics.median(by[hi]) - statistics.median(by[lo])) / (hi - lo)
    print(f"{who} median peak: {lo} devices {statistics.median(by[lo])} KiB, {hi} devices {statistics.median(by[hi])} KiB")
    print(f"{who} slope: {slope:.2f} KiB per device; total at {hi}: {statistics.median(by[hi]) / hi:.2f} KiB per device")
PY
