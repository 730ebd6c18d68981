# What the benchmarks that pin share (sourced; needs here and top): with two CPUs or more
# the gateway runs on CPU 0 and what loads or watches it on CPU 1 (PIN=0 to let them
# share), a local collector that counts without decoding (collector.sh), and the gateway's
# settings and start (gateway.sh).
[ "$(nproc)" -ge 2 ] || PIN=0
export PIN=${PIN:-1}
export OTLP_COLLECTOR_PARSE=${OTLP_COLLECTOR_PARSE:-0}
. "$here/collector.sh"
. "$here/gateway.sh"
