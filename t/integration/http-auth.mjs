// Authentication of HTTP listeners: JWT bearer tokens verified against a JWKS served by
// t/servers/jwks.mjs (RS256, ES256, EdDSA; each kind of bad token refused with 401 and
// WWW-Authenticate, key rotation picked up after a refetch), API keys in both headers,
// 403 for missing scopes, the protected resource metadata, the refusal on every request
// shape (GET stream, DELETE, WebSocket upgrade, Connection: close, HTTP/1.0) and to
// browsers (CORS), session binding, the identity the routing policy sees, the failure
// counters on the admin socket, and configuration errors.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/http-auth.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { admin, faulty, killAll, logTail, luaConfig, mcpfedBin, scratchDir, waitFor, withTimeout } from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg, startHttpGateway } from "../lib/http.mjs";
import { hs256WithPublicKey, keyHash, keyPair, now, sign, unsigned, whoPolicy } from "../lib/jwt.mjs";
import { startJwksServer } from "../servers/jwks.mjs";

const AUD = "https://mcp.test/mcp";
const ISS = "https://as.test";
const CI_KEY = "ci-key-0123456789abcdef0123456789abcdef";
let gw, jwks, url, scopedUrl, strictUrl, sock;
const rsa = keyPair("RS256", "rsa-1");
const ec = keyPair("ES256", "ec-1");
const ed = keyPair("EdDSA", "ed-1");
const rotated = keyPair("RS256", "rsa-2");
const log = () => logTail(gw.stderrText(), 4000);
const bounded = (p, what, ms = 5000) => withTimeout(p, ms, what, log);

const claims = (extra = {}) => ({ iss: ISS, aud: AUD, sub: "alice", scope: "tools read", exp: now() + 300, iat: now(), ...extra });
const bearer = (token) => ({ Authorization: `Bearer ${token}` });

const policy = whoPolicy;

before(async () => {
	jwks = await startJwksServer([rsa.jwk, ec.jwk, ed.jwk]);
	const dir = scratchDir();
	sock = path.join(dir, "admin.sock");
	const policyFile = path.join(dir, "policy.lua");
	fs.writeFileSync(policyFile, policy);
	const fetched = jwks.nextFetch();
	({ gw, urls: [url, scopedUrl, strictUrl] } = await startHttpGateway({
		log_level: "info", admin: sock, policy: policyFile,
		listen: [
			{
				url: "http://127.0.0.1:0/mcp",
				auth: {
					keys: [{ id: "ci", hash: keyHash(CI_KEY), scopes: ["tools"] }],
					jwt: { issuer: ISS, audience: AUD, jwks_url: jwks.url, jwks_min_refetch_ms: 50 },
					oauth: { authorization_servers: [ISS], scopes: ["tools", "read"] },
				},
			},
			{
				url: "http://127.0.0.1:0/scoped",
				auth: { keys: [{ id: "ci", hash: keyHash(CI_KEY), scopes: ["tools"] }], required_scopes: ["admin"] },
			},
			{
				url: "http://127.0.0.1:0/strict",
				auth: { jwt: { issuer: ISS, audience: AUD, jwks_url: `${jwks.url}?strict`, clock_skew_ms: 0, jwks_refresh_ms: 1000 } },
			},
		],
		providers: [faulty("f")],
	}, { listed: ["f"] }));
	await bounded(fetched, "the first JWKS fetch");
});

after(async () => {
	await killAll(gw);
	await jwks?.close();
});

const { post, plain } = endpointClient(() => url, bounded);

const metadataUrl = "https://mcp.test/.well-known/oauth-protected-resource/mcp";

function assertUnauthorized(r, { invalid }) {
	assert.equal(r.status, 401, r.text);
	const h = r.headers.get("www-authenticate");
	assert.ok(h?.startsWith("Bearer "), h);
	assert.ok(h.includes(`resource_metadata="${metadataUrl}"`), h);
	assert.equal(h.includes('error="invalid_token"'), invalid, h);
}

