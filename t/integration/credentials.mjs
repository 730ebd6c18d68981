// What mcpfed sends upstream as credentials, per http provider (`credentials`): static
// headers; the caller's bearer token passed through to that provider only, on an upstream
// session of the caller's own (the test upstream refuses a session used with another
// token); RFC 8693 token exchange at a token endpoint, cached per caller token until it
// expires, shared by concurrent calls, never kept when refused; and no token in the log.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/credentials.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { admin, killAll, logTail, luaConfig, mcpfedBin, sanitizerReport, scratchDir, startProcess, nodeBin, serverPath,
	waitFor, withTimeout }
	from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg, startHttpGateway, startHttpServer } from "../lib/http.mjs";
import { rawWsSession } from "../lib/rawws.mjs";
import { keyHash, keyPair, now, sign } from "../lib/jwt.mjs";
import { startJwksServer } from "../servers/jwks.mjs";

const STATIC = `static-${randomBytes(6).toString("hex")}`;
const SECRET = "s3cret/part";    // form-encoded in HTTP Basic: s3cret%2Fpart
const tok = (who) => `tok${who}-${randomBytes(8).toString("hex")}`;
const TOKENS = { A: tok("A"), B: tok("B"), C: tok("C"), D: tok("D"), E: tok("E"), M: tok("M") };

let gw, upstream, tokenEndpoint, upBase, tokenBase, sock;
const log = () => logTail(gw?.stderrText(), 4000);
const bounded = (p, what, ms = 8000) => withTimeout(p, ms, what, log);
const { post, sseOf } = endpointClient(() => gw.url, bounded);

async function startTokenEndpoint() {
	const proc = startProcess([nodeBin(), serverPath("token-endpoint.mjs")]);
	const m = await waitFor(() => /token-endpoint listening port=(\d+)/.exec(proc.stderrText()),
		{ timeout: 10000, what: "token-endpoint listening" });
	return { proc, base: `http://127.0.0.1:${m[1]}` };
}

before(async () => {
	upstream = await startHttpServer("cred-upstream");
	upBase = upstream.url.replace(/\/mcp$/, "");
	const te = await startTokenEndpoint();
	tokenEndpoint = te.proc;
	tokenBase = te.base;
	sock = path.join(scratchDir(), "admin.sock");
	const up = (p) => `${upstream.url}?p=${p}`;
	const started = await startHttpGateway({
		log_level: "debug",
		admin: sock,
		listen: ["http://127.0.0.1:0/mcp", "ws://127.0.0.1:0/ws"],
		providers: [
			{ name: "st", transport: "http", url: up("st"), headers: { Authorization: `Bearer ${STATIC}` } },
			{ name: "pt", transport: "http", url: up("pt"), credentials: "passthrough" },
			{ name: "po", transport: "http", url: up("po"), credentials: "passthrough", credentials_optional: true,
				headers: { "X-Api-Key": "k1" } },
			{ name: "pm", transport: "http", url: up("pm"), credentials: "passthrough", caller_sessions_max: 2 },
			{ name: "pi", transport: "http", url: up("pi"), credentials: "passthrough", caller_session_idle_ms: 1000 },
			{ name: "ex", transport: "http", url: up("ex"), credentials: "exchange", exchange: {
				token_endpoint: `${tokenBase}/token`, client_id: "gateway-client", client_secret: SECRET,
				audience: "https://upstream.example/", scope: "tools:call", expiry_margin_ms: 0 } },
		],
	}, { timeout: 15000, listed: ["st", "pt", "po", "pm", "pi", "ex"] });
	gw = started.gw;
	gw.url = started.urls[0];
	gw.wsUrl = started.urls[1];
});

after(() => killAll(gw, upstream?.proc, tokenEndpoint));

const getJson = async (url, init) => {
	const r = await bounded(fetch(url, init), `fetch ${url}`);
	return r.json();
};
const seen = () => getJson(`${upBase}/seen`);
const exchanges = () => getJson(`${tokenBase}/requests`);
const control = (c) => getJson(`${tokenBase}/control`, { method: "POST", body: JSON.stringify(c) });

