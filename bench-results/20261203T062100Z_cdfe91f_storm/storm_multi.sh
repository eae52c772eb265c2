#!/usr/bin/env bash
# storm_multi.sh OUT ROUNDS LG... : per round, bare once then each LG's storm; medians + ratio to the same round's bare
set -u
OUT=$1; R=$2; shift 2; N=${N:-5000}
mkdir -p "$OUT"
for i in $(seq 1 "$R"); do
  /tmp/lg-main limits --connections $N --rounds 1 --warmup-rounds 0 --datagrams 2000 --fanout 10 --fanout-large 0 --waves 1 --quiet --json "$OUT/bare-$i.json" >/dev/null 2>&1
  for lg in "$@"; do t=$(basename "$lg")
    ( cd "$OUT" && "$lg" --devices $N --connect-rate 1000000 --duration ${DUR:-2s} --command-every 0 --quiet --summary none --out "$OUT/$t-$i.json" >/dev/null 2>"$OUT/$t-$i.err" ) || \
    ( cd "$OUT" && "$lg" --devices $N --connect-rate 1000000 --duration ${DUR:-2s} --command-every 0 --quiet --out "$OUT/$t-$i.json" >/dev/null 2>"$OUT/$t-$i.err" )
  done
done
python3 - "$OUT" "$R" "$N" "$@" <<'PY'
import json,sys,statistics as st,os
out,R,N=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]); lgs=[os.path.basename(x) for x in sys.argv[4:]]
bare=[json.load(open(f"{out}/bare-{i}.json"))["accept"]["bare_per_s"][0] for i in range(1,R+1)]
print(f"bare median {st.median(bare):.0f}/s  {[round(x) for x in bare]}")
for t in lgs:
    s=[];r=[]
    for i in range(1,R+1):
        try:
            v=N/(json.load(open(f"{out}/{t}-{i}.json"))["devices"]["time_to_register_all_ms"]/1000); s.append(v); r.append(v/bare[i-1])
        except Exception as e: print(t,i,"failed",e)
    print(f"{t:16} storm median {st.median(s):.0f}/s ratio median {st.median(r):.2f}  {[round(x) for x in s]}")
PY