async function initWith(headers, to = url) {
	return post(initMsg(1, "2025-11-25", "http-auth"), { headers, to });
}

async function callAs(headers, name = "f__pid") {
	const init = await initWith(headers);
	assert.equal(init.status, 200, init.text);
	const session = init.headers.get("mcp-session-id");
	await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, headers });
	return { session, res: await post(callMsg(2, name, name === "f__echo" ? { text: "hi" } : {}), { session, headers }) };
}

test("no credentials: 401 with the resource metadata's URL and no error", async () => {
	assertUnauthorized(await initWith({}), { invalid: false });
});

test("a good token of each algorithm is accepted; the policy sees its subject, method and scopes", async () => {
	for (const key of [rsa, ec, ed]) {
		const { res } = await callAs(bearer(sign(key, claims())));
		assert.match(res.json?.error?.message ?? "", /who=alice\/jwt scopes=tools,read/, `${key.alg}: ${res.text}`);
	}
	// aud may be a list; scp a list too when so configured (here scope is a string)
	const { res } = await callAs(bearer(sign(rsa, claims({ aud: ["other", AUD], sub: "bob" }))));
	assert.match(res.json?.error?.message ?? "", /who=bob\/jwt/, res.text);
});

test("each bad token is refused with 401 invalid_token", async () => {
	const good = sign(rsa, claims());
	const [h, p] = good.split(".");
	const tampered = `${h}.${Buffer.from(JSON.stringify(claims({ sub: "mallory" }))).toString("base64url")}.${good.split(".")[2]}`;
	const cases = {
		expired: sign(rsa, claims({ exp: now() - 3600 })),
		"not yet valid": sign(rsa, claims({ nbf: now() + 3600 })),
		"wrong audience": sign(rsa, claims({ aud: "https://elsewhere.test/mcp" })),
		"wrong issuer": sign(rsa, claims({ iss: "https://evil.test" })),
		"alg none": unsigned(claims(), rsa.kid),
		"HS256 with the public key as secret": hs256WithPublicKey(rsa, claims()),
		"unknown kid": sign(keyPair("RS256", "nobody"), claims()),
		"tampered payload": tampered,
		"key of another type for the kid": sign(ec, claims(), { header: { kid: rsa.kid } }),
		"malformed": "not-a-jwt.at.all.really",
		"two parts": `${h}.${p}`,
		"a critical extension (RFC 7515 crit)": sign(rsa, claims(), { header: { crit: ["exp"], exp: now() + 60 } }),
	};
	for (const [what, token] of Object.entries(cases)) {
		const r = await initWith(bearer(token));
		assert.equal(r.status, 401, `${what}: ${r.text}`);
		assertUnauthorized(r, { invalid: true });
	}
	assertUnauthorized(await initWith({ Authorization: "Basic YWxpY2U6c2VjcmV0" }), { invalid: true });
	assertUnauthorized(await initWith({ Authorization: "Bearer" }), { invalid: true });
	// the log says why, and never the token
	assert.match(gw.stderrText(), /authentication failed peer=127\.0\.0\.1:\d+ reason="expired"/);
	assert.match(gw.stderrText(), /reason="wrong audience"/);
	assert.match(gw.stderrText(), /reason="alg none not accepted"/);
	assert.match(gw.stderrText(), /reason="alg HS256 not accepted"/);
	assert.match(gw.stderrText(), /reason="bad signature \(kid rsa-1\)"/);
	assert.match(gw.stderrText(), /reason="critical header extensions \(crit\) not understood"/);
	assert.ok(!gw.stderrText().includes(good.split(".")[2]), "no token in the log");
});

// The keys set on the JWKS server reach the gateway through the fetch that token's unknown kid
// asks for: refused until then, let in after (the fetched set is taken in on the gateway's
// loop: the next requests see it).
async function acceptedOnceFetched(keys, token, what) {
	jwks.setKeys(keys);
	const fetched = jwks.nextFetch();
	assertUnauthorized(await initWith(bearer(token)), { invalid: true });
	await bounded(fetched, "the JWKS fetch an unknown kid asks for");
	const r = await waitFor(async () => {
		const a = await initWith(bearer(token));
		return a.status === 200 && a;
	}, { timeout: 5000, what });
	assert.ok(r.headers.get("mcp-session-id"));
}