// A client session of the gateway presenting token (none when undefined).
async function client(token) {
	const headers = token ? { Authorization: `Bearer ${token}` } : {};
	const r = await post(initMsg(1, "2025-11-25", "credentials"), { headers });
	assert.equal(r.status, 200, r.text);
	const session = r.headers.get("mcp-session-id");
	const n = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, version: "2025-11-25", headers });
	assert.equal(n.status, 202, n.text);
	let id = 10;
	return {
		// the Authorization the upstream received for a whoami call through provider p,
		// or the gateway's error
		async whoami(p) {
			const res = await post(callMsg(id++, `${p}__whoami`, {}), { session, version: "2025-11-25", headers });
			assert.equal(res.status, 200, res.text);
			if (res.json.error) return { error: res.json.error };
			return JSON.parse(res.json.result.content[0].text).auth;
		},
	};
}

const figures = async (name) => {
	const r = await admin(sock, "providers");
	return r.body.providers.find((p) => p.name === name)?.figures;
};

test("static headers go to a provider configured with them, whoever calls", async () => {
	const a = await client(TOKENS.A);
	assert.equal(await a.whoami("st"), `Bearer ${STATIC}`);
	const anon = await client();
	assert.equal(await anon.whoami("st"), `Bearer ${STATIC}`);
});

test("passthrough: each caller's own token reaches the upstream, on a session of its own", async () => {
	const a = await client(TOKENS.A);
	const b = await client(TOKENS.B);
	assert.equal(await a.whoami("pt"), `Bearer ${TOKENS.A}`);
	assert.equal(await b.whoami("pt"), `Bearer ${TOKENS.B}`);
	assert.equal(await a.whoami("pt"), `Bearer ${TOKENS.A}`);
	// the upstream binds a session to the token that opened it: every pt request of a
	// session carried that session's token, and A and B had different sessions
	const calls = (await seen()).filter((r) => r.p === "pt" && r.method === "tools/call");
	const sessionOf = (t) => new Set(calls.filter((r) => r.auth === `Bearer ${t}`).map((r) => r.session));
	assert.equal(sessionOf(TOKENS.A).size, 1, JSON.stringify(calls));
	assert.equal(sessionOf(TOKENS.B).size, 1, JSON.stringify(calls));
	assert.notDeepEqual([...sessionOf(TOKENS.A)], [...sessionOf(TOKENS.B)]);
	const opened = (await seen()).filter((r) => r.p === "pt" && r.method === "initialize").map((r) => r.auth);
	assert.ok(opened.includes(`Bearer ${TOKENS.A}`) && opened.includes(`Bearer ${TOKENS.B}`), JSON.stringify(opened));
	const f = await figures("pt");
	assert.equal(f.mode, "passthrough");
	assert.ok(f.caller_sessions >= 2, JSON.stringify(f));
});

test("passthrough without a caller token: refused with -32016, nothing sent; optional sends headers alone", async () => {
	const anon = await client();
	const before = (await seen()).filter((r) => r.p === "pt" && r.method === "tools/call").length;
	const r = await anon.whoami("pt");
	assert.equal(r.error?.code, -32016, JSON.stringify(r));
	assert.match(r.error.message, /Authorization: Bearer/);
	assert.equal((await seen()).filter((x) => x.p === "pt" && x.method === "tools/call").length, before,
		"the call went upstream without credentials");
	assert.equal(await anon.whoami("po"), "", "credentials_optional: the configured headers alone");
	const a = await client(TOKENS.A);
	assert.equal(await a.whoami("po"), `Bearer ${TOKENS.A}`);
});

