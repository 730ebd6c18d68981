# Sourced by the benchmarks (t/bench/*-tools-call.sh): start mcpfed from BUILD with the
# listener LISTEN (a Lua value) and the provider UPSTREAM names ("loopback": an in-process
# provider that answers at once, measuring the gateway alone; "stdio": a Node.js MCP server
# over stdio). Sets url (the listener's real URL), pid, tool (the provider's echo tool) and
# work (a scratch directory, removed at exit with the gateway stopped).
#   start_gateway BUILD TOP LISTEN UPSTREAM
start_gateway() {
	build=$1 top=$2 listen=$3 upstream=$4
	work=$(mktemp -d)
	trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
	case $upstream in
	loopback) provider='{ name = "lb", transport = "loopback" }'; tool=lb__echo ;;
	stdio) provider="{ name = \"f\", transport = \"stdio\", command = { \"$top/t/node\", \"$top/t/servers/faulty.mjs\" } }"; tool=f__echo ;;
	*) echo "UPSTREAM is loopback or stdio" >&2; exit 2 ;;
	esac
	# info, to learn the port from the listening line
	cat > "$work/bench.lua" <<LUA
return {
  log_level = "info",
  plugin_dirs = { "$build/plugins", "$build/t/plugins" },
  listen = { $listen },
  providers = { $provider },
}
LUA
	"$build/mcpfed" -c "$work/bench.lua" 2>"$work/log" &
	pid=$!
	i=0
	until url=$(grep -o 'url=http://[^ ]*' "$work/log" | head -1 | cut -d= -f2) && [ -n "$url" ]; do
		i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/log" >&2; exit 1; }; sleep 0.1
	done
}
