#!/bin/sh
# make check: the fuzz targets through their corpora (and fuzzing briefly with libFuzzer).
exec "$(dirname "$0")/run" --check
