#!/bin/sh
# Benchmark: what observability costs as a whole. tools/call through the HTTP endpoint
# (t/bench/http-tools-call.sh) with neither metrics nor tracing, then with both: the metrics
# endpoint scraped every SCRAPE seconds (default 0.2) and every request traced (sample_ratio
# 1) and exported to a local collector (t/servers/otlp-collector.mjs). ROUNDS times each
# (default 3), which goes first alternating; prints each run's calls/s, latency p50/p99
# and the gateway's CPU time per call, and their medians.
#
#   t/bench/observability.sh [BUILD_DIR]    (DURATION, CONNECTIONS, UPSTREAM, ERA as http-tools-call.sh)
#
# The collector counts what it receives without decoding it (OTLP_COLLECTOR_PARSE=0 unless
# set), and with two CPUs or more the gateway runs on CPU 0 and everything else on CPU 1
# (PIN=0 to let them share), so that what the collector, the scraper and wrk cost is not
# counted as the gateway's. The collector's own CPU time is printed.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
rounds=${ROUNDS:-3}
[ "$(nproc)" -ge 2 ] || PIN=0
export PIN=${PIN:-1}
export OTLP_COLLECTOR_PARSE=${OTLP_COLLECTOR_PARSE:-0}
. "$here/collector.sh"

. "$here/rounds.sh"
# the collector's CPU time in clock ticks: it shares the machine with the gateway and wrk
collector_ticks() { proc_ticks "$collector_pid" | cut -d' ' -f1; }
off= on= offcpu= oncpu= off50= on50= off99= on99= collcpu=
i=0
while [ $i -lt "$rounds" ]; do
	for m in $([ $((i % 2)) = 0 ] && echo "off on" || echo "on off"); do
		if [ $m = off ]; then
			set -- $(METRICS= BENCH_LUA= bench_run "$@") "$@"
			off="$off $1"; offcpu="$offcpu $2"; off50="$off50 $3"; off99="$off99 $4"; shift 4
		else
			c0=$(collector_ticks)
			set -- $(METRICS=1 SCRAPE=${SCRAPE:-0.2} \
				BENCH_LUA="tracing = { endpoint = \"http://127.0.0.1:$port\", sample_ratio = 1 }," bench_run "$@") "$@"
			on="$on $1"; oncpu="$oncpu $2"; on50="$on50 $3"; on99="$on99 $4"; shift 4
			collcpu="$collcpu $(awk -v t="$(getconf CLK_TCK)" -v a="$c0" -v b="$(collector_ticks)" -v d="${DURATION:-10}" \
				'BEGIN { printf "%.1f", (b - a) * 100 / t / d }')"
		fi
	done
	i=$((i + 1))
done
echo "calls/s, both off:$off (median $(median "$off"))"
echo "calls/s, metrics scraped every ${SCRAPE:-0.2} s and tracing at 100%:$on (median $(median "$on"))"
echo "latency p50 ms, both off:$off50 (median $(median "$off50")); both on:$on50 (median $(median "$on50"))"
echo "latency p99 ms, both off:$off99 (median $(median "$off99")); both on:$on99 (median $(median "$on99"))"
echo "gateway CPU us/call, both off:$offcpu (median $(median "$offcpu")); both on:$oncpu (median $(median "$oncpu"))"
echo "the collector's CPU, % of a core over each run with tracing:$collcpu (median $(median "$collcpu"))"
bench_cost "$off" "$on" "$offcpu" "$oncpu"
