# What the benchmarks that compare two settings over rounds share (sourced; needs here).
#   bench_run ARGS...    one run of http-tools-call.sh (its output on stderr): prints
#                        "calls/s CPU-microseconds-per-call p50-ms p99-ms"
#   median "V1 V2 ..."   the median of the values
#   bench_cost OFF ON OFFCPU ONCPU   (medians) the cost line: calls/s lost, CPU per call added
#   proc_ticks PID       the CPU time of process PID so far, in clock ticks: "user+system system"
bench_run() {
	"$here/http-tools-call.sh" "$@" | tee /dev/stderr | awk '
		function ms(v) { return v ~ /us$/ ? v / 1000 : v ~ /ms$/ ? v + 0 : v * 1000 }
		/ requests in / { n = $1 } /^Requests\/sec:/ { r = $2 } /^gateway CPU:/ { c = $3 }
		$1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
		END { printf "%s %.1f %.3f %.3f\n", r, c * 1e6 / n, p50, p99 }'
}
median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
bench_cost() {
	awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" \
		'BEGIN { printf "cost: %.1f%% of calls/s, %.1f%% more CPU per call\n", (a - b) * 100 / a, (d - c) * 100 / c }'
}
proc_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13, $13 }' "/proc/$1/stat"; }