test("passthrough: a token the upstream refuses (401 to the caller's initialize) answers the call -32016", async () => {
	const t = `refused-${randomBytes(6).toString("hex")}`;
	TOKENS.R = t;
	const c = await client(t);
	const r = await c.whoami("pt");
	assert.equal(r.error?.code, -32016, JSON.stringify(r));
	assert.match(r.error.message, /refused the caller's session: invalid token/);
	const a = await client(TOKENS.A);
	assert.equal(await a.whoami("pt"), `Bearer ${TOKENS.A}`, "other callers go on");
});

test("passthrough: a caller's session the upstream forgot is initialized again with its token", async () => {
	const a = await client(TOKENS.A);
	assert.equal(await a.whoami("pt"), `Bearer ${TOKENS.A}`);
	const opens = async () => (await seen()).filter((r) => r.p === "pt" && r.method === "initialize"
		&& r.auth === `Bearer ${TOKENS.A}`).length;
	const before = await opens();
	await getJson(`${upBase}/forget`, { method: "POST" });
	assert.equal(await a.whoami("pt"), `Bearer ${TOKENS.A}`);
	assert.equal(await opens(), before + 1);
});

test("passthrough: beyond caller_sessions_max, the least recently used caller's session is ended", async () => {
	const [a, b, c] = [await client(TOKENS.A), await client(TOKENS.B), await client(TOKENS.C)];
	assert.equal(await a.whoami("pm"), `Bearer ${TOKENS.A}`);
	assert.equal(await b.whoami("pm"), `Bearer ${TOKENS.B}`);
	const deletes = async () => (await seen()).filter((r) => r.p === "pm" && r.method === "DELETE");
	assert.deepEqual(await deletes(), []);
	assert.equal(await c.whoami("pm"), `Bearer ${TOKENS.C}`);
	// A's went (ended with A's own token), B's and C's stay
	const d = await waitFor(async () => { const l = await deletes(); return l.length && l; },
		{ timeout: 5000, what: "a DELETE of a caller session" });
	assert.deepEqual(d.map((r) => r.auth), [`Bearer ${TOKENS.A}`]);
	assert.equal((await figures("pm")).caller_sessions, 2);
	assert.equal(await a.whoami("pm"), `Bearer ${TOKENS.A}`, "A gets a new one");
});

test("passthrough: a caller's session unused for caller_session_idle_ms is ended", async () => {
	const [a, b] = [await client(TOKENS.A), await client(TOKENS.B)];
	assert.equal(await a.whoami("pi"), `Bearer ${TOKENS.A}`);
	const deletes = async () => (await seen()).filter((r) => r.p === "pi" && r.method === "DELETE").map((r) => r.auth);
	assert.equal(await b.whoami("pi"), `Bearer ${TOKENS.B}`);
	assert.deepEqual(await deletes(), [], "not idle long enough yet");
	await new Promise((r) => setTimeout(r, 1100));   // the idle time itself
	// both were idle that long: both are ended when the next call comes, and B gets a new one
	assert.equal(await b.whoami("pi"), `Bearer ${TOKENS.B}`);
	assert.deepEqual((await waitFor(async () => { const l = await deletes(); return l.length === 2 && l; },
		{ timeout: 5000, what: "the DELETEs of the idle sessions" })).sort(), [`Bearer ${TOKENS.A}`, `Bearer ${TOKENS.B}`].sort());
	const opens = (await seen()).filter((r) => r.p === "pi" && r.method === "initialize" && r.auth === `Bearer ${TOKENS.B}`);
	assert.equal(opens.length, 2);
});

test("passthrough: what the upstream asks during a call is answered on that caller's session", async () => {
	const headers = { Authorization: `Bearer ${TOKENS.B}` };
	const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25",
		capabilities: { roots: {} }, clientInfo: { name: "credentials", version: "1" } } };
	const r = await post(init, { headers });
	const session = r.headers.get("mcp-session-id");
	await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, version: "2025-11-25", headers });
	const ac = new AbortController();
	const res = await post(callMsg(2, "pt__askroots", {}), { session, version: "2025-11-25", headers, signal: ac.signal });
	assert.equal(res.status, 200);
	const events = sseOf(res, ac);
	let ev;
	while ((ev = await events.next(8000, "roots/list")) && ev.json?.method !== "roots/list");
	assert.equal(ev?.json?.method, "roots/list");
	const answer = await post({ jsonrpc: "2.0", id: ev.json.id, result: { roots: [{ uri: "file:///b", name: "b" }] } },
		{ session, version: "2025-11-25", headers });
	assert.equal(answer.status, 202, answer.text);
	while ((ev = await events.next(8000, "the call's result")) && ev.json?.id !== 2);
	events.close();
	const seenByUpstream = JSON.parse(ev.json.result.content[0].text);
	assert.deepEqual(seenByUpstream, { auth: `Bearer ${TOKENS.B}`, answeredWith: `Bearer ${TOKENS.B}`,
		roots: [{ uri: "file:///b", name: "b" }] });
});

