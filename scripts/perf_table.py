#!/usr/bin/env python3
"""The one-page table of scripts/perf.sh: reads a perf folder, prints Markdown.

Every figure is a median over the folder's rounds, beside the bare anchor
measured in the same run; a row whose files are missing says so instead of
inventing a number. Usage: scripts/perf_table.py bench-results/<…>_perf
"""
import glob
import json
import os
import re
import statistics
import sys

TSUNG_STORM = 12_100  # conn/s, Tsung 1.7 on this machine (DEVELOPERS.md; not re-run here)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def med(v):
    return statistics.median(v) if v else None


def fmt(x, nd=2):
    return "–" if x is None else f"{x:,.{nd}f}"


def storm(out):
    bare, storm, ratio, ok = [], [], [], []
    for b in sorted(glob.glob(f"{out}/storm/bare-*.json")):
        r = b.rsplit("-", 1)[1]
        s = load(f"{out}/storm/storm-{r}")
        bj = load(b)
        if not s or not bj or not s["devices"].get("time_to_register_all_ms"):
            continue
        bv = bj["accept"]["bare_per_s"][0]
        sv = s["devices"]["requested"] / (s["devices"]["time_to_register_all_ms"] / 1000)
        bare.append(bv)
        storm.append(sv)
        ratio.append(sv / bv)
        ok.append(s["ok"] and s["devices"]["hub_registered"] == s["devices"]["requested"])
    if not storm:
        return None
    return (
        "5000-device connection storm (embedded hub, `--connect-rate 1000000`)",
        f"{fmt(med(storm), 0)}/s, **{fmt(med(ratio))}× bare**, {fmt(med(storm) / TSUNG_STORM)}× Tsung",
        f"bare connect loop {fmt(med(bare), 0)}/s; Tsung 12.1k/s (quoted)",
        "≥ 0.95× bare, ≥ 2.5× Tsung",
        f"{len(storm)} rounds {[round(x) for x in storm]}; every run ok and the hub's count equal: {all(ok)}",
    )


def udp(out, name, label, goal):
    j = load(f"{out}/udp/{name}.json")
    if not j:
        return None
    extra = ""
    if j.get("recorder"):
        extra = f"; recorder {fmt(j.get('median_recorder_ns_per_row'), 0)} ns CPU per row, dropped {j.get('recorder_dropped_queue_full')}"
    return (
        label,
        f"{fmt(j['median_hub_ns'], 0)} ns, **{fmt(j['median_ratio'])}× bare**",
        f"bare `recv_from` {fmt(j['median_bare_ns'], 0)} ns",
        goal,
        f"{j['rounds']} alternating rounds of {j['datagrams_per_round']:,}; hub took {fmt(j['median_hub_rate'], 0)}/s{extra}",
    )


def wave(out):
    ratios, hub, bare, drops, unexplained = [], [], [], [], []
    for b in sorted(glob.glob(f"{out}/wave/bare-*.json")):
        r = b.rsplit("-", 1)[1]
        run = load(f"{out}/wave/run-{r}")
        bj = load(b)
        if not run or not bj:
            continue
        waves = [w["elapsed_us"] / 1000 for w in run["commands"]["wave_list"] if w["done"] and w.get("measured", True)]
        if not waves:
            continue
        bv = bj["fanout_large"]["median_bare_ms"]
        hv = statistics.median(waves)
        hub.append(hv)
        bare.append(bv)
        ratios.append(hv / bv)
        drops.append(run["loss_diagnosis"].get("hub_udp_rcvbuf_drops") or 0)
        unexplained.append(run["udp"].get("unexplained_loss", 0))
    if not hub:
        return None
    return (
        "wave to 5000 devices while they stream",
        f"{fmt(med(hub), 1)} ms, **{fmt(med(ratios))}× bare**, hub rcvbuf drops {drops}",
        f"bare fan-out {fmt(med(bare), 1)} ms (`loadgen limits`)",
        "≤ 1.5×, 0 dropped",
        f"{len(hub)} rounds; unexplained loss {unexplained}",
    )


