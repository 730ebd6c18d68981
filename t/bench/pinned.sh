# What the benchmarks that pin share (sourced; needs here and top): with two CPUs or more
# the gateway runs on CPU 0 and what loads or watches it on CPU 1 (PIN=0 to let them
# share), a local collector that counts without decoding (collector.sh), and the gateway's
# settings and start (gateway.sh).
#   tracing_figure SOCKET KEY   a number the gateway's admin `tracing` tells (export_cpu_ms,
#                               exports), 0 when it does not tell it
[ "$(nproc)" -ge 2 ] || PIN=0
export PIN=${PIN:-1}
export OTLP_COLLECTOR_PARSE=${OTLP_COLLECTOR_PARSE:-0}
. "$here/collector.sh"
. "$here/gateway.sh"
tracing_figure() {
	"$build/tools/mcpfedctl" -s "$1" -j tracing 2>/dev/null |
		sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" | grep . || echo 0
}
