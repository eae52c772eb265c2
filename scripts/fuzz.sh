#!/usr/bin/env bash
# Bounded coverage-guided fuzz runs of hub's parsers and loadgen's report reader (cargo-fuzz/libFuzzer),
# for CI and for people. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET defaults to 60; targets default to all of them.
# Installs what it needs on a machine that has only rustup and a C++
# compiler's package manager: the nightly toolchain (cargo-fuzz builds with
# -Zsanitizer) and cargo-fuzz. Each run starts from the committed seed
# corpus (hub/fuzz/corpus/<target>, never written to); new inputs go to a
# scratch directory. A crash fails the script and leaves its input in
# hub/fuzz/artifacts/<target>/ (reproduce: cargo +nightly fuzz run <target> <file>).
set -euo pipefail

secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(framing control datagram status http report)
# Which fuzz crate holds a target (loadgen's report reader lives in loadgen/fuzz).
fuzz_dir() { case "$1" in report) echo loadgen/fuzz ;; *) echo hub/fuzz ;; esac; }

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! command -v c++ >/dev/null 2>&1; then
    # libfuzzer-sys compiles libFuzzer (C++).
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq g++ >/dev/null
    fi
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/hub/fuzz/target}"
(cd "$root/hub/fuzz" && cargo +nightly fuzz build -O)
(cd "$root/loadgen/fuzz" && cargo +nightly fuzz build -O)
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t"
    echo "== fuzz $t for ${secs}s"
    # -rss_limit_mb keeps a leak from taking the machine; a timeout of 10 s
    # per input catches hangs.
    set +e
    cd "$root/$(fuzz_dir "$t")"
    cargo +nightly fuzz run -O "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$scratch/$t.log" 2>&1
    status=$?
    set -e
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|panicked|SUMMARY|Test unit written' \
        "$scratch/$t.log" || true
    if [ "$status" -ne 0 ]; then
        echo "fuzz target $t FAILED (exit $status); see $(fuzz_dir "$t")/artifacts/$t/" >&2
        exit "$status"
    fi
done
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no crash"
