#!/bin/sh
# Benchmark: what observability costs on the hot path. Two gateways serve tools/call over
# HTTP from the in-process loopback provider (the gateway's own work, nothing upstream): one
# with metrics and tracing off, one with MODE on:
#   both        /metrics scraped every SCRAPE seconds (default 15, a usual Prometheus
#               scrape_interval) and every request traced (sample_ratio 1), exported in
#               protobuf to a local collector (t/servers/otlp-collector.mjs); the default
#   tracing     tracing alone, as above
#   metrics     metrics alone, scraped as above
#   propagated  sample_ratio 0: nothing recorded, the trace context passed upstream
#   none        both off too: alone, it shows the benchmark's own spread
# MCPFED_ON, another build's mcpfed, runs the second gateway (BUILD_ON, another build
# directory: its mcpfed with its plugins), and MODE_OFF (default none) sets the first's
# settings: MODE_OFF=tracing MODE=tracing MCPFED_ON=... compares two builds, both tracing.
# UPSTREAM=stdio serves the calls from a Node.js MCP server over stdio (its echo tool)
# rather than the loopback provider: the figures of a real upstream; UPSTREAM=http, from a
# third mcpfed serving the loopback provider over Streamable HTTP, on the other CPU (both
# gateways' upstream), through the http provider: a remote upstream's.
# Two wrk load both at once for SLICE seconds (default 2), ROUNDS times (default 16): the
# gateways share one CPU, so that whatever the machine's speed does during a round, it does
# to both (on a shared virtual machine it moves by several percent from one second to the
# next: loaded in turn, a round's two halves differed by up to 40 %, both gateways off; at
# once, by 2 % at most). Each round is a pair. The gateways are started again every EPOCH
# rounds (default 4), which one first alternating, as a process's speed depends a little on
# where its memory falls. Prints each round's calls/s and gateway CPU per call (all its
# threads', from /proc/PID/task/*/schedstat, in ns), their medians, and the cost
# (t/bench/rounds.sh): between the medians, and the median of each round's own difference;
# and what exporting the spans took of it, as the second gateway counts it (its tracing
# status's export_cpu_ms: libcurl's work and the sends) per call. CPU per call is the
# figure to read: the gateways' calls/s also follow how the scheduler shares the CPU.
#
#   t/bench/observability.sh [BUILD_DIR]    (MODE, MODE_OFF, MCPFED_ON, BUILD_ON, UPSTREAM, SLICE, ROUNDS, EPOCH, SCRAPE, CONNECTIONS, TOOL, BATCH, BATCH_OFF, COLLECTOR_HOST_ON)
#
# COLLECTOR_HOST_ON names the collector's host in the second gateway's endpoint (the first's is
# 127.0.0.1): MODE_OFF=both MODE=both COLLECTOR_HOST_ON=$(hostname) shows what a collector
# named rather than numbered costs (libcurl resolves a name on a thread of its own).
# TOOL defaults to lb__gen (a tool whose result is not its input); BATCH sets batch_spans
# (BATCH_OFF the first gateway's, when it traces: BATCH unless set).
# With two CPUs or more the gateways run on CPU 0 and wrk, the collector and the scraper on
# CPU 1 (PIN=0 to let them share), so that what those cost is not counted as the gateway's.
# CPU per call sharing a CPU is a few microseconds more than alone (the two gateways take
# turns in its caches); the cost is the ratio.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
. "$here/pinned.sh"
. "$here/rounds.sh"
mode=${MODE:-both}
slice=${SLICE:-2}
rounds=${ROUNDS:-16}
off_pid= on_pid= scraper=
# gateway.sh and collector.sh each set a trap on exit: one for all
up_pid=
trap 'kill $pid $off_pid $on_pid $scraper $up_pid "$collector_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work" "$collector_log"' EXIT
make -s -C "$build" mcpfed tools/mcpfedctl plugins/http/http.la t/plugins/loopback.la

# settings MODE [BATCH]: lua and metrics for bench_config
settings() {
	tracing="tracing = { endpoint = \"http://127.0.0.1:$port\", sample_ratio = 1,${2:+ batch_spans = $2,} },"
	case $1 in
	both) lua=$tracing metrics=1 ;;
	tracing) lua=$tracing metrics= ;;
	metrics) lua= metrics=1 ;;
	propagated) lua="tracing = { endpoint = \"http://127.0.0.1:$port\", sample_ratio = 0 }," metrics= ;;
	none) lua= metrics= ;;
	*) echo "MODE is both, tracing, metrics, propagated or none" >&2; exit 2 ;;
	esac
}
epoch=${EPOCH:-4}
upstream=${UPSTREAM:-loopback}
if [ "$upstream" = http ]; then
	METRICS= BENCH_LUA= bench_config '"http://127.0.0.1:0/mcp"' loopback
	mv "$work/bench.lua" "$work/up.lua"
	gateway_wrapper=${GATEWAY_WRAPPER:-}
	GATEWAY_WRAPPER=${CLIENT_WRAPPER:-}   # on the other CPU
	start_gateway "$work/up.lua" up.log
	GATEWAY_WRAPPER=$gateway_wrapper
	up_pid=$pid UPSTREAM_URL=$url pid=
	export UPSTREAM_URL
