#!/usr/bin/env bash
# Sharded benchmark (issue 11): 19,800 devices against one hub through a
# one-node Slurm cluster (3 shards, common --start-at), an open-loop rate
# sweep to find the highest fleet rate with zero unexplained loss; then a
# 5,000-device connection storm beside `loadgen limits`' bare accept rate,
# alternating in the same run. Needs root, slurm-wlm and munge, and release
# builds (`cargo build --release -p hub -p loadgen`).
#
#   scripts/shard_bench.sh [RATE…]      (default 10000 20000 30000 40000 60000)
#
# Environment: DURATION (15s), WARMUP (10s), CONNECT_RATE (4000),
# SOURCE_IPS (127.0.0.2-127.0.0.9), COMMAND_EVERY (5s; 0 = no waves), HUB_NICE (0; e.g. -10 to favour the
# hub over the shards), SKIP_STORM (set: no storm rounds).
#
# Results: bench-results/<UTC>_<commit>_shards/ (every report, merged
# reports, hub process figures, summary.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LG=$root/target/release/loadgen
HUBBIN=$root/target/release/hub
rates=("$@")
((${#rates[@]})) || rates=(10000 20000 30000 40000 60000)
DEVICES=${DEVICES:-19800}
DURATION=${DURATION:-15s}
stamp="$(date -u +%Y%m%dT%H%M%SZ)_$(git -C "$root" rev-parse --short HEAD)"
out="$root/bench-results/${stamp}_shards"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/shard-bench.XXXXXX)
chmod 755 "$tmp"
mkdir -p "$tmp"/{munge,sock,state,spool,log,submit}
chmod 700 "$tmp/munge"
head -c 1024 /dev/urandom >"$tmp/munge/munge.key"
chmod 400 "$tmp/munge/munge.key"

pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

munged -F --key-file="$tmp/munge/munge.key" --socket="$tmp/sock/munge.sock" \
  --pid-file="$tmp/munge/pid" --log-file="$tmp/munge/log" --seed-file="$tmp/munge/seed" &
pids+=($!)
for _ in $(seq 50); do [[ -S $tmp/sock/munge.sock ]] && break; sleep 0.1; done
host=$(hostname -s)
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=hubstorm-bench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=26817
SlurmdPort=26818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/sock/munge.sock
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=bench Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
slurmctld -D -f "$SLURM_CONF" >"$tmp/log/ctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$tmp/log/d.out" 2>&1 &
pids+=($!)
for _ in $(seq 120); do [[ $(sinfo --noheader --format=%t 2>/dev/null) == idle ]] && break; sleep 0.25; done
[[ $(sinfo --noheader --format=%t) == idle ]] || { echo "slurm node not idle" >&2; exit 1; }

cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

for rate in "${rates[@]}"; do
  log=$tmp/hub-$rate.log
  nice -n "${HUB_NICE:-0}" "$HUBBIN" --tcp-port 27050 --udp-port 27060 --admin-port 27051 --log-file "$log" --no-console \
    >"$tmp/hub-$rate.out" 2>&1 &
  hub=$!
  pids+=($hub)
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/27051) 2>/dev/null && break; sleep 0.1; done
  c0=$(cpu_s "$hub")
  t0=$(date +%s.%N)
  mkdir -p "$out/rate-$rate"
  # Hub CPU and RSS once a second, to read them over the measured window.
  (while kill -0 "$hub" 2>/dev/null; do
    echo "$(date +%s.%N) $(cpu_s "$hub") $(awk '/^VmRSS/ {print $2}' "/proc/$hub/status")"
    sleep 1
  done >"$out/rate-$rate/hub-samples.txt" 2>/dev/null) &
  (cd "$tmp/submit" && HUB=127.0.0.1 LOADGEN=$LG REPORTS=$out/rate-$rate START_LEAD=5 \
    sbatch --wait --overcommit --ntasks 3 "$root/deploy/slurm/hubstorm.sbatch" \
    --tcp-port 27050 --udp-port 27060 --admin-port 27051 \
    --devices "$DEVICES" --rate "$rate" --connect-rate "${CONNECT_RATE:-4000}" --warmup "${WARMUP:-10s}" --duration "$DURATION" \
    --seed 1 --command-every "${COMMAND_EVERY:-5s}" --source-ips "${SOURCE_IPS:-127.0.0.2-127.0.0.9}") || echo "rate $rate: job exit $?"
  t1=$(date +%s.%N)
  c1=$(cpu_s "$hub")
  printf '{"rate": %s, "hub_cpu_s": %s, "wall_s": %s, "hub_rss_hwm_kb": %s, "devices": %s}\n' \
    "$rate" "$(echo "$c1 - $c0" | bc)" "$(echo "$t1 - $t0" | bc)" "$(rss_kb "$hub")" "$DEVICES" \
    >"$out/rate-$rate/hub-process.json"
  kill "$hub"; wait "$hub" 2>/dev/null || true
  unset 'pids[${#pids[@]}-1]'
done
cp "$tmp"/submit/hubstorm-*.out "$out/" 2>/dev/null || true

# Connection storm: 5000 devices as fast as they go, beside the bare accept
# rate, alternating.
for k in $( [[ -n ${SKIP_STORM:-} ]] || echo 1 2 3); do
  "$LG" limits --connections 5000 --rounds 1 --datagrams 20000 --quiet --json "$out/storm-limits-$k.json"
  "$LG" --devices 5000 --connect-rate 1000000 --duration 2s --command-every 0 --quiet \
    --out "$out/storm-$k.json" || true
done

python3 - "$out" <<'PY' | tee "$out/summary.txt"
import glob, json, os, sys
out = sys.argv[1]
print("rate sweep: 19800 devices, 3 Slurm shards, one hub (open loop; see the job flags in each shard report)")
print(f"{'rate/s':>8} {'reg':>6} {'sent/s':>9} {'unexpl':>7} {'rcvbuf':>7} {'snmpRcvbuf':>10} {'sendErr':>7} {'st_p99ms':>8} {'wave_max':>8} {'skew_ms':>7} {'hubCPU%':>7} {'hubRSS_MB':>9} {'KB/dev':>6} {'us/dev/s':>8}")
print("(hub CPU% and RSS over the measured window; us/dev/s = hub CPU microseconds per device per second)")
for d in sorted(glob.glob(f"{out}/rate-*"), key=lambda p: int(p.rsplit('-', 1)[1])):
    merged = glob.glob(f"{d}/slurm-*/merged.json")
    hp = json.load(open(f"{d}/hub-process.json"))
    if not merged:
        print(f"{hp['rate']:>8} (no merged report)")
        continue
    m = json.load(open(merged[0]))
    shards = [json.load(open(p)) for p in sorted(glob.glob(f"{d}/slurm-*/shard-*.json"))]
    wave_max = max((w["reached"] for s in shards for w in s["commands"]["wave_list"]), default=0)
    snmp = (m["loss_diagnosis"].get("snmp_udp_delta") or {}).get("rcvbuf_errors")
    dur = m["config"]["duration"] / 1000
    # Hub CPU over the measured window (start + warm-up .. + duration).
    t_from = (m["run"]["start"]["started_unix_ms"] + m["config"]["warmup"]) / 1000
    t_to = t_from + dur
    samples = [tuple(map(float, l.split())) for l in open(f"{d}/hub-samples.txt") if len(l.split()) == 3]
    inside = [x for x in samples if t_from <= x[0] <= t_to]
    if len(inside) >= 2:
        cpu_pct = 100 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
        rss_kb = max(x[2] for x in inside)
    else:
        cpu_pct, rss_kb = float("nan"), hp["hub_rss_hwm_kb"]
    hp["hub_rss_hwm_kb"] = rss_kb
    print(f"{hp['rate']:>8} {m['devices']['registered']:>6} {m['udp']['datagrams_per_s']:>9.0f} {m['udp']['unexplained_loss']:>7} "
          f"{m['loss_diagnosis']['hub_udp_rcvbuf_drops']!s:>7} {snmp!s:>10} {m['udp']['send_errors']:>7} "
          f"{m['latency_us']['status']['p99']/1000:>8.1f} {wave_max:>8} {m['run']['start']['skew_ms'] or 0:>7.1f} "
          f"{cpu_pct:>7.1f} {hp['hub_rss_hwm_kb']/1024:>9.1f} {hp['hub_rss_hwm_kb']/hp['devices']:>6.2f} "
          f"{1e4*cpu_pct/hp['devices']:>8.2f}")
print()
print("connection storm: 5000 devices, --connect-rate 1000000, beside loadgen limits --connections 5000")
for k in (1, 2, 3):
    try:
        s = json.load(open(f"{out}/storm-{k}.json"))
        l = json.load(open(f"{out}/storm-limits-{k}.json"))
    except FileNotFoundError:
        continue
    ttr = s["devices"]["time_to_register_all_ms"]
    reg = 5000 / (ttr / 1000) if ttr else float("nan")
    print(f"round {k}: registered {s['devices']['registered']} in {ttr} ms = {reg:,.0f}/s; bare accept {l['accept']['median_bare_per_s']:,.0f}/s; limits' hub register {l['accept']['median_hub_per_s']:,.0f}/s")
PY
