#!/usr/bin/env bash
# compare.sh [--out DIR] A.json B.json [C.json …]
#
# Side by side: loadgen reports (and `loadgen limits` files) as a table on
# stdout (also saved as compare.txt), each column with its ratio to the
# first; then charts as SVG and PNG, by default next to the first input:
#   spectrum_<kind>   percentile spectrum per latency kind, one line per report
#                     (log percentile axis, as HdrHistogram's plotter draws it)
#   scenarios         throughput and loss per closed-loop scenario
#   sweep             open-loop rate sweep: achieved rate, unexplained loss, knee
# and every histogram as <report>.<kind>.hgrm (HdrHistogram percentile
# distribution, values in µs).
#
# Needs gnuplot (installs gnuplot-nox with apt when missing) and loadgen:
# $LOADGEN if set, else built here (cargo build --release -p loadgen).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=""
if [[ ${1:-} == --out ]]; then out=$2; shift 2; fi
if (($# < 1)); then
  echo "usage: compare.sh [--out DIR] A.json [B.json …]" >&2
  exit 2
fi
for f in "$@"; do [[ -f $f ]] || { echo "compare.sh: no such file: $f" >&2; exit 2; }; done
out=${out:-$(dirname "$1")}
mkdir -p "$out"

if ! command -v gnuplot >/dev/null; then
  echo "compare.sh: installing gnuplot-nox" >&2
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gnuplot-nox >&2
fi
if [[ -z ${LOADGEN:-} ]]; then
  (cd "$root" && cargo build --release -q -p loadgen)
  LOADGEN=${CARGO_TARGET_DIR:-$root/target}/release/loadgen
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$LOADGEN" table "$@" --data-dir "$tmp" | tee "$out/compare.txt"

# Histograms of the reports (not of limits files).
reports=()
for f in "$@"; do
  grep -q '"kind": *"limits"' "$f" || reports+=("$f")
done
((${#reports[@]})) && "$LOADGEN" hgrm --out-dir "$out" "${reports[@]}" >/dev/null

charts=()
plot() { # script, output stem, extra -e assignments
  local gp=$1 stem=$2 vars=$3
  for fmt in svg png; do
    gnuplot -e "$vars; out='$out/$stem'; fmt='$fmt'" "$root/scripts/plot/$gp"
  done
  charts+=("$out/$stem.svg" "$out/$stem.png")
}

for kind in status command_rtt command_delivery wave connect status_raw; do
  files="" labels=""
  while IFS=$'\t' read -r stem label _pace; do
    h="$out/$stem.$kind.hgrm"
    # Empty histograms have no data lines; leave them out of the chart.
    if [[ -f $h ]] && grep -qE '^ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9.]+$' "$h"; then
      files+="$h " labels+="$label "
    fi
  done <"$tmp/inputs.tsv"
  [[ -n $files ]] && plot spectrum.gp "spectrum_$kind" "files='$files'; labels='$labels'; kind='$kind'"
done
if grep -qv '^#' "$tmp/scenarios.dat"; then
  plot scenarios.gp scenarios "data='$tmp/scenarios.dat'"
fi
if grep -qv '^#' "$tmp/sweep.dat"; then
  knee=$(awk '{print $2}' "$tmp/knee.dat")
  plot sweep.gp sweep "data='$tmp/sweep.dat'; knee='$knee'"
fi
echo
printf 'chart: %s\n' "${charts[@]}"
