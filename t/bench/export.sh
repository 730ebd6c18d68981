#!/bin/sh
# Benchmark: what exporting spans costs the gateway at each batch size. For each
# batch_spans, a gateway serving tools/call over HTTP from the in-process loopback provider,
# every request traced and exported in protobuf to a local collector
# (t/servers/otlp-collector.mjs, counting without decoding), is loaded by wrk for DURATION
# seconds after a warm-up; exporting's CPU is the gateway's own count (the admin's tracing:
# export_cpu_ms, libcurl's work and the sends), read before and after. Prints, a line each:
# the CPU an export, the CPU a call, and the gateway's resident memory at the end.
#
#   t/bench/export.sh [BUILD_DIR]    (BATCHES default "512 1024 2048 4096 8192", DURATION 10, CONNECTIONS, TOOL)
#
# With two CPUs or more the gateway runs on CPU 0 and wrk and the collector on CPU 1 (PIN=0
# to let them share).
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
. "$here/pinned.sh"
# gateway.sh and collector.sh each set a trap on exit: one for both
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; kill "$collector_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work" "$collector_log"' EXIT
make -s -C "$build" mcpfed tools/mcpfedctl plugins/http/http.la t/plugins/loopback.la

# "export_cpu_ms exports" of the running gateway
exporting() { echo "$(tracing_figure "$work/admin.sock" export_cpu_ms) $(tracing_figure "$work/admin.sock" exports)"; }
load() {
	MCPFED_TOOL=${TOOL:-lb__gen} ${CLIENT_WRAPPER:-} wrk -t1 -c"$connections" -d"$1"s -s "$here/tools-call.lua" "$url" >"$work/wrk"
}
echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2): exporting's CPU by batch_spans, ${duration}s each, $connections connections"
for b in ${BATCHES:-512 1024 2048 4096 8192}; do
	BENCH_LUA="admin = \"$work/admin.sock\", tracing = { endpoint = \"http://127.0.0.1:$port\", sample_ratio = 1, batch_spans = $b, max_queue_spans = $((4 * b)) }," \
		bench_config '"http://127.0.0.1:0/mcp"' loopback
	start_gateway "$work/bench.lua"
	load 2
	before=$(exporting)
	load "$duration"
	after=$(exporting)
	rss=$(awk '/^VmRSS:/ { print $2 }' /proc/"$pid"/status)
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	grep -q "^answers that were not results: 0$" "$work/wrk" || { cat "$work/wrk" >&2; echo "calls failed" >&2; exit 1; }
	calls=$(awk '/ requests in / { print $1 }' "$work/wrk")
	echo "$b $before $after $calls $rss" | awk '{ ms = $4 - $2; n = $5 - $3
		printf "batch_spans %5d: %4.0f us an export, %.2f us a call (%d exports, %d calls), RSS %.1f MB\n",
			$1, n ? ms * 1000 / n : 0, ms * 1000 / $6, n, $6, $7 / 1024 }'
done
