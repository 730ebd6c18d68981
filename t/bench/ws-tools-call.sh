#!/bin/sh
# Benchmark: tools/call over WebSocket against the same over HTTP, through one gateway that
# serves both on one port (an http:// listener takes the upgrade), over 1 connection and
# over 64.
#
#   t/bench/ws-tools-call.sh [BUILD_DIR]
#
# Env: DURATION (seconds per run, default 10), UPSTREAM ("loopback": an in-process provider
# that answers at once, measuring the gateway alone; "stdio": a Node.js MCP server).
# WebSocket: t/bench/ws-load (ws_load.c: one session per connection, one call in flight on
# each, one thread);
# HTTP: wrk with t/bench/tools-call.lua, in the session era (one session, one request in
# flight per connection), as the WebSocket clients are. Needs wrk (Debian package wrk).
# Prints one line per run and mcpfed's peak RSS.
. "$(dirname -- "$0")/gateway.sh"
upstream=${UPSTREAM:-loopback}
make -s -C "$build" mcpfed plugins/stdio/stdio.la plugins/http/http.la t/plugins/loopback.la t/bench/ws-load

# one port for both: the WebSocket clients upgrade on the http:// listener's MCP path
bench_config '{ url = "http://127.0.0.1:0/mcp", ws_ping_interval_ms = 0 }' "$upstream"
start_gateway "$work/bench.lua"
session=$(curl -s -i -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	-d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
	| tr -d '\r' | awk 'tolower($1)=="mcp-session-id:"{print $2}')
curl -s -o /dev/null -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	-H "Mcp-Session-Id: $session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
# the first call waits for the catalog: make it before measuring
curl -s -o /dev/null -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	-H "Mcp-Session-Id: $session" -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"$tool\",\"arguments\":{}}}"
echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2) upstream=$upstream duration=${duration}s"
for c in 1 64; do
	hostport=${url#http://}; hostport=${hostport%%/*}
	timeout $((duration + 60)) "$build/t/bench/ws-load" "${hostport%:*}" "${hostport##*:}" "/${url#http://*/}" "$tool" "$c" "$duration"
	out=$(MCPFED_SESSION=$session MCPFED_TOOL=$tool timeout $((duration + 60)) wrk -t1 -c"$c" -d"${duration}s" --latency \
		-s "$here/tools-call.lua" "$url")
	rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
	p50=$(echo "$out" | awk '$1=="50%"{print $2}')
	p90=$(echo "$out" | awk '$1=="90%"{print $2}')
	p99=$(echo "$out" | awk '$1=="99%"{print $2}')
	n=$(echo "$out" | awk '/requests in/{print $1}')
	echo "http      connections=$c requests=$n req/s=$rps latency p50=$p50 p90=$p90 p99=$p99"
done
grep -E '^(VmHWM|VmRSS)' "/proc/$pid/status"
