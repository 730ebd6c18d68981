# A local OTLP collector for the tracing benchmarks (sourced): t/servers/otlp-collector.mjs
# started in the background, its counts printed and it stopped on exit; sets port.
# Needs top. OTLP_COLLECTOR_PARSE=0 in the environment: it counts without decoding.
collector_log=$(mktemp)
$([ "${PIN:-0}" = 0 ] || echo taskset -c 1) "$top/t/node" "$top/t/servers/otlp-collector.mjs" 2>"$collector_log" &
collector_pid=$!
trap 'kill "$collector_pid" 2>/dev/null; wait "$collector_pid" 2>/dev/null; cat "$collector_log"; rm -f "$collector_log"' EXIT
i=0
until port=$(sed -n 's/^otlp-collector listening port=//p' "$collector_log") && [ -n "$port" ]; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$collector_log" >&2; exit 1; }; sleep 0.1
done
