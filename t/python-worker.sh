#!/bin/sh
# make check: the unit tests of the Python worker SDK (sdk/python/mcpfed_worker.py), run by
# the interpreter the python provider uses by default (the distribution's, with msgpack).
src=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
PYTHONDONTWRITEBYTECODE=1 exec timeout 60 /usr/bin/python3 -m unittest discover -s "$src/python" -v
