#!/bin/sh
# Benchmark: what tracing and metrics cost in instructions per tools/call, counted by
# valgrind's callgrind, a figure that does not move with what else the machine runs
# (calls/s on a shared machine do). The gateway serves tools/call over HTTP from the
# loopback provider (as t/bench/http-tools-call.sh) under callgrind for each of: both off;
# every request traced (sample_ratio 1) and exported to a local collector
# (t/servers/otlp-collector.mjs) in protobuf, then in JSON; sample_ratio 0 (nothing
# recorded, the trace context still passed upstream); metrics counted (not scraped); and
# metrics with tracing in protobuf. Counting starts after a warm-up, and covers DURATION
# seconds of calls.
#
#   t/bench/instructions.sh [BUILD_DIR]    (DURATION default 10, CONNECTIONS default 8, TOOL, MODES, CACHE)
#
# TOOL=lb__gen measures a tool whose result is not its input (lb__echo, the default, returns
# its params, so the trace context passed upstream comes back in the result too). MODES
# picks some of: traced,protobuf traced,json propagated-only metrics both.
# CACHE=1 simulates the caches too (twice as slow) and adds an estimate of cycles per call,
# callgrind's: instructions + 10 per first-level miss + 100 per last-level miss. Instructions
# alone miss what a larger working set costs: the CPU time tracing adds is about twice its
# instructions'.
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

# measure NAME LUA [METRICS]: "NAME instructions/call cycles/call (N calls)" of the gateway
# configured with the top-level keys LUA (cycles 0 without CACHE)
measure() {
	METRICS=${3:-} BENCH_LUA=$2 bench_config '"http://127.0.0.1:0/mcp"' loopback
	tool=${TOOL:-$tool}
	cache=no
	[ -z "${CACHE:-}" ] || cache=yes
	GATEWAY_WRAPPER="valgrind --tool=callgrind --cache-sim=$cache --callgrind-out-file=$work/callgrind.$1" start_gateway "$work/bench.lua"
	MCPFED_TOOL=$tool timeout 120 wrk -t1 -c"$connections" -d3s -s "$here/tools-call.lua" "$url" >/dev/null
	callgrind_control -z "$pid" >/dev/null 2>&1
	MCPFED_TOOL=$tool timeout 300 wrk -t1 -c"$connections" -d"${duration}s" -s "$here/tools-call.lua" "$url" >"$work/wrk"
	callgrind_control -d "$pid" >/dev/null 2>&1
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	calls=$(awk '/ requests in /{ print $1 }' "$work/wrk")
	# the dump, not the exit; events Ir [Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw]
	cat "$work"/callgrind."$1".[0-9]* | awk -v name="$1" -v calls="$calls" '/^summary:/ {
		ir += $2; if (NF > 2) { l1 += $5 + $6 + $7; ll += $8 + $9 + $10 } }
		END { printf "%s %d %d (%d calls)\n", name, ir / calls, l1 ? (ir + 10 * l1 + 100 * ll) / calls : 0, calls }'
}
endpoint="http://127.0.0.1:$port"
off=$(measure off "")
echo "$off" | awk '{ printf "off %s instructions/call%s %s %s\n", $2, $3 ? ", " $3 " cycles/call (estimated)" : "", $4, $5 }'
traced="tracing = { endpoint = \"$endpoint\", sample_ratio = 1 },"
for m in ${MODES:-traced,protobuf traced,json propagated-only metrics both}; do
	case $m in
	traced,protobuf) r=$(measure "$m" "$traced") ;;
	traced,json) r=$(measure "$m" "tracing = { endpoint = \"$endpoint\", sample_ratio = 1, protocol = \"http/json\" },") ;;
	propagated-only) r=$(measure "$m" "tracing = { endpoint = \"$endpoint\", sample_ratio = 0 },") ;;
	metrics) r=$(measure "$m" "" 1) ;;
	both) r=$(measure "$m" "$traced" 1) ;;
	*) echo "MODES: $m is none of traced,protobuf traced,json propagated-only metrics both" >&2; exit 2 ;;
	esac
	echo "$r" | awk -v base="$off" '{ split(base, b, " ")
		printf "%s %s instructions/call %s %s, %+.1f%% against both off", $1, $2, $4, $5, ($2 - b[2]) * 100 / b[2]
		if ($3) printf "; %s cycles/call (estimated), %+.1f%%", $3, ($3 - b[3]) * 100 / b[3]
		print "" }'
done
