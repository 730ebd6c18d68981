#!/bin/sh
# Benchmark: what tracing costs in instructions per tools/call, counted by valgrind's
# callgrind, a figure that does not move with what else the machine runs (calls/s on a
# shared machine do). The gateway serves tools/call over HTTP from the loopback provider
# (as t/bench/http-tools-call.sh) under callgrind for each of: tracing off; every request
# traced (sample_ratio 1) and exported to a local collector (t/servers/otlp-collector.mjs)
# in protobuf, then in JSON; and sample_ratio 0 (nothing recorded, the trace context still
# passed upstream). Counting starts after a warm-up, and covers DURATION seconds of calls.
#
#   t/bench/instructions.sh [BUILD_DIR]    (DURATION default 10, CONNECTIONS default 8, TOOL)
#
# TOOL=lb__gen measures a tool whose result is not its input (lb__echo, the default, returns
# its params, so the trace context passed upstream comes back in the result too).
# Needs valgrind and wrk (Debian packages).
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
export CONNECTIONS=${CONNECTIONS:-8} OTLP_COLLECTOR_PARSE=${OTLP_COLLECTOR_PARSE:-0}
. "$here/collector.sh"
. "$here/gateway.sh"
# both set a trap on exit: one for both
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; kill "$collector_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work" "$collector_log"' EXIT
command -v callgrind_control >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
make -s -C "$build" mcpfed plugins/http/http.la t/plugins/loopback.la

# measure NAME LUA: "NAME instructions/call" of the gateway configured with the top-level keys LUA
measure() {
	BENCH_LUA=$2 bench_config '"http://127.0.0.1:0/mcp"' loopback
	tool=${TOOL:-$tool}
	GATEWAY_WRAPPER="valgrind --tool=callgrind --callgrind-out-file=$work/callgrind.$1" start_gateway "$work/bench.lua"
	MCPFED_TOOL=$tool timeout 120 wrk -t1 -c"$connections" -d3s -s "$here/tools-call.lua" "$url" >/dev/null
	callgrind_control -z "$pid" >/dev/null 2>&1
	MCPFED_TOOL=$tool timeout 300 wrk -t1 -c"$connections" -d"${duration}s" -s "$here/tools-call.lua" "$url" >"$work/wrk"
	callgrind_control -d "$pid" >/dev/null 2>&1
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	calls=$(awk '/ requests in /{ print $1 }' "$work/wrk")
	ir=$(cat "$work"/callgrind."$1".[0-9]* | awk '/^summary:/{ s += $2 } END { print s }')   # the dump, not the exit
	echo "$1 $((ir / calls)) ($calls calls)"
}
endpoint="http://127.0.0.1:$port"
off=$(measure off "")
echo "$off"
for v in "traced,protobuf:tracing = { endpoint = \"$endpoint\", sample_ratio = 1 }," \
	"traced,json:tracing = { endpoint = \"$endpoint\", sample_ratio = 1, protocol = \"http/json\" }," \
	"propagated-only:tracing = { endpoint = \"$endpoint\", sample_ratio = 0 },"; do
	r=$(measure "${v%%:*}" "${v#*:}")
	echo "$r" | awk -v base="${off#off }" '{ split(base, b, " "); printf "%s %s instructions/call %s %s, %+.1f%% against tracing off\n", $1, $2, $3, $4, ($2 - b[1]) * 100 / b[1] }'
done