test("exchange: the upstream sees the exchanged token; the endpoint saw the form and client auth; cached", async () => {
	const a = await client(TOKENS.A);
	assert.equal(await a.whoami("ex"), "Bearer xchg-1");
	const reqs = await exchanges();
	assert.equal(reqs.length, 1, JSON.stringify(reqs));
	assert.equal(reqs[0].basic, "gateway-client:s3cret%2Fpart");
	assert.equal(reqs[0].contentType, "application/x-www-form-urlencoded");
	assert.deepEqual(reqs[0].form, {
		grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
		subject_token: TOKENS.A,
		subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
		requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
		audience: "https://upstream.example/",
		scope: "tools:call",
	});
	// within its lifetime: no second exchange
	assert.equal(await a.whoami("ex"), "Bearer xchg-1");
	assert.equal((await exchanges()).length, 1);
	const f = await figures("ex");
	assert.equal(f.exchange.exchanges, 1, JSON.stringify(f));
	assert.equal(f.exchange.cache_hits, 1, JSON.stringify(f));
	// the caller's own token never went to that upstream
	assert.ok(!(await seen()).some((r) => r.p === "ex" && r.auth.includes(TOKENS.A)));
});

test("exchange: once the token expired, the next call exchanges again", async () => {
	await control({ expires_in: 1 });
	const c = await client(TOKENS.C);
	const first = await c.whoami("ex");
	assert.match(first, /^Bearer xchg-\d+$/);
	assert.equal(await c.whoami("ex"), first, "still valid");
	const subjectC = () => exchanges().then((l) => l.filter((r) => r.form.subject_token === TOKENS.C).length);
	assert.equal(await subjectC(), 1);
	// expires_in 1 s with no margin: a second on, it is no longer used
	await new Promise((r) => setTimeout(r, 1100));
	const second = await c.whoami("ex");
	assert.match(second, /^Bearer xchg-\d+$/);
	assert.notEqual(second, first);
	assert.equal(await subjectC(), 2);
	await control({ expires_in: 3600 });
});

test("exchange: concurrent calls for one caller token share one exchange", async () => {
	await control({ delay_ms: 400 });
	const clients = await Promise.all([client(TOKENS.D), client(TOKENS.D), client(TOKENS.D)]);
	const before = (await figures("ex")).exchange;
	const answers = await Promise.all(clients.map((c) => c.whoami("ex")));
	await control({ delay_ms: 0 });
	assert.equal(new Set(answers).size, 1, JSON.stringify(answers));
	assert.match(answers[0], /^Bearer xchg-\d+$/);
	assert.equal((await exchanges()).filter((r) => r.form.subject_token === TOKENS.D).length, 1);
	const now = (await figures("ex")).exchange;
	assert.equal(now.exchanges - before.exchanges, 1, JSON.stringify(now));
	assert.equal(now.coalesced - before.coalesced, 2, JSON.stringify(now));
});

test("exchange: a refusal answers the call -32016, nothing goes upstream, and it is not kept", async () => {
	await control({ fail: { status: 400, error: "invalid_grant" } });
	const e = await client(TOKENS.E);
	const upBefore = (await seen()).filter((r) => r.p === "ex").length;
	const failuresBefore = (await figures("ex")).exchange.failures;
	const r = await e.whoami("ex");
	assert.equal(r.error?.code, -32016, JSON.stringify(r));
	assert.match(r.error.message, /token exchange .*failed: HTTP 400 invalid_grant/);
	assert.equal((await seen()).filter((x) => x.p === "ex").length, upBefore, "nothing sent upstream");
	assert.equal((await figures("ex")).exchange.failures, failuresBefore + 1);
	await control({ fail: null });
	assert.match(await e.whoami("ex"), /^Bearer xchg-\d+$/);
	assert.equal((await exchanges()).filter((x) => x.form.subject_token === TOKENS.E).length, 2,
		"the refusal was not cached: the endpoint was asked again");
});

test("a caller presenting a new token on the same session: the new one is passed on", async () => {
	const first = tok("M1");
	const r = await post(initMsg(1, "2025-11-25", "credentials"), { headers: { Authorization: `Bearer ${first}` } });
	const session = r.headers.get("mcp-session-id");
	const call = async (t, id) => {
		const res = await post(callMsg(id, "pt__whoami", {}), { session, version: "2025-11-25",
			headers: { Authorization: `Bearer ${t}` } });
		return JSON.parse(res.json.result.content[0].text).auth;
	};
	assert.equal(await call(first, 2), `Bearer ${first}`);
	assert.equal(await call(TOKENS.M, 3), `Bearer ${TOKENS.M}`);
});