test("a key rotated in: its kid is unknown until the JWKS is fetched again, then accepted", async () => {
	await acceptedOnceFetched([rsa.jwk, ec.jwk, ed.jwk, rotated.jwk], sign(rotated, claims({ sub: "carol" })),
		"the rotated key accepted");
});

test("a key of a curve no token here uses (secp256k1) is skipped: the rest of its set is taken in", async () => {
	const k1 = { ...crypto.generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey.export({ format: "jwk" }),
		kid: "k1", alg: "ES256K", use: "sig" };
	const next = keyPair("EdDSA", "ed-2");
	await acceptedOnceFetched([rsa.jwk, ec.jwk, ed.jwk, rotated.jwk, k1, next.jwk], sign(next, claims({ sub: "dave" })),
		"the key beside the secp256k1 one accepted");
	assert.doesNotMatch(gw.stderrText(), /JWKS fetch failed/);
});

test("a token whose parts are not base64url is refused with 401 (a '=' amid one once aborted the gateway)", async () => {
	const good = sign(rsa, claims());
	const [h, p, sig] = good.split(".");
	const [hEd, pEd] = sign(ed, claims()).split(".");
	const cases = {
		header: `AAAAA=AA.${p}.${sig}`,
		payload: `${h}.AAAAA=AA.${sig}`,
		"Ed25519 signature": `${hEd}.${pEd}.AAAAA=AA`,
		"padded header": `${h}==.${p}.${sig}`,
		"a lone character": `${h}.${p}.AAAAA`,
		"the base64 alphabet": `${h}.${p}.${sig.replace(/^./, "+")}`,
	};
	for (const [what, token] of Object.entries(cases)) {
		const r = await initWith(bearer(token));
		assert.equal(r.status, 401, `${what}: ${r.text}`);
		assertUnauthorized(r, { invalid: true });
	}
	assert.match(gw.stderrText(), /reason="malformed token \(not base64url\)"/);
	// still there, and a good token still goes in
	const ok = await initWith(bearer(good));
	assert.equal(ok.status, 200, ok.text);
});

test("API keys: Authorization: Bearer and X-API-Key; a wrong key and one differing in its last byte are refused", async () => {
	for (const headers of [bearer(CI_KEY), { "X-API-Key": CI_KEY }]) {
		const { res } = await callAs(headers);
		assert.match(res.json?.error?.message ?? "", /who=ci\/key scopes=tools/, res.text);
	}
	const lastByte = CI_KEY.slice(0, -1) + (CI_KEY.endsWith("f") ? "e" : "f");
	for (const headers of [bearer("wrong"), { "X-API-Key": "wrong" }, bearer(lastByte), { "X-API-Key": lastByte }]) {
		const r = await initWith(headers);
		assertUnauthorized(r, { invalid: false });
	}
	assert.match(gw.stderrText(), /authentication failed peer=\S+ reason="unknown API key"/);
	assert.ok(!gw.stderrText().includes(lastByte), "no key in the log");
});

test("required scopes missing: 403 insufficient_scope naming them", async () => {
	const r = await initWith({ "X-API-Key": CI_KEY }, scopedUrl);
	assert.equal(r.status, 403, r.text);
	assert.equal(r.headers.get("www-authenticate"), 'Bearer error="insufficient_scope", scope="admin"');
	const none = await initWith({}, scopedUrl);
	assert.equal(none.status, 401, none.text);
	assert.equal(none.headers.get("www-authenticate"), "Bearer");
});

