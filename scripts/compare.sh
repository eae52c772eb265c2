#!/usr/bin/env bash
# compare.sh [--out DIR] A.json B.json [C.json …]
#
# Side by side: loadgen reports (and `loadgen limits` files) as a table on
# stdout (also saved as compare.txt), each column with its ratio to the
# first; then charts as SVG and PNG into DIR (default: a fresh folder of its
# own under $TMPDIR, printed at the end; never next to the inputs, so it
# never writes into bench-results/). An explicit --out must be empty or new.
#   spectrum_<kind>   percentile spectrum per latency kind, one line per report
#                     (log percentile axis, as HdrHistogram's plotter draws it);
#                     a report with fewer than $MIN_SAMPLES (20) samples of a
#                     kind is left out; titles carry the commit(s) and each
#                     line's label its sample count
#   timeline_<stem>   per second of each report: datagrams, STATUS, timeouts,
#                     devices up, fates missing/unknown, STATUS p99
#   scenarios         throughput and loss per closed-loop scenario
#   sweep             open-loop rate sweep: achieved rate, unexplained loss, knee
# and every histogram as <report>.<kind>.hgrm (HdrHistogram percentile
# distribution, values in µs), and report.html: the reports (not the limits
# files) as one self-contained page (`loadgen report`: verdicts, checks,
# tables, timelines, spectra; the table above and overlaid spectra).
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
if [[ -z $out ]]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/loadgen-compare.XXXXXX")
elif [[ -d $out && -n $(ls -A "$out") ]]; then
  echo "compare.sh: $out is not empty; give a fresh --out" >&2
  exit 2
fi
mkdir -p "$out"
min_samples=${MIN_SAMPLES:-20}
# The commit(s) of the reports, for chart titles.
commits=$(grep -ho '"git_commit": *"[0-9a-f]\{7\}' "$@" | sed 's/.*"//' | sort -u | tr '\n' ' ' | sed 's/ $//')
commits=${commits:-unknown commit}

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
# The page is a bonus beside the charts: if it cannot be written (more than
# 26 reports, say), loadgen said why in one line and the charts still come.
if ((${#reports[@]})); then
  "$LOADGEN" report "${reports[@]}" -o "$out/report.html" || echo "compare.sh: no report.html" >&2
fi

charts=()
plot() { # script, output stem, extra -e assignments
  local gp=$1 stem=$2 vars=$3
  for fmt in svg png; do
    gnuplot -e "$vars; out='$out/$stem'; fmt='$fmt'" "$root/scripts/plot/$gp"
  done
  charts+=("$out/$stem.svg" "$out/$stem.png")
}

for kind in status command_rtt command_delivery wave connect status_raw send_lag; do
  files="" labels="" hidden=""
  while IFS=$'\t' read -r stem label _pace; do
    h="$out/$stem.$kind.hgrm"
    [[ -f $h ]] || continue
    # The footer: #[Max = …, Total count = N]
    n=$(sed -n 's/.*Total count *= *\([0-9]*\).*/\1/p' "$h")
    if ((${n:-0} >= min_samples)); then
      files+="$h " labels+="$label(n=$n) "
    elif ((${n:-0} > 0)); then
      hidden+="$label(n=$n) "
    fi
  done <"$tmp/inputs.tsv"
  [[ -n $hidden ]] && echo "compare.sh: $kind: left out (fewer than $min_samples samples): $hidden" >&2
  [[ -n $files ]] && plot spectrum.gp "spectrum_$kind" "files='$files'; labels='$labels'; kind='$kind'; commits='$commits'"
done
while IFS=$'\t' read -r stem label _pace; do
  d="$tmp/timeline.$stem.dat"
  if [[ -f $d ]] && grep -qv '^#' "$d"; then
    staged=0
    head -1 "$d" | grep -q ' stage$' && staged=1
    plot timeline.gp "timeline_$stem" "data='$d'; title='$label per second ($commits)'; staged=$staged"
  fi
done <"$tmp/inputs.tsv"

if grep -qv '^#' "$tmp/scenarios.dat"; then
  plot scenarios.gp scenarios "data='$tmp/scenarios.dat'"
fi
if grep -qv '^#' "$tmp/sweep.dat"; then
  knee=$(awk '{print $2}' "$tmp/knee.dat")
  plot sweep.gp sweep "data='$tmp/sweep.dat'; knee='$knee'"
fi
echo
printf 'chart: %s\n' "${charts[@]}"
if [[ -f $out/report.html ]]; then echo "page: $out/report.html"; fi
