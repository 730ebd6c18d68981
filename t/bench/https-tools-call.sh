#!/bin/sh
# Benchmark: tools/call throughput and latency through an https:// listener, to set against
# t/bench/http-tools-call.sh (the same run over plain HTTP). A CA and a certificate for
# 127.0.0.1 are made with the openssl command; wrk keeps its connections alive, so this
# measures encryption more than handshakes.
#
#   t/bench/https-tools-call.sh [BUILD_DIR]
#
# Env: as t/bench/http-tools-call.sh (DURATION, CONNECTIONS, UPSTREAM, ERA).
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench-ca \
	-keyout "$certs/ca.key" -out "$certs/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
	-keyout "$certs/server.key" -out "$certs/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$certs/ext"
openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" -CAcreateserial -days 2 \
	-extfile "$certs/ext" -out "$certs/server.pem" 2>/dev/null
LISTEN="{ url = \"https://127.0.0.1:0/mcp\", tls = { cert_file = \"$certs/server.pem\", key_file = \"$certs/server.key\" } }" \
CURL_OPTS="--cacert $certs/ca.pem" "$here/http-tools-call.sh" "$@"
