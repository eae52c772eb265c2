# Open-loop rate sweep, from sweep.dat:
# rate dgram_per_s unexplained missing_not_injected status_timeouts
# Inputs (-e): data, knee (first troubled rate, or ''), out, fmt.
if (fmt eq 'svg') { set terminal svg size 960,600 dynamic font 'sans,11' } else { set terminal pngcairo size 960,600 font 'sans,10' }
set output out.'.'.fmt
set title "open-loop rate sweep: where unexplained loss starts"
set xlabel "offered rate (datagrams/s)"
set ylabel "achieved datagrams/s"
set y2label "unexplained loss / status timeouts"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set key top left
if (strlen(knee) > 0) {
  k = real(knee)
  set arrow from k, graph 0 to k, graph 1 nohead dt 2 lc rgb "#cc0000"
  set label sprintf("knee: trouble from %.0f/s", k) at k, graph 0.95 right offset -1,0 tc rgb "#cc0000"
}
plot data using 1:2 with linespoints lw 2 pt 7 title "achieved datagrams/s", \
     '' using 1:1 with lines dt 3 lc rgb "#888888" title "offered", \
     '' using 1:3 axes x1y2 with linespoints pt 5 lc rgb "#cc0000" title "unexplained loss", \
     '' using 1:5 axes x1y2 with linespoints pt 9 lc rgb "#6600cc" title "status timeouts"
