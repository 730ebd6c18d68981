#!/bin/sh
# Benchmark: what the metrics endpoint costs on the hot path. tools/call throughput through
# the HTTP endpoint (t/bench/http-tools-call.sh) with no metrics endpoint (nothing counted),
# then with one scraped every SCRAPE seconds (default 0.2, far more often than Prometheus),
# ROUNDS times each (default 3), in turn; prints each run's calls/s and the gateway's CPU
# time per call (which what else the machine runs disturbs less), and their medians.
#
#   t/bench/metrics.sh [BUILD_DIR]     (DURATION, CONNECTIONS, UPSTREAM, ERA as http-tools-call.sh)
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
rounds=${ROUNDS:-3}
off= on= offcpu= oncpu=
# run ARGS: "calls/s CPU-microseconds-per-call" of one run of http-tools-call.sh
run() {
	"$here/http-tools-call.sh" "$@" | tee /dev/stderr | awk '
		/ requests in / { n = $1 } /^Requests\/sec:/ { r = $2 } /^gateway CPU:/ { c = $3 }
		END { printf "%s %.1f\n", r, c * 1e6 / n }'
}
i=0
while [ $i -lt "$rounds" ]; do
	# which goes first alternates, so that a drift in the machine's load falls on both
	for m in $([ $((i % 2)) = 0 ] && echo "off on" || echo "on off"); do
		if [ $m = off ]; then
			set -- $(METRICS= run "$@") "$@"; off="$off $1"; offcpu="$offcpu $2"; shift 2
		else
			set -- $(METRICS=1 SCRAPE=${SCRAPE:-0.2} run "$@") "$@"; on="$on $1"; oncpu="$oncpu $2"; shift 2
		fi
	done
	i=$((i + 1))
done
median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "calls/s without metrics:$off (median $(median "$off"))"
echo "calls/s with metrics, scraped every ${SCRAPE:-0.2} s:$on (median $(median "$on"))"
echo "gateway CPU us/call without metrics:$offcpu (median $(median "$offcpu"))"
echo "gateway CPU us/call with metrics:$oncpu (median $(median "$oncpu"))"
awk -v a="$(median "$off")" -v b="$(median "$on")" -v c="$(median "$offcpu")" -v d="$(median "$oncpu")" \
	'BEGIN { printf "cost: %.1f%% of calls/s, %.1f%% more CPU per call\n", (a - b) * 100 / a, (d - c) * 100 / c }'