test("a stateless (2026-07-28) request's token is passed on too", async () => {
	const meta = {
		"io.modelcontextprotocol/protocolVersion": "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": {},
		"io.modelcontextprotocol/clientInfo": { name: "credentials", version: "1" },
	};
	const t = tok("S");
	const res = await post({ jsonrpc: "2.0", id: 1, method: "tools/call",
		params: { name: "pt__whoami", arguments: {}, _meta: meta } }, { headers: {
		Authorization: `Bearer ${t}`, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
		"Mcp-Name": "pt__whoami" } });
	assert.equal(res.status, 200, res.text);
	assert.equal(JSON.parse(res.json.result.content[0].text).auth, `Bearer ${t}`);
	TOKENS.S = t;
});

test("a WebSocket client's token, from its upgrade request, is passed on", async () => {
	const t = tok("W");
	TOKENS.W = t;
	const ws = await rawWsSession(gw.wsUrl, bounded, { headers: { Authorization: `Bearer ${t}` } });
	try {
		const r = await ws.request(callMsg(5, "pt__whoami", {}));
		assert.equal(JSON.parse(r.result.content[0].text).auth, `Bearer ${t}`, JSON.stringify(r));
		const st = await ws.request(callMsg(6, "st__whoami", {}));
		assert.equal(JSON.parse(st.result.content[0].text).auth, `Bearer ${STATIC}`);
	} finally {
		ws.destroy();
	}
});

test("providers without passthrough never received a caller's token; no token in the log", async () => {
	const callers = Object.values(TOKENS);
	for (const r of await seen()) {
		if (r.p === "st" || r.p === "ex")
			assert.ok(!callers.some((t) => r.auth.includes(t)), `provider ${r.p} received ${r.auth}`);
	}
	const text = gw.stderrText();
	assert.match(text, /caller session ready/, "the log is the gateway's (debug)");
	for (const secret of [...callers, STATIC, SECRET, "s3cret%2Fpart", "xchg-1", "xchg-2"])
		assert.ok(!text.includes(secret), `the log holds ${secret}`);
});

test("reload http with an exchange under way: the call goes to the new generation, which exchanges anew", async () => {
	await control({ delay_ms: 800 });
	const y = tok("Y");
	TOKENS.Y = y;
	const c = await client(y);
	const forY = async () => (await exchanges()).filter((r) => r.form.subject_token === y).length;
	const pending = c.whoami("ex");
	await waitFor(async () => (await forY()) === 1, { timeout: 5000, what: "the exchange under way" });
	const r = await admin(sock, "reload http", { timeout: 15000 });
	assert.equal(r.code, 200, JSON.stringify(r.body));
	assert.equal(r.body.outcome, "swapped", JSON.stringify(r.body));
	assert.match(await pending, /^Bearer xchg-\d+$/);
	assert.equal(await forY(), 2, "the new generation asked for itself");
	await control({ delay_ms: 0 });
	const a = await client(TOKENS.A);
	assert.equal(await a.whoami("pt"), `Bearer ${TOKENS.A}`, "passthrough after the reload");
});

test("shutdown with an exchange under way and callers' sessions open: the sessions are ended, a clean exit", async () => {
	await control({ delay_ms: 3000 });
	const c = await client(tok("Z"));
	const pending = c.whoami("ex").then((r) => r, (e) => ({ failed: e.message }));
	await waitFor(async () => (await exchanges()).length > 0 && (await exchanges()).at(-1).form.subject_token.startsWith("tokZ"),
		{ timeout: 5000, what: "the exchange under way" });
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, `gateway exit${log()}`);
	const r = await pending;
	assert.ok(r.failed || r.error?.code === -32015, JSON.stringify(r));
	await control({ delay_ms: 0 });
	assert.doesNotMatch(gw.stderrText(), sanitizerReport, log());
	const deleted = (await seen()).filter((x) => x.p === "pt" && x.method === "DELETE").map((x) => x.auth);
	// A's session of the generation that stopped (opened after the reload), with A's token
	assert.ok(deleted.includes(`Bearer ${TOKENS.A}`), JSON.stringify(deleted));
});

