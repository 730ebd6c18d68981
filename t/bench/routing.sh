#!/bin/sh
# Benchmark: the cost of the routing decision (policy plus breaker) per call, in-process.
#   t/bench/routing.sh [BUILD_DIR] [POLICY] [TARGETS] [DECISIONS]
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
build=$(CDPATH= cd -- "${1:-$top/build}" && pwd) || exit 2
make -s -C "$build" t/bench/routing plugins/breaker/breaker.la
MCPFED_PLUGIN_PATH="$build/plugins" exec "$build/t/bench/routing" "${2:-$top/lua/policy.lua}" "${3:-4}" "${4:-200000}"
