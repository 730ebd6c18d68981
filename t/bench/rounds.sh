# What the benchmarks that compare two settings over rounds share (sourced; needs here).
#   bench_run ARGS...    one run of http-tools-call.sh (its output on stderr): prints
#                        "calls/s CPU-microseconds-per-call p50-ms p99-ms"
#   median "V1 V2 ..."   the median of the values (of the middle two, for an even count)
#   bench_cost OFFS ONS OFFCPUS ONCPUS   the cost lines, from each round's values: calls/s lost
#                        and CPU per call added, between the medians, and the median of each
#                        round's own pair (its two runs back to back, so that a drift of the
#                        machine's speed over the rounds falls out of it)
#   proc_ticks PID       the CPU time of process PID so far, in clock ticks: "user+system system"
bench_run() {
	"$here/http-tools-call.sh" "$@" | tee /dev/stderr | awk '
		function ms(v) { return v ~ /us$/ ? v / 1000 : v ~ /ms$/ ? v + 0 : v * 1000 }
		/ requests in / { n = $1 } /^Requests\/sec:/ { r = $2 } /^gateway CPU:/ { c = $3 }
		$1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
		END { printf "%s %.1f %.3f %.3f\n", r, c * 1e6 / n, p50, p99 }'
}
median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bench_cost() {
	awk -v a="$(median "$1")" -v b="$(median "$2")" -v c="$(median "$3")" -v d="$(median "$4")" \
		'BEGIN { printf "cost: %.1f%% of calls/s, %.1f%% more CPU per call (between the medians)\n", (a - b) * 100 / a, (d - c) * 100 / c }'
	lost=$(echo "$1 | $2" | awk '{ n = (NF - 1) / 2; for (i = 1; i <= n; i++) print ($i - $(i + n + 1)) * 100 / $i }')
	more=$(echo "$3 | $4" | awk '{ n = (NF - 1) / 2; for (i = 1; i <= n; i++) print ($(i + n + 1) - $i) * 100 / $i }')
	printf 'cost: %.1f%% of calls/s, %.1f%% more CPU per call (the median of the rounds'"'"' own pairs)\ncalls/s lost in each round, %%:%s; CPU per call added in each round, %%:%s\n' \
		"$(median "$lost")" "$(median "$more")" "$(printf ' %.1f' $lost)" "$(printf ' %.1f' $more)"
}
proc_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13, $13 }' "/proc/$1/stat"; }
