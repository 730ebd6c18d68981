#!/bin/sh
# Benchmark: tools/list of 1,000 federated tools through a policy's visible(), first list
# of a session and cached, against no visible() at all (t/bench/list-visible.mjs says how).
#   t/bench/list-visible.sh [BUILD_DIR]        Env: TOOLS, RUNS, FIRSTS
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
build=$(CDPATH= cd -- "${1:-$top/build}" && pwd) || exit 2
make -s -C "$build" mcpfed plugins/stdio/stdio.la plugins/http/http.la plugins/breaker/breaker.la plugins/cache/cache.la
exec "$top/t/node" "$here/list-visible.mjs" "$build"