test("the protected resource metadata, at the root and under the MCP path", async () => {
	const origin = new URL(url).origin;
	for (const p of ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]) {
		const r = await bounded(fetch(origin + p), p);
		assert.equal(r.status, 200, p);
		assert.equal(r.headers.get("access-control-allow-origin"), "*");
		assert.deepEqual(await r.json(), {
			resource: AUD, authorization_servers: [ISS], scopes_supported: ["tools", "read"],
			bearer_methods_supported: ["header"],
		});
	}
	const r = await bounded(fetch(`${origin}/.well-known/oauth-protected-resource/other`), "another path");
	assert.equal(r.status, 404);
	const scoped = await bounded(fetch(`${new URL(scopedUrl).origin}/.well-known/oauth-protected-resource`), "no oauth");
	assert.equal(scoped.status, 404, "a listener without oauth settings publishes none");
});

// One raw exchange: the status line and headers of the answer to request.
function raw(request) {
	const { hostname, port } = new URL(url);
	return bounded(new Promise((resolve, reject) => {
		const s = net.createConnection(Number(port), hostname, () => s.write(request));
		let buf = "";
		s.on("data", (d) => {
			buf += d.toString();
			const end = buf.indexOf("\r\n\r\n");
			if (end >= 0) {
				s.destroy();
				resolve(buf.slice(0, end));
			}
		});
		s.on("error", reject);
		s.on("close", () => resolve(buf));
	}), `raw ${request.split("\r\n")[0]}`);
}

test("every request shape is refused the same way: GET stream, DELETE, WebSocket upgrade, Connection: close, HTTP/1.0; blanks after the credentials are no part of them", async () => {
	const host = new URL(url).host;
	const body = JSON.stringify(initMsg(1));
	const requests = [
		`GET /mcp HTTP/1.1\r\nHost: ${host}\r\nAccept: text/event-stream\r\nMcp-Session-Id: x\r\n\r\n`,
		`DELETE /mcp HTTP/1.1\r\nHost: ${host}\r\nMcp-Session-Id: x\r\n\r\n`,
		`GET /mcp HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
			`Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mcp\r\n\r\n`,
		`POST /mcp HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nAccept: application/json, text/event-stream\r\n` +
			`Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
		`POST /mcp HTTP/1.0\r\nHost: ${host}\r\nAccept: application/json, text/event-stream\r\n` +
			`Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
	];
	for (const req of requests) {
		const head = await raw(req);
		assert.match(head, /^HTTP\/1\.[01] 401 /, `${req.split("\r\n")[0]}: ${head}`);
		assert.match(head, new RegExp(`\r\nWWW-Authenticate: Bearer resource_metadata="${metadataUrl}"\r\n`, "i"), head);
	}
	// with a token, the same upgrade goes through
	const good = sign(rsa, claims());
	// and a POST whose credentials are followed by blanks (not part of a field's value)
	for (const version of ["1.1", "1.0"]) {
		const ok = await raw(`POST /mcp HTTP/${version}\r\nHost: ${host}\r\nConnection: close\r\n` +
			`Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n` +
			`Authorization: Bearer ${good} \t \r\nContent-Length: ${body.length}\r\n\r\n${body}`);
		assert.match(ok, /^HTTP\/1\.[01] 200 /, ok);
	}
	const head = await raw(`GET /mcp HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
		`Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mcp\r\n` +
		`Authorization: Bearer ${good}\r\n\r\n`);
	assert.match(head, /^HTTP\/1\.1 101 /, head);
});

test("a browser can read the 401: CORS exposes WWW-Authenticate; the preflight needs no credentials", async () => {
	const origin = `http://localhost:${new URL(url).port}`;
	const r = await initWith({ Origin: origin });
	assert.equal(r.status, 401);
	assert.equal(r.headers.get("access-control-allow-origin"), origin);
	assert.match(r.headers.get("access-control-expose-headers"), /WWW-Authenticate/);
	const pre = await plain("OPTIONS", { headers: { Origin: origin, "Access-Control-Request-Method": "POST" } });
	assert.equal(pre.status, 204, pre.text);
});

