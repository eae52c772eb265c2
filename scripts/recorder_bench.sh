#!/usr/bin/env bash
# Recorder on vs off, side by side: alternating loadgen runs against the
# embedded hub (5000 devices, 2% loss by default), then the hub loop
# thread's CPU per datagram and the recorder counters of each run.
# Usage: scripts/recorder_bench.sh [ROUNDS] [DURATION] [DEVICES]
set -euo pipefail
rounds="${1:-2}"; dur="${2:-30s}"; devices="${3:-5000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release -q -p loadgen
commit="$(git rev-parse --short HEAD)"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="bench-results/${stamp}_${commit}_recorder"
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for mode in off on; do
    flag=()
    [ "$mode" = off ] && flag=(--hub-no-recorder)
    echo "== round $r recorder $mode" >&2
    ./target/release/loadgen --devices "$devices" --loss 0.02 --seed "$r" \
      --duration "$dur" --quiet "${flag[@]}" --out "$out/r${r}-${mode}.json" || true
  done
done
python3 - "$out" <<'PY'
import json, sys, glob, os, statistics
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "r*-*.json"))):
    r = json.load(open(f))
    threads = r["cpu"]["threads"]
    loop_s = threads.get("hub", 0.0)
    rec_s = threads.get("hub-recorder", 0.0)
    dg = r["hub_stats"]["stats"]["udp"]["datagrams"]
    rec = r.get("recorder") or {}
    rows.append(dict(file=os.path.basename(f), mode="on" if rec else "off",
        datagrams=dg, loop_cpu_s=loop_s, recorder_cpu_s=rec_s,
        loop_us_per_datagram=loop_s * 1e6 / dg if dg else None,
        accepted=rec.get("accepted"), written=rec.get("written"),
        dropped=rec.get("dropped_queue_full"), write_errors=rec.get("write_errors"),
        identity=rec.get("identity"), ok=r["ok"], unexplained_loss=r["udp"]["unexplained_loss"]))
med = {m: statistics.median([x["loop_us_per_datagram"] for x in rows if x["mode"] == m]) for m in ("on", "off")}
summary = dict(runs=rows, median_loop_us_per_datagram=med, ratio_on_off=med["on"] / med["off"])
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
