#!/bin/sh
# Benchmark: what tracing costs on a call's path. t/bench/http-tools-call.sh twice, tracing
# off, then every request recorded and exported to a local collector
# (t/servers/otlp-collector.mjs), which reports the spans it received at the end.
#
#   t/bench/tracing.sh [BUILD_DIR]
#
# Env: as http-tools-call.sh (DURATION, CONNECTIONS, UPSTREAM, ERA); SAMPLE_RATIO (1);
# OTLP_COLLECTOR_PARSE=0: the collector counts bytes without decoding them, so that on a
# small machine its own work does not weigh on the gateway's figures.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
. "$here/collector.sh"
echo "=== tracing off"
"$here/http-tools-call.sh" "$@"
echo "=== tracing on, sample_ratio ${SAMPLE_RATIO:-1}, collector on port $port"
BENCH_LUA="tracing = { endpoint = \"http://127.0.0.1:$port\", sample_ratio = ${SAMPLE_RATIO:-1} }," \
	"$here/http-tools-call.sh" "$@"