def fairness(out):
    runs = {}
    for f in glob.glob(f"{out}/fairness/r*-*-[01].json"):
        m = re.match(r"r(\d+)-(waves|nowaves)-[01]\.json", os.path.basename(f))
        j = load(f)
        if not m or not j:
            continue
        k = (int(m.group(1)), m.group(2))
        d = runs.setdefault(k, {"drops": 0, "unexplained": 0, "n": 0})
        d["drops"] = max(d["drops"], j["loss_diagnosis"].get("hub_udp_rcvbuf_drops") or 0)
        d["unexplained"] += j["udp"].get("unexplained_loss", 0)
        d["n"] += 1
    if not runs:
        return None

    def best(tag):
        clean = [r for (r, t), d in runs.items() if t == tag and d["n"] == 2 and d["drops"] == 0 and d["unexplained"] == 0]
        return max(clean) if clean else 0

    w, nw = best("waves"), best("nowaves")
    detail = "; ".join(
        f"{r}/s {t}: drops {d['drops']}, unexplained {d['unexplained']}" for (r, t), d in sorted(runs.items())
    )
    return (
        "zero-loss fleet rate at 19,800 devices, waves every 2 s",
        f"{w:,}/s with waves, **{fmt(w / nw if nw else None)}× without**",
        f"same fleet without waves: {nw:,}/s (highest rate tried with 0 loss)",
        "with waves ≥ 0.8× without",
        detail,
    )


def memory(out):
    try:
        text = open(f"{out}/memory.txt").read()
    except OSError:
        return None
    rows = {}
    for who in ("hub", "loadgen"):
        m = re.search(rf"{who} slope: ([\d.-]+) KiB per device; total at (\d+): ([\d.]+)", text)
        if m:
            rows[who] = (float(m.group(1)), int(m.group(2)), float(m.group(3)))
    if "hub" not in rows:
        return None
    h = rows["hub"]
    lg = rows.get("loadgen")
    lgs = f"; loadgen {lg[0]:.2f} KiB per device (slope), {lg[2]:.2f} total at {lg[1]}" if lg else ""
    return (
        "memory per device (peak anonymous RSS, slope between sizes)",
        f"hub **{h[0]:.2f} KiB**{lgs}",
        "—",
        "hub ≤ 1 KiB; loadgen ≤ 1.5 KiB",
        f"hub {h[2]:.2f} KiB per device in total at {h[1]} (idle hub included)",
    )


def loadgen_cpu(out, pace):
    j = load(f"{out}/loadgen-cpu-{pace}/summary.json")
    if not j or "iperf3" not in j["median"] or "loadgen" not in j["median"]:
        return None
    lg, ip = j["median"]["loadgen"], j["median"]["iperf3"]
    return (
        f"loadgen CPU per datagram, {pace} loop",
        f"{lg:,.0f} ns, **{lg / ip:.2f}× iperf3**",
        f"iperf3 UDP client {ip:,.0f} ns",
        "≤ 0.6× iperf3",
        f"rounds loadgen {j['ns_per_datagram']['loadgen']}, iperf3 {j['ns_per_datagram']['iperf3']}",
    )


def main():
    out = sys.argv[1]
    rows = [
        storm(out),
        udp(out, "1sender-recorder", "hub CPU per datagram, whole hub, recorder on (1 sender)", "≤ 1.5×, ≤ 1 µs per row"),
        udp(out, "1sender", "hub CPU per datagram, loop thread, 1 sender (`udp_ingest`)", "≤ 1.2×"),
        udp(out, "2senders", "hub CPU per datagram, loop thread, 2 senders", "≤ 1.05×"),
        wave(out),
        fairness(out),
        memory(out),
        loadgen_cpu(out, "closed"),
        loadgen_cpu(out, "open"),
    ]
    load_txt = open(f"{out}/load.txt").read().strip().replace("\n", "; ") if os.path.exists(f"{out}/load.txt") else "not recorded"
    print(f"# Speed table: {os.path.basename(out.rstrip('/'))}\n")
    print(f"Machine load (1/5/15 min) at each step: {load_txt}\n")
    print("| figure | this run | bare anchor, same run | goal | detail |")
    print("|---|---|---|---|---|")
    for r in rows:
        if r:
            print("| " + " | ".join(r) + " |")
    missing = sum(r is None for r in rows)
    if missing:
        print(f"\n{missing} row(s) not measured in this folder (missing or failed files).")


if __name__ == "__main__":
    main()
