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
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
build=$(CDPATH= cd -- "${1:-$top/build}" && pwd) || exit 2
duration=${DURATION:-10}
connections=${CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
make -s -C "$build" mcpfed plugins/stdio/stdio.la plugins/http/http.la plugins/breaker/breaker.la \
	plugins/cache/cache.la tools/mcpfedctl

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
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
"$build/mcpfed" -c "$work/bench.lua" 2>"$work/log" &
pid=$!
i=0
until url=$(grep -o 'url=http://[^ ]*' "$work/log" | head -1 | cut -d= -f2) && [ -n "$url" ]; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/log" >&2; exit 1; }; sleep 0.1
done
post() {
	curl -s -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-H 'MCP-Protocol-Version: 2025-11-25' ${session:+-H "Mcp-Session-Id: $session"} -d "$1"
}
session=
session=$(curl -s -i -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	-d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
	| tr -d '\r' | awk 'tolower($1)=="mcp-session-id:"{print $2}')
post '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
# the first call fills the cache (and waits for the catalog)
post '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"up__counted","arguments":{"a":1,"text":"x"}}}' >/dev/null
ctl() { "$build/tools/mcpfedctl" --socket "$work/admin.sock" --json "$@"; }
echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2) connections=$connections duration=${duration}s (each run)"
for what in ping up__counted up__echo; do
	case $what in
	ping) echo "=== ping (answered by the gateway)" ; method=ping ;;
	up__counted) echo "=== tools/call up__counted {a=1}: a cache hit" ; method=tools/call ;;
	up__echo) echo "=== tools/call up__echo: not cached, a round trip to the stdio upstream" ; method=tools/call ;;
	esac
	MCPFED_SESSION=$session MCPFED_METHOD=$method MCPFED_TOOL=$what wrk -t1 -c"$connections" -d"${duration}s" --latency \
		-s "$here/cache-hit.lua" "$url"
done
echo "=== the cache"
ctl cache
echo "=== upstream calls of counted (1: every other call was a hit)"
post '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"up__calls","arguments":{"tool":"counted"}}}'
echo
grep -E '^(VmHWM|VmRSS)' "/proc/$pid/status"