test("a session is its creator's: another identity gets 404 with its id, a refreshed token of the same subject goes on", async () => {
	const alice = bearer(sign(rsa, claims()));
	const init = await initWith(alice);
	const session = init.headers.get("mcp-session-id");
	await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, headers: alice });
	for (const other of [bearer(sign(rsa, claims({ sub: "bob" }))), { "X-API-Key": CI_KEY }]) {
		const p = await post(callMsg(3, "f__echo", { text: "x" }), { session, headers: other });
		assert.equal(p.status, 404, p.text);
		assert.equal(p.json?.error?.message, "Session not found");
		const g = await plain("GET", { session, headers: { Accept: "text/event-stream", ...other } });
		assert.equal(g.status, 404, g.text);
		const d = await plain("DELETE", { session, headers: other });
		assert.equal(d.status, 404, d.text);
	}
	const refreshed = bearer(sign(ec, claims({ exp: now() + 600, scope: "tools" })));
	const p = await post(callMsg(4, "f__pid"), { session, headers: refreshed });
	assert.equal(p.status, 200, p.text);
	assert.match(p.json?.error?.message ?? "", /who=alice\/jwt scopes=tools$/, "the policy sees the refreshed token's scopes");
	const sessions = (await admin(sock, "sessions")).body.sessions;
	assert.ok(sessions.some((s) => s.subject === "alice" && s.auth === "jwt"), JSON.stringify(sessions));
});

test("2026-07-28: each request is authenticated and its session has the identity", async () => {
	const meta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} };
	const modern = (headers) => post({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "f__pid", arguments: {}, _meta: meta } },
		{ headers: { "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "f__pid", ...headers } });
	for (const [headers, who] of [[bearer(sign(ed, claims({ sub: "dave" }))), "who=dave/jwt"], [{ "X-API-Key": CI_KEY }, "who=ci/key"]]) {
		const r = await modern(headers);
		assert.match(r.json?.error?.message ?? "", new RegExp(who), r.text);
	}
	assertUnauthorized(await modern({}), { invalid: false });
});

test("a token verified once is refused once it expires (the verified-token cache keeps to exp)", async () => {
	const token = sign(rsa, claims({ exp: now() + 2, sub: "erin" }));
	const ok = await initWith(bearer(token), strictUrl);
	assert.equal(ok.status, 200, ok.text);
	const refused = await waitFor(async () => {
		const r = await initWith(bearer(token), strictUrl);
		return r.status === 401 && r;
	}, { timeout: 6000, interval: 200, what: "the token refused after its exp" });
	assert.match(refused.headers.get("www-authenticate"), /^Bearer error="invalid_token"$/);
	assert.match(gw.stderrText(), /reason="expired"/);
});

test("the JWKS is fetched again periodically", async () => {
	// the strict listener fetches every second: two fetches of its URL, with no request
	for (let i = 0; i < 2; i++) {
		await bounded((async () => {
			while (!(await jwks.nextFetch()).endsWith("?strict"));
		})(), "a periodic fetch", 5000);
	}
});

test("the failed authentications are counted in the listener's figures", async () => {
	const before = (await admin(sock, "listeners")).body.listeners;
	const main = before.find((l) => l.figures?.url === "http://127.0.0.1:0/mcp");
	assert.ok(main, JSON.stringify(before));
	const n = main.figures.auth_failures;
	assert.ok(n >= 10, JSON.stringify(main));
	await initWith({});
	await initWith(bearer("x.y.z"));
	const after = (await admin(sock, "listeners")).body.listeners.find((l) => l.name === main.name);
	assert.equal(after.figures.auth_failures, n + 2, JSON.stringify(after));
	assert.equal(after.figures.auth_failures_by_reason.missing, main.figures.auth_failures_by_reason.missing + 1);
	assert.ok(after.figures.jwks_fetches >= 2, JSON.stringify(after));
});

