#!/bin/sh
# Benchmark: a result cache hit through the whole gateway over HTTP, against ping.
#
#   t/bench/cache-hit.sh [BUILD_DIR]
#
# One gateway, one session of the session era over Streamable HTTP, a stdio upstream
# (t/servers/faulty.mjs) whose tool `counted` is cached. wrk sends, one run after the other:
# `ping` (answered by the gateway itself), the same tools/call again and again (every one
# after the first a cache hit), and, for scale, the uncached tool `echo` (the upstream's
# round trip). Then the cache's figures and the upstream's count of `counted` calls (1).
# Env: DURATION (seconds per run, default 10), CONNECTIONS (default 64).
# Needs wrk (Debian package wrk) and curl.
. "$(dirname -- "$0")/gateway.sh"
make -s -C "$build" mcpfed plugins/stdio/stdio.la plugins/http/http.la plugins/breaker/breaker.la \
	plugins/cache/cache.la tools/mcpfedctl

cat > "$work/bench.lua" <<LUA
return {
  log_level = "info",
  plugin_dirs = { "$build/plugins" },
  admin = "$work/admin.sock",
  listen = { "http://127.0.0.1:0/mcp" },
  providers = { { name = "up", transport = "stdio", command = { "$top/t/node", "$top/t/servers/faulty.mjs" },
                  env = { FAULTY_CACHE_TOOLS = "1" }, cache = { ttl_ms = 3600000, tools = { "counted" } } } },
}
LUA
start_gateway "$work/bench.lua"
bench_session
args='{"a":1,"text":"x"}'   # counted takes a, echo text
call() {
	curl -s -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-H "Mcp-Session-Id: $session" \
		-d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}"
}
# the first call fills the cache (and waits for the catalog)
call up__counted "$args" >/dev/null
echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2) connections=$connections duration=${duration}s (each run)"
for what in ping up__counted up__echo; do
	case $what in
	ping) echo "=== ping (answered by the gateway)" ;;
	up__counted) echo "=== tools/call up__counted: a cache hit" ;;
	up__echo) echo "=== tools/call up__echo: not cached, a round trip to the stdio upstream" ;;
	esac
	MCPFED_SESSION=$session MCPFED_METHOD=$what MCPFED_TOOL=$what MCPFED_ARGS=$args \
		wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$here/tools-call.lua" "$url"
done
echo "=== the cache"
"$build/tools/mcpfedctl" --socket "$work/admin.sock" --json cache
echo "=== upstream calls of counted (1: every other call was a hit)"
call up__calls '{"tool":"counted"}'
echo
grep -E '^(VmHWM|VmRSS)' "/proc/$pid/status"
