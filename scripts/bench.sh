#!/usr/bin/env bash
# bench.sh [default|quick]
#
# Runs a named matrix of loadgen scenarios against the embedded hub and
# writes one JSON per point into bench-results/ as
#   <UTC date-time>_<short commit>_<scenario>.json
# (the commit gets a "-dirty" suffix when the tree has uncommitted changes):
#   1. `loadgen limits`: this machine's bare UDP receive, accept-and-read
#      and fan-out limits beside the hub's, in one process (scenario "limits");
#   2. the closed-loop matrix, devices × loss (scenario "d<N>-loss<p>");
#   3. an open-loop --rate sweep, rising until unexplained loss, a STATUS
#      timeout or a failed accounting identity shows: the knee
#      (scenario "sweep-d<N>-rate<R>");
# then scripts/compare.sh draws the charts into
# bench-results/<date>_<commit>_<matrix>/ (matrix, limits) and …/sweep/.
#
#   default  devices 100/1000/5000 × loss 0/0.02/0.1, 10 s each; sweep
#            100k…600k/s, 5 s each; about 4 minutes on 2 cores
#   quick    devices 100/1000 × loss 0/0.1, 3 s each; sweep 50k/200k/400k/s,
#            2 s each; under a minute
#
# Every loadgen run ends by itself (--duration, a bounded drain) and is also
# wrapped in `timeout`. Loopback only.
set -euo pipefail
matrix=${1:-default}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

sha=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
git diff --quiet HEAD 2>/dev/null || sha="$sha-dirty"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
seed=42
case $matrix in
  default)
    devices=(100 1000 5000); losses=(0 0.02 0.1); dur=10s; warm=2s; every=5s
    limits=(--rounds 3)
    sweep_devices=1000; rates=(100000 200000 300000 400000 500000 600000); sweep_dur=5s ;;
  quick)
    devices=(100 1000); losses=(0 0.1); dur=3s; warm=1s; every=1s
    limits=(--rounds 1 --datagrams 50000 --connections 300 --fanout 300 --waves 3)
    sweep_devices=200; rates=(50000 200000 400000); sweep_dur=2s ;;
  *) echo "usage: bench.sh [default|quick]" >&2; exit 2 ;;
esac

echo "bench.sh: building loadgen (release)" >&2
LOADGEN_GIT_COMMIT=$sha cargo build --release -q -p loadgen
export LOADGEN=$CARGO_TARGET_DIR/release/loadgen
# 5000 devices with an embedded hub need ~15000 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

out=bench-results
mkdir -p "$out"
name() { echo "$out/${stamp}_${sha}_$1.json"; }
t0=$SECONDS

echo "bench.sh: limits" >&2
timeout 300 "$LOADGEN" limits "${limits[@]}" --json "$(name limits)"
matrix_files=("$(name limits)")

for d in "${devices[@]}"; do
  for l in "${losses[@]}"; do
    f=$(name "d$d-loss$l")
    echo "bench.sh: $d devices, loss $l" >&2
    # Exit 1 only means a threshold was breached; none are set here.
    timeout 120 "$LOADGEN" --devices "$d" --loss "$l" --duration $dur --warmup $warm \
      --interval 1s --command-every $every --seed $seed --quiet --out "$f" || [[ $? == 1 ]]
    matrix_files+=("$f")
  done
done

sweep_files=()
for r in "${rates[@]}"; do
  f=$(name "sweep-d$sweep_devices-rate$r")
  echo "bench.sh: open loop, $r datagrams/s" >&2
  timeout 120 "$LOADGEN" --devices $sweep_devices --rate "$r" --loss 0.02 --duration $sweep_dur \
    --warmup 1s --connect-rate 1000000 --seed $seed --quiet --out "$f" || [[ $? == 1 ]]
  sweep_files+=("$f")
  if ! grep -q '"unexplained_loss": 0,' "$f" || ! grep -q '"identity": "ok"' "$f" \
     || grep -q '"status_timeouts": [1-9]' "$f"; then
    echo "bench.sh: knee reached at --rate $r (unexplained loss, STATUS timeouts or identity)" >&2
    break
  fi
done
echo "bench.sh: measured in $((SECONDS - t0)) s" >&2

charts="$out/${stamp}_${sha}_$matrix"
scripts/compare.sh --out "$charts" "${matrix_files[@]}"
scripts/compare.sh --out "$charts/sweep" "${sweep_files[@]}"
echo "bench.sh: done in $((SECONDS - t0)) s; charts in $charts" >&2
