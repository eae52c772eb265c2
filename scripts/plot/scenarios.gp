# Throughput and loss per scenario (closed-loop reports), from scenarios.dat:
# label dgram_per_s unexplained injected_drops reported_missing status_timeouts
# Inputs (-e): data, out, fmt.
if (fmt eq 'svg') { set terminal svg size 960,720 dynamic font 'sans,11' } else { set terminal pngcairo size 960,720 font 'sans,10' }
set output out.'.'.fmt
set multiplot layout 2,1
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set xtics rotate by -30
set title "throughput per scenario"
set ylabel "datagrams/s"
set yrange [0:*]
set offsets 0,0,graph 0.1,0
plot data using 2:xtic(1) title "datagrams/s sent" lc rgb "#3366cc"
set title "loss accounting per scenario"
set ylabel "datagrams"
plot data using 4:xtic(1) title "injected drops" lc rgb "#999999", \
     '' using 5 title "reported missing" lc rgb "#ff9900", \
     '' using 3 title "unexplained loss" lc rgb "#cc0000", \
     '' using 6 title "status timeouts" lc rgb "#6600cc"
unset multiplot
