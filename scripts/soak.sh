#!/usr/bin/env bash
# A long run (issue 17): 19,800 devices (two loadgen processes of 9,900,
# `--shared-hub`, each waving to its own devices) against one external hub
# as it ships (recorder on), for MINUTES minutes. Every SAMPLE seconds: RSS
# (anonymous and total) and CPU of the hub and of both generators, the
# recorder's file size (database + WAL), and the hub's own counters (stats:
# datagrams, every data-plane fate, recorder rows, log lines, connections).
# At the end: the two reports merged, the page (`loadgen report`), and a
# verdict on growth: nothing may grow without bound, so the hub's and the
# generators' anonymous memory over the run's second half must stay within
# GROWTH_KIB (RSS after warm-up is the fleet; a leak is what keeps rising).
# Loopback only; every step bounded (`--duration`, `timeout`).
#
#   scripts/soak.sh [MINUTES]          (default 30; e.g. 3 for a check)
#
# Environment: RATE (total datagrams/s, 10000), DEVICES per process (9900),
# COMMAND_EVERY (10s), SAMPLE (60 s), GROWTH_KIB (4096), WARM_S (180: samples
# before it are never judged, the SQLite cache fills meanwhile), STAGES (each
# generator's `--stages`, a rate target per generator, in place of RATE and
# MINUTES, which then only names the folder and bounds the wait; memory is
# judged on the run's second half all the same), OUT (bench-results/<UTC>_<commit>_soak-<MINUTES>m).
# Needs release builds (`cargo build --release -p hub -p loadgen`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=${1:-30}
RATE=${RATE:-10000}
DEVICES=${DEVICES:-9900}
COMMAND_EVERY=${COMMAND_EVERY:-10s}
SAMPLE=${SAMPLE:-60}
GROWTH_KIB=${GROWTH_KIB:-4096}
LG=$root/target/release/loadgen
HUBBIN=$root/target/release/hub
stamp="$(date -u +%Y%m%dT%H%M%SZ)_$(git -C "$root" rev-parse --short HEAD)"
OUT=${OUT:-$root/bench-results/${stamp}_soak-${MINUTES}m}
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/soak.XXXXXX)
hubpid=
lgpids=()
cleanup() {
  for p in "${lgpids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n $hubpid ]] && kill "$hubpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

port() { sed -n "s/.*$1=127.0.0.1:\([0-9]*\).*/\1/p" "$tmp/banner" | head -1; }
echo "soak: $((2 * DEVICES)) devices, ${MINUTES} min, ${RATE}/s, waves every $COMMAND_EVERY, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/summary.txt"

(cd "$tmp" && exec "$HUBBIN" --tcp-port 0 --udp-port 0 --admin-port 0 --metrics-port 0 \
  --recorder "$tmp/readings.db" --no-console --log-file "$tmp/server_log.txt") >"$tmp/banner" 2>&1 &
hubpid=$!
for _ in $(seq 100); do grep -q "hub listening" "$tmp/banner" && break; sleep 0.05; done
T=$(port tcp); U=$(port udp); A=$(port admin)

# With STAGES the stages set each generator's rate (a rate target) and
# the run's length, so --rate and --duration give way to them.
pace=(--rate $((RATE / 2)) --duration "${MINUTES}m")
if [[ -n ${STAGES:-} ]]; then
  if "$LG" --help | grep -q -- '--stages'; then
    pace=(--stages "$STAGES")
  else
    echo "soak: this loadgen has no --stages; STAGES ignored" | tee -a "$OUT/summary.txt"
  fi
fi
for k in 0 1; do
  timeout $((MINUTES * 60 + 180)) "$LG" --hub 127.0.0.1 --tcp-port "$T" --udp-port "$U" --admin-port "$A" \
    --devices "$DEVICES" --first-id $((k * DEVICES)) --shared-hub "${pace[@]}" \
    --warmup 10s --command-every "$COMMAND_EVERY" --connect-rate 4000 \
    --source-ips "127.0.$((k + 1)).1-127.0.$((k + 1)).16" --quiet --summary none \
    --out "$OUT/shard-$k.json" >"$tmp/lg-$k.txt" 2>&1 &
  lgpids+=($!)
done

# One JSON line per sample: processes from /proc, the hub from its stats.
sample() {
  python3 - "$hubpid" "$tmp/readings.db" "$A" "$SECONDS" "$@" <<'PY'
import json, os, socket, sys
hub, db, admin, t = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
gens = [int(p) for p in sys.argv[5:]]
tck = os.sysconf("SC_CLK_TCK")
def proc(pid):
    try:
        st = open(f"/proc/{pid}/status").read()
        kb = {l.split(":")[0]: int(l.split()[1]) for l in st.splitlines() if l.startswith(("VmRSS", "RssAnon"))}
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return {"rss_kib": kb.get("VmRSS"), "anon_kib": kb.get("RssAnon"), "cpu_s": (int(f[11]) + int(f[12])) / tck}
    except OSError:
        return None
def size(p):
    try:
        return os.path.getsize(p)
    except OSError:
        return 0
stats = None
try:
    with socket.create_connection(("127.0.0.1", admin), timeout=5) as s:
        s.sendall(b"stats\n")
        buf = b""
        while not buf.endswith(b"\n") and len(buf) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    stats = json.loads(buf)["stats"]
except (OSError, ValueError, KeyError):
    pass
# The loadgen process is the child of the `timeout` we started.
def child(pid):
    try:
        return int(open(f"/proc/{pid}/task/{pid}/children").read().split()[0])
    except (OSError, IndexError, ValueError):
        return None
print(json.dumps({
    "t_s": t,
    "hub": proc(hub),
    "loadgen": [proc(c) if (c := child(g)) else None for g in gens],
    "recorder_bytes": size(db) + size(db + "-wal"),
    "hub_stats": stats,
}))
PY
}
: >"$OUT/samples.jsonl"
sleep 15
sample "${lgpids[@]}" >>"$OUT/samples.jsonl"
while kill -0 "${lgpids[0]}" 2>/dev/null || kill -0 "${lgpids[1]}" 2>/dev/null; do
  for _ in $(seq "$SAMPLE"); do
    kill -0 "${lgpids[0]}" 2>/dev/null || kill -0 "${lgpids[1]}" 2>/dev/null || break
    sleep 1
  done
  sample "${lgpids[@]}" >>"$OUT/samples.jsonl"
done
wait "${lgpids[@]}" || true
lgpids=()
kill "$hubpid" 2>/dev/null || true
wait "$hubpid" 2>/dev/null || true
hubpid=
"$LG" merge "$OUT/shard-0.json" "$OUT/shard-1.json" --out "$OUT/merged.json" 2>>"$OUT/summary.txt" || true
[[ -s $OUT/merged.json ]] && { "$LG" report "$OUT/merged.json" -o "$OUT/report.html" 2>>"$OUT/summary.txt" || true; }

python3 - "$OUT" "$GROWTH_KIB" "${WARM_S:-180}" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
out, limit, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(l) for l in open(f"{out}/samples.jsonl") if l.strip()]
def series(f):
    return [(r["t_s"], v) for r in rows if (v := f(r)) is not None]
