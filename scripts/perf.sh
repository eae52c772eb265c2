#!/usr/bin/env bash
# Every row of the speed table (issue 16) in one go, each figure beside its
# bare anchor measured in the same run, rounds alternating, medians; the
# machine's load printed before and after every row. Loopback only; every
# step bounded (`--duration`, `timeout`, the benches' own limits).
#
#   scripts/perf.sh [quick]        (quick: 1 round each, shorter runs; ~6 min; full ~20 min)
#
# Rows: storm (5000 devices at --connect-rate 1e6 vs the bare connect loop
# of `loadgen limits`), udp (hub CPU per datagram vs bare recv_from:
# `udp_ingest` 1 sender, 2 senders, 1 sender with the recorder, whole hub),
# wave (a wave to 5000 streaming devices vs the bare fan-out of `loadgen
# limits`), fairness (zero-loss fleet rate at 19,800 devices with waves
# every 2 s vs without: scripts/wave_fairness.sh), memory (hub and loadgen
# anonymous memory per device: scripts/memory_per_device.sh), loadgen-cpu
# (loadgen CPU per datagram vs iperf3: scripts/loadgen_cpu.sh, closed and
# open loop). ROWS="storm udp …" runs a subset.
#
# Output: bench-results/<UTC>_<commit>_perf/ (every raw file, one folder or
# file per row, load.txt) and table.md there: the one-page table.
# Needs release builds; builds them first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
QUICK=${1:-}
ROUNDS=${ROUNDS:-3}
[[ $QUICK == quick ]] && ROUNDS=1
ROWS=${ROWS:-"storm udp wave fairness memory loadgen-cpu"}
stamp="$(date -u +%Y%m%dT%H%M%SZ)_$(git -C "$root" rev-parse --short HEAD)"
OUT=${OUT:-$root/bench-results/${stamp}_perf}
mkdir -p "$OUT"
LG=$root/target/release/loadgen
load() { echo "$(date -u +%H:%M:%S) $1: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"; }
has() { [[ " $ROWS " == *" $1 "* ]]; }

(cd "$root" && cargo build --release -q -p hub -p loadgen && cargo bench -q -p hub --bench udp_ingest --no-run 2>/dev/null)
UI=$(ls -t "$root"/target/release/deps/udp_ingest-* | grep -v '\.d$' | head -1)
load start

if has storm; then
  mkdir -p "$OUT/storm"
  # The storm is short and noisy: two more rounds than the others.
  for r in $(seq "$((ROUNDS + 2))"); do
    timeout 120 "$LG" limits --connections 5000 --rounds 1 --warmup-rounds 0 --datagrams 2000 \
      --fanout 10 --fanout-large 0 --waves 1 --quiet --json "$OUT/storm/bare-$r.json" >/dev/null 2>&1 || true
    (cd "$OUT/storm" && timeout 120 "$LG" --devices 5000 --connect-rate 1000000 --duration 2s \
      --command-every 0 --quiet --summary none --out "$OUT/storm/storm-$r.json" >/dev/null 2>&1) || true
  done
  load storm
fi

if has udp; then
  mkdir -p "$OUT/udp"
  n=300000; [[ $QUICK == quick ]] && n=200000
  timeout 600 "$UI" --senders 1 --rounds "$((ROUNDS + 2))" --datagrams $n --json "$OUT/udp/1sender.json" >"$OUT/udp/1sender.txt" 2>&1 || true
  timeout 600 "$UI" --senders 2 --rounds "$((ROUNDS + 2))" --datagrams $n --json "$OUT/udp/2senders.json" >"$OUT/udp/2senders.txt" 2>&1 || true
  timeout 600 "$UI" --senders 1 --rounds "$((ROUNDS + 2))" --datagrams $n --recorder --json "$OUT/udp/1sender-recorder.json" >"$OUT/udp/1sender-recorder.txt" 2>&1 || true
  load udp
fi

if has wave; then
  mkdir -p "$OUT/wave"
  d=14s; [[ $QUICK == quick ]] && d=8s
  for r in $(seq "$ROUNDS"); do
    timeout 180 "$LG" limits --connections 10 --rounds 1 --warmup-rounds 0 --datagrams 2000 \
      --fanout 10 --fanout-large 5000 --waves 5 --quiet --json "$OUT/wave/bare-$r.json" >/dev/null 2>&1 || true
    (cd "$OUT/wave" && timeout 180 "$LG" --devices 5000 --duration $d --command-every 2s --seed 42 \
      --quiet --summary none --out "$OUT/wave/run-$r.json" >/dev/null 2>&1) || true
  done
  load wave
fi

if has fairness; then
  rates="30000 50000 70000"; dur=12
  [[ $QUICK == quick ]] && rates="30000 60000" && dur=8
  OUT="$OUT/fairness" DURATION=$dur timeout 1200 bash "$root/scripts/wave_fairness.sh" "$rates" >/dev/null 2>&1 || true
  load fairness
fi

if has memory; then
  sizes="4950 9900 4950 9900"; [[ $QUICK == quick ]] && sizes="4950 9900"
  OUT="$OUT/memory.txt" timeout 900 bash "$root/scripts/memory_per_device.sh" "$sizes" >/dev/null 2>&1 || true
  load memory
fi

if has loadgen-cpu; then
  OUT="$OUT/loadgen-cpu-closed" PACE=closed DEVICES=5000 timeout 900 bash "$root/scripts/loadgen_cpu.sh" "$ROUNDS" >/dev/null 2>&1 || true
  OUT="$OUT/loadgen-cpu-open" PACE=open DEVICES=1000 RATE=50000 timeout 900 bash "$root/scripts/loadgen_cpu.sh" "$ROUNDS" >/dev/null 2>&1 || true
  load loadgen-cpu
fi

# A tool that failed leaves an empty file; the committed-report tests read
# every JSON under bench-results/, so none is kept.
find "$OUT" -name '*.json' -empty -print -delete
python3 "$root/scripts/perf_table.py" "$OUT" | tee "$OUT/table.md"
echo "wrote $OUT/table.md"
