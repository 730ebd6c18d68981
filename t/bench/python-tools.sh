#!/bin/sh
# Benchmark: Python tool calls per second through mcpfed's HTTP endpoint against the size of
# the pool (plugins/python), and the pool's own cost per call.
#
#   t/bench/python-tools.sh [BUILD_DIR]
#
# Env: DURATION (seconds per run, default 10), CONNECTIONS (default 32), WORKERS (the pool
# sizes, default "1 2 4"), TOOL (echo: answers at once; work: ~1 ms of Python CPU).
# Needs wrk (Debian package wrk) and /usr/bin/python3 with python3-msgpack.
#
# For each pool size: requests/s, p50 and p99 at CONNECTIONS. Then, one connection at a time,
# the p50 of the same call to an in-process provider (the loopback test plugin: the gateway's
# own cost), of the Python tool (gateway + pool), and the Python function called directly;
# the pool's cost per call is the second less the first and the third.
. "$(dirname -- "$0")/gateway.sh"
connections=${CONNECTIONS:-32}
sizes=${WORKERS:-1 2 4}
tool=${TOOL:-echo}
make -s -C "$build" mcpfed plugins/http/http.la plugins/python/python.la t/plugins/loopback.la

# start mcpfed with one provider; sets pid and url once the tool is listed
serve() {
	cat > "$work/bench.lua" <<LUA
return {
  log_level = "info",
  plugin_dirs = { "$build/plugins", "$build/t/plugins" },
  listen = { "http://127.0.0.1:0/mcp" },
  providers = { $1 },
}
LUA
	start_gateway "$work/bench.lua"
	i=0
	until curl -s -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list' \
		-d '{"jsonrpc":"2.0","id":0,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}' \
		| grep -q "\"$2\""; do
		i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/log" >&2; exit 1; }; sleep 0.1
	done
}

unserve() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# wrk's summary: requests/s, p50, p99
measure() {
	MCPFED_TOOL=$1 wrk -t1 -c"$2" -d"${duration}s" --latency -s "$here/tools-call.lua" "$url" > "$work/wrk"
	grep -q '^answers that were not results: 0$' "$work/wrk" || { cat "$work/wrk" >&2; exit 1; }
	rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk")
	p50=$(awk '$1 == "50%" {print $2}' "$work/wrk")
	p99=$(awk '$1 == "99%" {print $2}' "$work/wrk")
}

echo "mcpfed $("$build/mcpfed" --version | cut -d' ' -f2) tool=$tool connections=$connections duration=${duration}s ($(nproc) CPUs)"
printf '%-8s %12s %10s %10s\n' workers requests/s p50 p99
for n in $sizes; do
	serve "{ name = \"py\", transport = \"python\", module = \"$here/pytools.py\", workers = $n }" "py__$tool"
	measure "py__$tool" "$connections"
	printf '%-8s %12s %10s %10s\n' "$n" "$rps" "$p50" "$p99"
	unserve
done

echo "one call at a time (p50):"
serve '{ name = "lb", transport = "loopback" }' lb__echo
measure lb__echo 1
printf '  %-44s %s\n' "in-process provider (the gateway alone)" "$p50"
unserve
serve "{ name = \"py\", transport = \"python\", module = \"$here/pytools.py\", workers = 1 }" "py__$tool"
measure "py__$tool" 1
printf '  %-44s %s\n' "python tool (gateway + pool)" "$p50"
unserve
direct=$(cd "$top/sdk/python" && /usr/bin/python3 -c "
import sys, timeit
sys.path.insert(0, '$here')
import pytools
n, t = timeit.Timer(lambda: pytools.$tool(7)).autorange()
print('%.2fus' % (t / n * 1e6))")
printf '  %-44s %s\n' "the function called directly in Python" "$direct"
