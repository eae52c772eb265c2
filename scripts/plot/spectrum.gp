# Percentile spectrum of one latency kind, one line per input, on
# HdrHistogram's logarithmic percentile axis (x = 1/(1-p)).
# Inputs (-e): files, labels (space-separated, same order; each ends in
# its sample count), kind, commits, out, fmt.
if (fmt eq 'svg') { set terminal svg size 960,600 dynamic font 'sans,11' } else { set terminal pngcairo size 960,600 font 'sans,10' }
set output out.'.'.fmt
set title sprintf("%s latency by percentile (commit %s; n = samples)", kind, commits)
set logscale x
set xrange [1:*]
set xtics ("0%%" 1, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000, "99.9999%%" 1000000)
set xlabel "percentile"
set ylabel "latency (ms)"
set grid
set key top left
# .hgrm columns: Value(us) Percentile TotalCount 1/(1-Percentile).
# gnuplot's palette repeats after 8 colours: lines 9+ are dashed.
plot for [i=1:words(files)] word(files, i) using 4:($1/1000.0) with lines lw 2 dt 1+(i>8) title word(labels, i)
