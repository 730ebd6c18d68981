# What the HTTP benchmarks share (sourced): where things are, the common settings, and a
# gateway started on a configuration, listening on a free port.
#   here, top, build ($1 or top/build), duration (DURATION, 10), connections (CONNECTIONS, 64)
#   start_gateway CONFIG: runs mcpfed (pid), sets url once it listens; stopped on exit
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
build=$(CDPATH= cd -- "${1:-$top/build}" && pwd) || exit 2
duration=${DURATION:-10}
connections=${CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
# PIN=1: the gateway gets CPU 0 to itself and what loads or watches it (wrk, a collector, a
# scraper) runs on CPU 1, so that their work does not count as the gateway's
if [ "${PIN:-0}" != 0 ]; then
	GATEWAY_WRAPPER=${GATEWAY_WRAPPER:-taskset -c 0}
	CLIENT_WRAPPER=${CLIENT_WRAPPER:-taskset -c 1}
fi
work=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$work"' EXIT

# The configuration must log at info: its listening line tells the port. GATEWAY_WRAPPER,
# when set, is a command the gateway runs under (t/bench/instructions.sh: valgrind);
# MCPFED, another mcpfed to run (t/bench/observability.sh: another build's). LOG names its
# log in $work (default log).
#   start_gateway CONFIG [LOG]
start_gateway() {
	log=$work/${2:-log}
	${GATEWAY_WRAPPER:-} "${MCPFED:-$build/mcpfed}" -c "$1" 2>"$log" &
	pid=$!
	i=0
	until url=$(grep -o 'http: listening url=https\{0,1\}://[^ ]*' "$log" | head -1 | cut -d= -f2) && [ -n "$url" ]; do
		i=$((i + 1)); [ $i -lt 600 ] || { cat "$log" >&2; exit 1; }; sleep 0.1
	done
	metrics_url=$(grep -o 'metrics: listening url=http://[^ ]*' "$log" | head -1 | cut -d= -f2)
}

# A configuration of one listener LISTEN (a Lua value) and the provider UPSTREAM
# ("loopback": an in-process provider that answers at once, measuring the gateway alone;
# "stdio": a Node.js MCP server over stdio; "http": the MCP server at UPSTREAM_URL over
# Streamable HTTP, with a loopback provider named lb: another mcpfed, say) in
# $work/bench.lua; sets tool (its echo tool).
# BENCH_LUA, if set, is more top-level keys (Lua, e.g. 'tracing = { ... },').
# With METRICS set, the metrics endpoint too (start_gateway sets metrics_url).
#   bench_config LISTEN UPSTREAM
bench_config() {
	case $2 in
	loopback) provider='{ name = "lb", transport = "loopback" }'; tool=lb__echo ;;
	stdio) provider="{ name = \"f\", transport = \"stdio\", command = { \"$top/t/node\", \"$top/t/servers/faulty.mjs\" } }"; tool=f__echo ;;
	http) provider="{ name = \"h\", transport = \"http\", url = \"${UPSTREAM_URL:?}\" }"; tool=h__lb__echo ;;
	*) echo "UPSTREAM is loopback, stdio or http" >&2; exit 2 ;;
	esac
	metrics_line=
	[ -z "${METRICS:-}" ] || metrics_line='
  metrics = "http://127.0.0.1:0/metrics",'
	cat > "$work/bench.lua" <<LUA
return {
  log_level = "info",
  plugin_dirs = { "$build/plugins", "$build/t/plugins" },
  listen = { $1 },
  providers = { $provider },$metrics_line
  ${BENCH_LUA:-}
}
LUA
}

# Initialize a session of the 2025-11-25 era on url: sets session.
bench_session() {
	session=$(curl -s -i -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
		| tr -d '\r' | awk 'tolower($1)=="mcp-session-id:"{print $2}')
	curl -s -o /dev/null -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-H "Mcp-Session-Id: $session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
}
