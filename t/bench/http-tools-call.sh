#!/bin/sh
# Benchmark: tools/call throughput and latency through mcpfed's HTTP endpoint.
#
#   t/bench/http-tools-call.sh [BUILD_DIR]
#
# Env: DURATION (seconds, default 10), CONNECTIONS (default 64), UPSTREAM ("loopback": an
# in-process provider that answers at once, measuring the gateway alone; "stdio": a Node.js
# MCP server over stdio), ERA ("stateless" for 2026-07-28, "session" for 2025-11-25).
# LISTEN (a Lua value, default "http://127.0.0.1:0/mcp") and CURL_OPTS (for the setup's
# requests) let t/bench/https-tools-call.sh run it over TLS.
# PIN=1 gives the gateway a CPU of its own (t/bench/gateway.sh). Needs wrk (Debian package
# wrk). Prints wrk's latency distribution and mcpfed's peak RSS.
. "$(dirname -- "$0")/gateway.sh"
. "$here/rounds.sh"
upstream=${UPSTREAM:-loopback}
era=${ERA:-stateless}
make -s -C "$build" mcpfed plugins/stdio/stdio.la plugins/http/http.la t/plugins/loopback.la

bench_config "${LISTEN:-\"http://127.0.0.1:0/mcp\"}" "$upstream"
tool=${TOOL:-$tool}   # another of the upstream's tools, e.g. lb__gen (a short text that is not its input)
curl() { command curl ${CURL_OPTS:-} "$@"; }
start_gateway "$work/bench.lua"
# wait until the catalog has the tool (the first call waits for it anyway)
curl -s -o /dev/null -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list' \
	-d '{"jsonrpc":"2.0","id":0,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
session=
if [ "$era" = session ]; then
	session=$(curl -s -i -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
		| tr -d '\r' | awk 'tolower($1)=="mcp-session-id:"{print $2}')
	curl -s -o /dev/null -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-H "Mcp-Session-Id: $session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
fi
echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2) upstream=$upstream era=$era connections=$connections duration=${duration}s metrics=${METRICS:-off}"
scraper=
if [ -n "$metrics_url" ]; then
	( n=0; end=$(($(date +%s) + duration)); while [ "$(date +%s)" -lt "$end" ]; do
		curl -sf -o /dev/null "$metrics_url" && n=$((n + 1)); sleep "${SCRAPE:-1}"; done; echo "scrapes: $n" ) &
	scraper=$!
	[ "${PIN:-0}" = 0 ] || taskset -a -p -c 1 "$scraper" >/dev/null
fi
# the gateway's CPU time (user + system, in clock ticks) over the run: less sensitive than
# calls/s to what else the machine runs
set -- $(proc_ticks "$pid")
cpu0=$1 sys0=$2
MCPFED_SESSION=$session MCPFED_TOOL=$tool ${CLIENT_WRAPPER:-} wrk -t1 -c"$connections" -d"${duration}s" --latency \
	-s "${WRK_SCRIPT:-$here/tools-call.lua}" "$url"
set -- $(proc_ticks "$pid")
cpu1=$1 sys1=$2
echo "gateway CPU: $(awk -v t="$(getconf CLK_TCK)" -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", (b - a) / t }') s ($(awk -v t="$(getconf CLK_TCK)" -v a="$sys0" -v b="$sys1" 'BEGIN { printf "%.2f", (b - a) / t }') s of it in the kernel)"
[ -z "$scraper" ] || wait "$scraper"
[ -z "$metrics_url" ] || curl -s "$metrics_url" | grep -E '^mcpfed_(requests_total\{method="tools/call"|tool_calls_total)'
grep -E '^(VmHWM|VmRSS)' "/proc/$pid/status"