test("configuration errors name the key", () => {
	const check = (auth) => {
		const cfg = luaConfig({ listen: [{ url: "http://127.0.0.1:0/mcp", auth }], providers: [] });
		return spawnSync(mcpfedBin(), ["--check", "-c", cfg], { encoding: "utf8", timeout: 20000 });
	};
	const cases = [
		[{ keys: [{ id: "ci", hash: "sha256:abc" }] }, /listen\[1\]\.auth\.keys\[1\]\.hash: expected "sha256:" and 64 hex digits/],
		[{ keys: [{ id: "ci", hash: "md5:0123" }] }, /auth\.keys\[1\]\.hash/],
		[{ jwt: { issuer: ISS, audience: AUD, jwks_url: jwks.url, algorithms: ["none"] } }, /auth\.jwt\.algorithms\[1\]: "none" is never accepted/],
		[{ jwt: { issuer: ISS, audience: AUD, jwks_url: jwks.url, algorithms: ["RS256", "HS256"] } }, /auth\.jwt\.algorithms\[2\]: "HS256" is never accepted/],
		[{ jwt: { issuer: ISS, jwks_url: jwks.url } }, /auth\.jwt\.audience: missing/],
		[{ jwt: { issuer: ISS, audience: AUD } }, /auth\.jwt: one of jwks_url and jwks_file is needed/],
		[{ jwt: { issuer: ISS, audience: AUD, jwks_file: "/nonexistent/jwks.json" } }, /auth\.jwt\.jwks_file: cannot read/],
		[{ required_scopes: ["x"] }, /auth: no method lets anyone in/],
		[{ keys: [{ id: "ci", hash: keyHash("k") }], oauth: {} }, /auth\.oauth\.authorization_servers: missing/],
	];
	for (const [auth, re] of cases) {
		const r = check(auth);
		assert.notEqual(r.status, 0, JSON.stringify(auth));
		assert.match(r.stderr, re, JSON.stringify(auth));
	}
	const dir = scratchDir();
	const file = path.join(dir, "jwks.json");
	fs.writeFileSync(file, JSON.stringify({ keys: [rsa.jwk, ed.jwk] }));
	const ok = check({ anonymous: true, jwt: { issuer: ISS, audience: AUD, jwks_file: file } });
	assert.equal(ok.status, 0, ok.stderr);
	// members that are not base64url: an error naming the key, not an abort
	for (const [key, re] of [
		[{ ...rsa.jwk, n: `AAAAA=${rsa.jwk.n.slice(6)}` }, /keys\[1\]: not a valid RSA key/],
		[{ ...ec.jwk, y: "AAAAA=AA" }, /keys\[1\]: not a valid EC key/],
		[{ ...ed.jwk, x: "AAAAA=AA" }, /keys\[1\]: not a valid Ed25519 key/],
	]) {
		fs.writeFileSync(file, JSON.stringify({ keys: [key] }));
		const r = check({ anonymous: true, jwt: { issuer: ISS, audience: AUD, jwks_file: file } });
		assert.equal(r.signal, null, `${key.kty}: ${r.stderr}`);
		assert.notEqual(r.status, 0, r.stderr);
		assert.match(r.stderr, /auth\.jwt\.jwks_file: .*jwks\.json: /, r.stderr);
		assert.match(r.stderr, re, r.stderr);
	}
});

test("a session keeps its identity across a hot swap of the http plugin", async () => {
	const alice = bearer(sign(rsa, claims()));
	const init = await initWith(alice);
	const session = init.headers.get("mcp-session-id");
	await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, headers: alice });
	const r = await admin(sock, "reload http", { timeout: 15000 });
	assert.equal(r.code, 200, JSON.stringify(r.body));
	const bob = await post(callMsg(5, "f__pid"), { session, headers: bearer(sign(rsa, claims({ sub: "bob" }))) });
	assert.equal(bob.status, 404, bob.text);
	const p = await post(callMsg(6, "f__pid"), { session, headers: alice });
	assert.match(p.json?.error?.message ?? "", /who=alice\/jwt/, p.text);
	assertUnauthorized(await initWith({}), { invalid: false });
});