const refusals = [
	["exchange without its table", { credentials: "exchange" }, /providers\[1\]\.exchange: missing/],
	["an exchange table without credentials = exchange", { exchange: { token_endpoint: "http://a/t", client_id: "c",
		client_secret: "s" } }, /providers\[1\]\.exchange: only for credentials = "exchange"/],
	["credentials_optional with static credentials", { credentials_optional: true },
		/providers\[1\]\.credentials_optional: only for/],
	["an unknown mode", { credentials: "forward" }, /providers\[1\]\.credentials: .*static, passthrough, exchange/],
	["no client secret", { credentials: "exchange", exchange: { token_endpoint: "http://a/t", client_id: "c" } },
		/providers\[1\]\.exchange: give one of client_secret and client_secret_file/],
	["no token endpoint", { credentials: "exchange", exchange: { client_id: "c", client_secret: "s" } },
		/providers\[1\]\.exchange\.token_endpoint: missing/],
	["a token endpoint that is no http URL", { credentials: "exchange", exchange: { token_endpoint: "ftp://a/t",
		client_id: "c", client_secret: "s" } }, /providers\[1\]\.exchange\.token_endpoint: expected an http/],
	["passthrough on a ws provider", { transport: "ws", url: "ws://127.0.0.1:1/mcp", credentials: "passthrough" },
		/providers\[1\]\.credentials: .*static/],
];
for (const [what, keys, expected] of refusals) {
	test(`--check refuses ${what}`, () => {
		const cfg = luaConfig({ providers: [{ name: "x", transport: "http", url: "http://127.0.0.1:1/mcp", ...keys }] });
		const r = spawnSync(mcpfedBin(), ["--check", "-c", cfg], { encoding: "utf8", timeout: 10000 });
		assert.equal(r.status, 1, r.stderr);
		assert.match(r.stderr, expected);
	});
}

test("on a listener with authentication, passthrough sends the verified JWT; an API key or an anonymous caller has no token to pass", async (t) => {
	const rsa = keyPair("RS256", "cred-rsa");
	const jwks = await startJwksServer([rsa.jwk]);
	t.after(() => jwks.close());
	const AUD = "https://gw.test/mcp", ISS = "https://as.test", KEY = "ci-key-passthrough-0123456789";
	const fetched = jwks.nextFetch();
	const { gw: g, urls } = await startHttpGateway({
		log_level: "debug",
		listen: [{ url: "http://127.0.0.1:0/mcp", auth: {
			anonymous: true,
			keys: [{ id: "ci", hash: keyHash(KEY) }],
			jwt: { issuer: ISS, audience: AUD, jwks_url: jwks.url },
		} }],
		providers: [{ name: "pt", transport: "http", url: `${upstream.url}?p=auth-pt`, credentials: "passthrough" }],
	}, { timeout: 15000, listed: ["pt"] });
	t.after(() => killAll(g));
	await bounded(fetched, "the JWKS fetch");
	const { post: post2 } = endpointClient(() => urls[0], bounded);
	const whoami = async (headers) => {
		const r = await post2(initMsg(1, "2025-11-25", "auth-pt"), { headers });
		assert.equal(r.status, 200, r.text);
		const session = r.headers.get("mcp-session-id");
		await post2({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, version: "2025-11-25", headers });
		const res = await post2(callMsg(2, "pt__whoami", {}), { session, version: "2025-11-25", headers });
		assert.equal(res.status, 200, res.text);
		return res.json.error ? { error: res.json.error } : JSON.parse(res.json.result.content[0].text).auth;
	};
	const jwt = sign(rsa, { iss: ISS, aud: AUD, sub: "carol", exp: now() + 300, iat: now() });
	await waitFor(async () => (await whoami({ Authorization: `Bearer ${jwt}` })) === `Bearer ${jwt}`,
		{ timeout: 5000, what: `the verified JWT passed through${logTail(g.stderrText())}` });
	const before = (await seen()).filter((r) => r.p === "auth-pt" && r.method === "tools/call").length;
	assert.equal((await whoami({ Authorization: `Bearer ${KEY}` })).error?.code, -32016, "an API key is the gateway's own");
	assert.equal((await whoami({ "X-API-Key": KEY })).error?.code, -32016);
	assert.equal((await whoami({})).error?.code, -32016, "anonymous: no token");
	assert.equal((await seen()).filter((r) => r.p === "auth-pt" && r.method === "tools/call").length, before,
		"nothing went upstream without a caller's token");
	assert.ok(!(await seen()).some((r) => r.auth?.includes(KEY)), "the API key never reached the upstream");
});
