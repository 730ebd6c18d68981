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
. "$here/rounds.sh"
off= on= offcpu= oncpu=
i=0
while [ $i -lt "$rounds" ]; do
	# which goes first alternates, so that a drift in the machine's load falls on both
	for m in $([ $((i % 2)) = 0 ] && echo "off on" || echo "on off"); do
		if [ $m = off ]; then
			set -- $(METRICS= bench_run "$@") "$@"; off="$off $1"; offcpu="$offcpu $2"; shift 4
		else
			set -- $(METRICS=1 SCRAPE=${SCRAPE:-0.2} bench_run "$@") "$@"; on="$on $1"; oncpu="$oncpu $2"; shift 4
		fi
	done
	i=$((i + 1))
done
echo "calls/s without metrics:$off (median $(median "$off"))"
echo "calls/s with metrics, scraped every ${SCRAPE:-0.2} s:$on (median $(median "$on"))"
echo "gateway CPU us/call without metrics:$offcpu (median $(median "$offcpu"))"
echo "gateway CPU us/call with metrics:$oncpu (median $(median "$oncpu"))"
bench_cost "$off" "$on" "$offcpu" "$oncpu"
