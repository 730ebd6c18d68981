#!/bin/sh
# Benchmark: what authentication costs a tools/call through mcpfed's HTTP endpoint: the
# same load without auth, then with a JWT (EdDSA, or ALG: RS256, ES256) verified on every
# request against a key of a JWKS file (a cached key: no fetch), then with an API key.
#
#   t/bench/auth-tools-call.sh [BUILD_DIR]
#
# Env: DURATION (seconds, default 10), CONNECTIONS (default 64), ALG (default RS256),
# MODES (default "none jwt key"). Revision 2026-07-28: each request is a session of its
# own, so each is authenticated and gets its identity. Needs wrk (Debian package wrk).
. "$(dirname -- "$0")/gateway.sh"
alg=${ALG:-RS256}
make -s -C "$build" mcpfed plugins/http/http.la t/plugins/loopback.la

# a key pair, its JWKS file, and a token valid for an hour, from the tests' JWT helpers
"$top/t/node" --input-type=module -e "
import fs from 'node:fs';
import { keyPair, sign, now, keyHash } from '$top/t/lib/jwt.mjs';
const k = keyPair('$alg', 'bench');
fs.writeFileSync('$work/jwks.json', JSON.stringify({ keys: [k.jwk] }));
fs.writeFileSync('$work/token', sign(k, { iss: 'bench', aud: 'https://bench/mcp', sub: 'bench', scope: 'tools', exp: now() + 3600 }));
fs.writeFileSync('$work/keyhash', keyHash('bench-key-0123456789abcdef'));
"
token=$(cat "$work/token")

for mode in ${MODES:-none jwt key}; do
	case $mode in
	none) listen='"http://127.0.0.1:0/mcp"'; header= ;;
	jwt) listen="{ url = \"http://127.0.0.1:0/mcp\", auth = { jwt = { issuer = \"bench\", audience = \"https://bench/mcp\",
	  jwks_file = \"$work/jwks.json\" } } }"; header="Bearer $token" ;;
	key) listen="{ url = \"http://127.0.0.1:0/mcp\", auth = { keys = { { id = \"bench\", hash = \"$(cat "$work/keyhash")\" } } } }"
	  header="Bearer bench-key-0123456789abcdef" ;;
	*) echo "MODES: none, jwt, key" >&2; exit 2 ;;
	esac
	bench_config "$listen" loopback
	start_gateway "$work/bench.lua"
	echo "== auth=$mode${header:+ ($alg)} mcpfed $("$build/mcpfed" --version | cut -d' ' -f2) connections=$connections duration=${duration}s"
	MCPFED_AUTH=$header MCPFED_TOOL=$tool wrk -t1 -c"$connections" -d"${duration}s" --latency \
		-s "$here/tools-call.lua" "$url" | grep -E 'Requests/sec|50%|99%|not results|Non-2xx'
	grep -c 'authentication failed' "$work/log" | sed 's/^/failed authentications: /'
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	: > "$work/log"
done
