# One report's timeline, per second: datagrams sent and STATUSes (left
# axis), devices up, fates missing/unknown and STATUS p99 (right axis).
# Inputs (-e): data (timeline.<stem>.dat), title, out, fmt.
if (fmt eq 'svg') { set terminal svg size 960,600 dynamic font 'sans,11' } else { set terminal pngcairo size 960,600 font 'sans,10' }
set output out.'.'.fmt
set title title
set xlabel "seconds since start"
set ylabel "per second"
set y2label "devices up · datagrams missing/unknown · STATUS p99 (ms)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set key top left
# Columns: t_s datagrams_sent statuses status_timeouts devices_up fates_missing fates_unknown status_p99_ms [stage]
# A staged run (-e staged=1) has a 9th column, the stage number (0 outside
# the stages): a grey impulse marks the second each stage begins in.
if (!exists("staged")) staged = 0
if (staged) {
stats data using 2 nooutput
top = STATS_max
prev = 0
plot data using 1:2 with lines lw 2 title "datagrams sent", \
     data using 1:3 with lines lw 2 title "STATUS", \
     data using 1:4 with lines lw 2 title "STATUS timeouts", \
     data using 1:5 axes x1y2 with lines lw 2 dt 2 title "devices up", \
     data using 1:6 axes x1y2 with lines lw 2 dt 3 title "fates missing", \
     data using 1:7 axes x1y2 with lines lw 2 dt 4 title "fates unknown", \
     data using 1:8 axes x1y2 with lines lw 2 dt 5 title "STATUS p99 (ms)", \
     data using ($1 - 1):(old = prev, prev = $9, ($9 != old && $9 > 0) ? top : 1/0) with impulses lw 1 lc rgb "#777777" title "a stage begins"
} else {
plot data using 1:2 with lines lw 2 title "datagrams sent", \
     data using 1:3 with lines lw 2 title "STATUS", \
     data using 1:4 with lines lw 2 title "STATUS timeouts", \
     data using 1:5 axes x1y2 with lines lw 2 dt 2 title "devices up", \
     data using 1:6 axes x1y2 with lines lw 2 dt 3 title "fates missing", \
     data using 1:7 axes x1y2 with lines lw 2 dt 4 title "fates unknown", \
     data using 1:8 axes x1y2 with lines lw 2 dt 5 title "STATUS p99 (ms)"
}
