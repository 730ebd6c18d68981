# Sourced by the HTTP benchmarks: a gateway to measure, and a session on it. Sourcing sets
# duration and connections (from DURATION, default 10, and CONNECTIONS, default 64) and
# checks that wrk is there.
#
#   bench_start CONFIG LOG   run mcpfed -c CONFIG (logging to LOG, at least at info), and
#                            wait until it listens: sets pid and url
#   bench_session            initialize a session of the 2025-11-25 era on url: sets session
# Needs build (the build directory) and curl.

duration=${DURATION:-10}
connections=${CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

bench_start() {
	"$build/mcpfed" -c "$1" 2>"$2" &
	pid=$!
	i=0
	until url=$(grep -o 'url=http://[^ ]*' "$2" | head -1 | cut -d= -f2) && [ -n "$url" ]; do
		i=$((i + 1)); [ $i -lt 100 ] || { cat "$2" >&2; exit 1; }; sleep 0.1
	done
}

bench_session() {
	session=$(curl -s -i -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
		| tr -d '\r' | awk 'tolower($1)=="mcp-session-id:"{print $2}')
	curl -s -o /dev/null -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-H "Mcp-Session-Id: $session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
}
