# A picture that breaks the rules on purpose: the picture audit must reject it (its test is
# expects both files rejected). The y label names no unit and two curves share a plot with the key off.
set terminal pngcairo size 900,560
set output 'no_units.png'
set title 'Training loss'
set xlabel 'iteration (mini-batch steps)'
set ylabel 'loss'
set key off
plot 'loss.csv' using 1:2 with lines title 'loss', '' using 1:3 with lines title 'average'