def g(*path):
    def f(r):
        x = r
        for p in path:
            if x is None:
                return None
            x = x[p] if isinstance(p, int) and isinstance(x, list) and p < len(x) else (x.get(p) if isinstance(x, dict) else None)
        return x
    return f
print(f"{'t_s':>6} {'hub anon KiB':>12} {'hub cpu s':>9} {'lg0 anon':>9} {'lg1 anon':>9} {'recorder MB':>11} {'datagrams':>11} {'rows written':>12} {'rows dropped':>12} {'log lines':>10}  hub fates (missing/dup/late/malformed/rcvbuf drops)")
for r in rows:
    h, s = r["hub"] or {}, r["hub_stats"] or {}
    lg = [x or {} for x in (r["loadgen"] + [None, None])[:2]]
    rec = s.get("recorder") or {}
    u = s.get("udp") or {}
    print(f"{r['t_s']:>6} {h.get('anon_kib', '-'):>12} {h.get('cpu_s', 0):>9.1f} {lg[0].get('anon_kib', '-'):>9} {lg[1].get('anon_kib', '-'):>9} "
          f"{r['recorder_bytes'] / 1e6:>11.1f} {u.get('datagrams', '-'):>11} {rec.get('written', '-'):>12} {rec.get('dropped_queue_full', '-'):>12} {(s.get('log') or {}).get('written', '-'):>10}  "
          f"{u.get('packets_missing', '-')}/{u.get('duplicates', '-')}/{u.get('late', '-')}/{u.get('malformed', '-')}/{s.get('udp_rcvbuf_drops', '-')}")
verdict = []
for name, f in (("hub", g("hub", "anon_kib")), ("loadgen 0", g("loadgen", 0, "anon_kib")), ("loadgen 1", g("loadgen", 1, "anon_kib"))):
    s = series(f)
    if len(s) < 3:
        verdict.append(f"{name}: too few samples ({len(s)})")
        continue
    # The second half, and never the warm-up (the recorder's SQLite cache
    # fills for the first minutes: that is a cap being reached, not growth).
    half = [v for t, v in s if t >= max(s[-1][0] / 2, warm)]
    if len(half) < 2:
        verdict.append(f"{name}: run too short to judge growth (under {warm} s of samples past the warm-up)")
        continue
    growth = max(half) - half[0]
    ok = growth <= limit
    verdict.append(f"{name}: anonymous memory {half[0]} → max {max(half)} KiB over the second half (+{growth} KiB, limit {limit}): {'flat' if ok else 'GROWS'}")
for v in verdict:
    print(v)
try:
    m = json.load(open(f"{out}/merged.json"))
    u = m["udp"]
    print(f"merged: ok={m['ok']} sent={u['sent']} unexplained_loss={u.get('unexplained_loss')} fates={u['fates']} status_timeouts={u.get('status_timeouts')} waves={len(m['commands']['wave_list'])} recorder={m.get('recorder')}")
except (OSError, ValueError, KeyError) as e:
    print(f"merged report: not available ({e})")
PY
echo "wrote $OUT"