fi
on_mcpfed=${MCPFED_ON:-${BUILD_ON:+$BUILD_ON/mcpfed}}
on_mcpfed=${on_mcpfed:-$build/mcpfed}
settings "${MODE_OFF:-none}" "${BATCH_OFF:-${BATCH:-}}"
METRICS=$metrics BENCH_LUA=$lua bench_config '"http://127.0.0.1:0/mcp"' "$upstream"
mv "$work/bench.lua" "$work/off.lua"
settings "$mode" "${BATCH:-}"
# the second gateway's admin socket tells what exporting its spans cost (export_cpu_ms)
METRICS=$metrics BENCH_LUA="$lua admin = \"$work/on.sock\"," bench_config '"http://127.0.0.1:0/mcp"' "$upstream"
mv "$work/bench.lua" "$work/on.lua"
[ -z "${BUILD_ON:-}" ] || sed -i "s|$build/|$BUILD_ON/|g" "$work/on.lua"
[ -z "${COLLECTOR_HOST_ON:-}" ] || sed -i "s|endpoint = \"http://127.0.0.1:|endpoint = \"http://$COLLECTOR_HOST_ON:|" "$work/on.lua"
if [ "$upstream" = http ]; then
	tool=${TOOL:-h__lb__gen}
elif [ "$upstream" = stdio ]; then
	tool=${TOOL:-f__echo}
	export MCPFED_ARGS=${MCPFED_ARGS:-'{"text":"hello"}'}
else
	tool=${TOOL:-lb__gen}
fi

# the CPU time of process $1 so far, all its threads', in ns
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# the CPU the second gateway took exporting spans so far, in ms (0 when it does not say)
export_ms() { tracing_figure "$work/on.sock" export_cpu_ms; }
# wrk on URL $1 for $2 seconds, into $work/wrk.$3
wrk_on() {
	MCPFED_TOOL=$tool ${CLIENT_WRAPPER:-} wrk -t1 -c"$connections" -d"$2"s -s "$here/tools-call.lua" "$1" >"$work/wrk.$3"
}
# what wrk.$1 says, with the gateway's CPU going from $2 to $3 ns: "calls/s CPU-ns-per-call"
# (and, given exporting's CPU going from $4 to $5 ms, its ns per call)
figures() {
	grep -q '^answers that were not results: 0$' "$work/wrk.$1" || { cat "$work/wrk.$1" >&2; echo "calls failed" >&2; exit 1; }
	awk -v a="$2" -v b="$3" -v e0="${4:-}" -v e1="${5:-}" '/ requests in / { n = $1 } /^Requests\/sec:/ { r = $2 }
		END { printf "%.0f %.0f", r, (b - a) / n; if (e0 != "") printf " %.0f", (e1 - e0) * 1e6 / n; printf "\n" }' "$work/wrk.$1"
}
# load: both gateways at once for $1 seconds; sets off and on (figures)
load() {
	a0=$(cpu_ns "$off_pid") b0=$(cpu_ns "$on_pid") e0=$(export_ms)
	wrk_on "$off_url" "$1" off &
	w1=$!
	wrk_on "$on_url" "$1" on &
	w2=$!
	wait "$w1" "$w2"
	a1=$(cpu_ns "$off_pid") b1=$(cpu_ns "$on_pid") e1=$(export_ms)
	off=$(figures off "$a0" "$a1") on=$(figures on "$b0" "$b1" "$e0" "$e1")
}
# each its own log: a gateway with a stdio upstream writes on (its upstream ready) after
# the other has started, which in a shared file garbled what the other was waiting to read
start_off() { MCPFED= start_gateway "$work/off.lua" off.log; off_pid=$pid off_url=$url; }
start_on() {
	MCPFED=$on_mcpfed start_gateway "$work/on.lua" on.log
	on_metrics=$metrics_url on_pid=$pid on_url=$url
}
# Both gateways, started again every EPOCH rounds, which one first alternating: a
# process's speed depends a little on where its memory falls (the same binary and
# configuration started twice differ by a point or two), and so does the start order.
start_pair() {
	for p in $off_pid $on_pid $scraper; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	off_pid= on_pid= scraper=
	if [ $(($1 % 2)) = 0 ]; then start_off; start_on; else start_on; start_off; fi
	pid=
	# warm both up (catalogs listed, caches and pools filled)
	load 2
	if [ -n "$on_metrics" ]; then
		( while kill -0 "$on_pid" 2>/dev/null; do
			${CLIENT_WRAPPER:-} curl -sf -o /dev/null "$on_metrics" || true; sleep "${SCRAPE:-15}"; done ) &
		scraper=$!
	fi
}
echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2): ${MODE_OFF:-off} against $mode${MCPFED_ON:+ ($on_mcpfed)}${BUILD_ON:+ ($on_mcpfed)}, $rounds rounds of ${slice}s each, gateways started again every $epoch, $connections connections, tool $tool"
echo "round: calls/s off, CPU ns/call off, calls/s on, CPU ns/call on, of it exporting spans"
round=1
while [ $round -le "$rounds" ]; do
	[ $(((round - 1) % epoch)) != 0 ] || start_pair $(((round - 1) / epoch)) >&2
	load "$slice"
	echo "$round: $off $on" | tee -a "$work/rounds"
	round=$((round + 1))
done
col() { awk -v k="$1" '{ printf " %s", $k }' "$work/rounds"; }
off=$(col 2) offcpu=$(col 3) on=$(col 4) oncpu=$(col 5)
awk -v mode="$mode" -v a="$(median "$off")" -v b="$(median "$offcpu")" -v c="$(median "$on")" -v d="$(median "$oncpu")" \
	'BEGIN { printf "medians: off %.0f calls/s, %.1f us CPU per call; %s %.0f calls/s, %.1f us CPU per call\n", a, b / 1000, mode, c, d / 1000 }'
bench_cost "$off" "$on" "$offcpu" "$oncpu"
awk -v e="$(median "$(col 6)")" -v b="$(median "$offcpu")" 'BEGIN { if (e > 0)
	printf "of the CPU per call added, exporting the spans (libcurl, the sends; the gateway'"'"'s own count): %.2f us, %.1f%% of a call with both off\n", e / 1000, 100 * e / b }'
