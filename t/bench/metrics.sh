#!/bin/sh
# Benchmark: what the metrics endpoint costs on the hot path. tools/call throughput through
# the HTTP endpoint (t/bench/http-tools-call.sh) with no metrics endpoint (nothing counted),
# then with one scraped every SCRAPE seconds (default 0.2, far more often than Prometheus),
# ROUNDS times each (default 3), alternating; prints each run's calls/s and the medians.
#
#   t/bench/metrics.sh [BUILD_DIR]     (DURATION, CONNECTIONS, UPSTREAM, ERA as http-tools-call.sh)
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
rounds=${ROUNDS:-3}
off= on=
run() {
	"$here/http-tools-call.sh" "$@" | tee /dev/stderr | awk '/^Requests\/sec:/ { print $2 }'
}
i=0
while [ $i -lt "$rounds" ]; do
	off="$off $(METRICS= run "$@")"
	on="$on $(METRICS=1 SCRAPE=${SCRAPE:-0.2} run "$@")"
	i=$((i + 1))
done
median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "calls/s without metrics:$off (median $(median "$off"))"
echo "calls/s with metrics, scraped every ${SCRAPE:-0.2} s:$on (median $(median "$on"))"
awk -v a="$(median "$off")" -v b="$(median "$on")" 'BEGIN { printf "cost: %.1f%%\n", (a - b) * 100 / a }'
