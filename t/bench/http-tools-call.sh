#!/bin/sh
# Benchmark: tools/call throughput and latency through mcpfed's HTTP endpoint.
#
#   t/bench/http-tools-call.sh [BUILD_DIR]
#
# Env: DURATION (seconds, default 10), CONNECTIONS (default 64), UPSTREAM ("loopback": an
# in-process provider that answers at once, measuring the gateway alone; "stdio": a Node.js
# MCP server over stdio), ERA ("stateless" for 2026-07-28, "session" for 2025-11-25).
# Needs wrk (Debian package wrk). Prints wrk's latency distribution and mcpfed's peak RSS.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
build=$(CDPATH= cd -- "${1:-$top/build}" && pwd) || exit 2
upstream=${UPSTREAM:-loopback}
era=${ERA:-stateless}
. "$here/gateway.sh"
make -s -C "$build" mcpfed plugins/stdio/stdio.la plugins/http/http.la t/plugins/loopback.la

work=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$work"' EXIT
case $upstream in
loopback) provider='{ name = "lb", transport = "loopback" }'; tool=lb__echo ;;
stdio) provider="{ name = \"f\", transport = \"stdio\", command = { \"$top/t/node\", \"$top/t/servers/faulty.mjs\" } }"; tool=f__echo ;;
*) echo "UPSTREAM is loopback or stdio" >&2; exit 2 ;;
esac
cat > "$work/bench.lua" <<LUA
return {
  log_level = "warn",
  plugin_dirs = { "$build/plugins", "$build/t/plugins" },
  listen = { "http://127.0.0.1:0/mcp" },
  providers = { $provider },
}
LUA
# a warn-level log has no listening line: ask for info only to learn the port
sed -i 's/log_level = "warn"/log_level = "info"/' "$work/bench.lua"
bench_start "$work/bench.lua" "$work/log"
# wait until the catalog has the tool (the first call waits for it anyway)
curl -s -o /dev/null -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list' \
	-d '{"jsonrpc":"2.0","id":0,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
session=
[ "$era" != session ] || bench_session
echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2) upstream=$upstream era=$era connections=$connections duration=${duration}s"
MCPFED_SESSION=$session MCPFED_TOOL=$tool wrk -t1 -c"$connections" -d"${duration}s" --latency \
	-s "${WRK_SCRIPT:-$here/tools-call.lua}" "$url"
grep -E '^(VmHWM|VmRSS)' "/proc/$pid/status"
