#!/bin/sh
# Benchmark: a native sql query (plugins/fact/sql.c) on a small table, through mcpfed's HTTP
# endpoint (revision 2026-07-28, no session), beside the same gateway's ping-like baseline
# (the in-process loopback provider's echo), so that the figure says what the query adds.
#
#   t/bench/fact-sql.sh [BUILD_DIR]
#
# Env: DURATION (seconds, default 10), CONNECTIONS (default 64), ARGS (the query tool's
# arguments as JSON; by default a filtered, ordered select with a parameter over the 5 rows
# of etc/examples/shop.db's products),
# UV_THREADPOOL_SIZE (libuv's pool, where queries run; default 4). Needs wrk (Debian
# package wrk). Prints wrk's latency distribution for each and mcpfed's peak RSS.
. "$(dirname -- "$0")/gateway.sh"
default_args='{"sql":"SELECT name, price_cents FROM products WHERE category = ? ORDER BY price_cents","params":["coffee"]}'
args=${ARGS:-$default_args}
make -s -C "$build" mcpfed plugins/http/http.la plugins/sql/sql.la t/plugins/loopback.la

cat > "$work/bench.lua" <<LUA
return {
  log_level = "info",
  plugin_dirs = { "$build/plugins", "$build/t/plugins" },
  listen = { "http://127.0.0.1:0/mcp" },
  providers = {
    { name = "facts", transport = "sql", databases = { shop = "$top/etc/examples/shop.db" } },
    { name = "lb", transport = "loopback" },
  },
}
LUA
start_gateway "$work/bench.lua"
# the catalog has both tools once this answers; show one answer
curl -s -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: facts__query' \
	-d "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"tools/call\",\"params\":{\"name\":\"facts__query\",\"arguments\":$args,\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}"
echo
echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2) connections=$connections duration=${duration}s"
echo "--- baseline: lb__echo (in-process, answered at once)"
MCPFED_TOOL=lb__echo wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$here/tools-call.lua" "$url"
echo "--- facts__query: $args"
MCPFED_TOOL=facts__query MCPFED_ARGS=$args wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$here/tools-call.lua" "$url"
grep -E '^(VmHWM|VmRSS)' "/proc/$pid/status"
