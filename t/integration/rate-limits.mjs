// Rate limits (kernel/federation/ratelimit.c, bucket.c) through the real gateway over HTTP,
// with the in-process loopback provider (t/plugins/loopback.c), on a listener whose API keys
// give the callers their identities (anonymous callers allowed too): a provider's rate
// measured under 64 sessions hammering it, per identity (two identities each at their own
// rate, a subject's own limit), per public tool, a bucket the policy's rate() names shared
// across sessions, exemption by the policy, HTTP 429 with Retry-After for a 2026-07-28
// request, the JSON-RPC error with data.retryAfterMs in the session era and a call made
// after that long going through, the buckets bounded under many names, a reload that
// changes the limits without restarting the provider, configuration errors naming the key,
// and no refused call reaching the upstream.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins:build/t/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/rate-limits.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { admin, logTail, lua, mcpfedBin, scratchDir, withTimeout } from "../lib/harness.mjs";
import { ACCEPT_BOTH, callMsg, endpointClient, initMsg, startHttpGateway } from "../lib/http.mjs";
import { rawConnect } from "../lib/rawhttp.mjs";
import { keyHash } from "../lib/jwt.mjs";

const RATE_LIMITED = -32017;
// the listener's API keys: each is the identity of its id
const KEYS = { alice: "alice-key-0123456789abcdef01", bob: "bob-key-0123456789abcdef0123", ci: "ci-key-0123456789abcdef012345" };
const MODERN = "2026-07-28";

// Every candidate in the order given: the routing is not what these tests look at.
const ROUTE = "route = function(req, cands) local ids = {} for i, c in ipairs(cands) do ids[i] = c.id end return ids end";

// A gateway listening on HTTP with the loopback provider lb (its keys merged from lbKeys),
// an admin socket, and a policy whose rate function is rateLua (Lua source, or none).
async function start(t, { top = {}, lbKeys = {}, rateLua } = {}) {
	const dir = scratchDir();
	const policy = path.join(dir, "policy.lua");
	fs.writeFileSync(policy, `return { ${ROUTE}${rateLua ? `, rate = ${rateLua}` : ""} }\n`);
	const sock = path.join(dir, "mcpfed.sock");
	const conf = {
		listen: [{ url: "http://127.0.0.1:0/mcp", auth: { anonymous: true,
			keys: Object.entries(KEYS).map(([id, k]) => ({ id, hash: keyHash(k) })) } }], admin: sock, policy,
		providers: [{ name: "lb", transport: "loopback", ...lbKeys }], ...top,
	};
	const { gw, urls, config } = await startHttpGateway(conf, { listed: ["lb"] });
	t.after(() => gw.kill("SIGKILL"));
	const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, () => logTail(gw.stderrText()));
	const client = endpointClient(() => urls[0], bounded);
	const g = {
		gw, config, conf, ...client,
		async admin(cmd, timeout) {
			const r = await admin(sock, cmd, { timeout });
			assert.equal(r.code, 200, `${cmd}: ${JSON.stringify(r.body)}${logTail(gw.stderrText())}`);
			return r.body;
		},
		// a session-era session over HTTP: call(name, args) posts tools/call and returns the answer
		// (of the identity whose API key is KEYS[who], anonymous without)
		async session(clientName = "rate-test", who) {
			const key = who ? { "X-API-Key": KEYS[who] } : {};
			const r = await client.post(initMsg(1, "2025-11-25", clientName), { headers: key });
			assert.equal(r.status, 200, r.text);
			const sid = r.headers.get("mcp-session-id");
			const n = await client.post({ jsonrpc: "2.0", method: "notifications/initialized" },
				{ session: sid, version: "2025-11-25", headers: key });
			assert.equal(n.status, 202, n.text);
			// calls on a connection of the session's own, kept alive (lighter than fetch: the
			// clients must not take the processor the gateway needs)
			const conn = await rawConnect(urls[0], bounded, () => logTail(gw.stderrText()));
			t.after(() => conn.destroy());
			const headers = { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "Mcp-Session-Id": sid,
				"MCP-Protocol-Version": "2025-11-25", ...key };
			const path = new URL(urls[0]).pathname;
			let id = 10;
			const s = {
				sid,
				async call(name, args = {}) {
					conn.send({ method: "POST", path, connection: "keep-alive", headers, body: JSON.stringify(callMsg(++id, name, args)) });
					const a = await conn.response({ ms: 20000 });
					assert.equal(a.status, 200, a.body);
					assert.equal(a.json?.id, id, a.body);
					return a.json;
				},
			};
			return s;
		},
		// a 2026-07-28 request (no session): { status, headers, json }
		modern(id, name, args = {}) {
			const meta = {
				"io.modelcontextprotocol/protocolVersion": MODERN,
				"io.modelcontextprotocol/clientCapabilities": {},
				"io.modelcontextprotocol/clientInfo": { name: "rate-modern", version: "1" },
			};
			return client.post({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args, _meta: meta } },
				{ version: MODERN, headers: { "Mcp-Method": "tools/call", "Mcp-Name": name } });
		},
	};
	return g;
}

// An answer is either a result or a rate-limit refusal saying which limit and bucket.
function classify(a, limit, bucket) {
	if (a.result) return "ok";
	assert.equal(a.error?.code, RATE_LIMITED, JSON.stringify(a));
	assert.equal(a.error.data?.limit, limit, JSON.stringify(a));
	assert.equal(a.error.data?.bucket, bucket, JSON.stringify(a));
	assert.ok(Number.isInteger(a.error.data.retryAfterMs) && a.error.data.retryAfterMs > 0, JSON.stringify(a));
	assert.match(a.error.message, /rate limit/i);
	return "refused";
}

// Each session calls name back to back until ms have passed; counts of what came back, and
// the seconds from the first call admitted to the last (as their answers came: the gateway
// admitted them a round trip's part earlier, the same for each, so the span is the same).
// Each session waits pace ms on average between calls (0: none), at random so that the
// sessions do not fall into step: the demand stays well above the rate, spread over time,
// without taking the processor from the gateway, whose loop must see the demand throughout
// (a full bucket loses what would overflow it, whether the gateway waits for calls in
// waves or does not run).
async function hammer(sessions, name, ms, limit, bucket, pace = 0) {
	const counts = { ok: 0, refused: 0 };
	const t0 = performance.now();
	let first = Infinity, last = 0;
	await Promise.all(sessions.map(async (s) => {
		while (performance.now() - t0 < ms) {
			const kind = classify(await s.call(name, {}), limit, bucket);
			counts[kind]++;
			if (kind === "ok") {
				first = Math.min(first, performance.now());
				last = performance.now();
			}
			if (pace) await new Promise((r) => setTimeout(r, pace * (0.5 + Math.random())));
		}
	}));
	return { ...counts, elapsed: (last - first) / 1000 };
}

// Measure (a function of nothing resolving to [{ ok, refused, elapsed, burst, rate, what }])
// until each of its figures has accepted within 5% of burst + rate × elapsed, with calls
// refused (the callers asked more than the rate), at most three times. Never more than that (admitting too much is no matter of load); too few only
// because the gateway did not run for longer than its bucket's burst lasts, which a
// machine shared with other work may do to one window but not, with a sound bucket, to
// three. The bucket refills between windows. Returns the windows measured.
async function measured(measure) {
	const windows = [];
	for (let attempt = 0; attempt < 3; attempt++) {
		const figures = await measure();
		windows.push(figures);
		let good = true;
		for (const f of figures) {
			const want = f.burst + f.rate * f.elapsed;
			console.log(`measured (${f.what}): ${f.ok} accepted, ${f.refused} refused in ${f.elapsed.toFixed(3)} s; expected ${want.toFixed(1)}`);
			assert.ok(f.ok <= want * 1.05, `${f.what}: ${f.ok} accepted, more than ${want.toFixed(1)} + 5%`);
			good &&= f.ok >= want * 0.95 && f.refused > 0;   // and the callers asked more than that
		}
		if (good) return windows;
		await new Promise((r) => setTimeout(r, 1000));   // the buckets refill
	}
	assert.fail(`accepted fewer than burst + rate × elapsed - 5% in three windows: ${JSON.stringify(windows)}`);
}

const lbCalls = async (g) => (await g.admin("targets")).targets.find((x) => x.name === "lb#1").calls;

test("a provider's rate under 64 sessions: burst + rate × elapsed, within 5%; refusals never reach it", async (t) => {
	const g = await start(t, { lbKeys: { rate: { calls_per_s: 200, burst: 20 } } });
	const sessions = [];
	for (let i = 0; i < 64; i++) sessions.push(await g.session(`c${i}`));
	// the sessions were made without a call: the bucket is full now
	const before = await lbCalls(g);
	const windows = await measured(async () => {   // up to 530 calls a second asked
		const r = await hammer(sessions, "lb__echo", 3000, "provider", "lb", 120);
		return [{ ...r, burst: 20, rate: 200, what: "64 sessions, one provider" }];
	});
	const ok = windows.reduce((n, [w]) => n + w.ok, 0), refused = windows.reduce((n, [w]) => n + w.refused, 0);
	const st = await g.admin("rates");
	assert.equal(st.refused.provider, refused, "each refusal counted once, as the provider's");
	assert.equal(st.admitted, ok);
	const b = st.buckets.find((x) => x.kind === "provider" && x.name === "lb");
	assert.ok(b && b.burst === 20 && b.calls_per_s === 200 && b.tokens >= 0 && b.tokens <= 20, JSON.stringify(st));
	assert.equal(await lbCalls(g) - before, ok, "the upstream saw only the calls admitted");
});

test("per identity: each identity its own bucket, sessions of one identity share it; a subject's own limit", async (t) => {
	const g = await start(t, {
		top: { rate: { per_identity: { calls_per_s: 50, burst: 10 },
			subjects: { ci: { calls_per_s: 0.01, burst: 30 }, anonymous: { calls_per_s: 1000, burst: 100 } } } },
	});
	// eight sessions each (up to 400 calls a second asked of a rate of 50), each identity's
	// by its API key
	const alice = [], bob = [];
	for (let i = 0; i < 8; i++) alice.push(await g.session("rate-test", "alice"));
	for (let i = 0; i < 8; i++) bob.push(await g.session("rate-test", "bob"));
	await measured(async () => {
		const [ra, rb] = await Promise.all([hammer(alice, "lb__echo", 3000, "identity", "alice", 40),
			hammer(bob, "lb__echo", 3000, "identity", "bob", 40)]);
		return [{ ...ra, burst: 10, rate: 50, what: "alice" }, { ...rb, burst: 10, rate: 50, what: "bob" }];
	});
	// ci: 30 at once, then the next waits 100 s
	const ci = await g.session("rate-test", "ci");
	let ok = 0;
	for (let i = 0; i < 30; i++) ok += classify(await ci.call("lb__echo"), "identity", "ci") === "ok";
	assert.equal(ok, 30, "a burst of 30");
	const no = await ci.call("lb__echo");
	classify(no, "identity", "ci");
	assert.ok(no.error.data.retryAfterMs > 50000 && no.error.data.retryAfterMs <= 100000, JSON.stringify(no));
	// anonymous is an identity too: its own bucket, untouched by the others
	const anon = await g.session();
	assert.ok((await anon.call("lb__echo")).result);
});

test("per public tool: all calls of the tool together; other tools are not limited", async (t) => {
	const g = await start(t, { top: { rate: { tools: { lb__echo: { calls_per_s: 0.01, burst: 3 } } } } });
	const [a, b] = [await g.session(), await g.session()];
	assert.ok((await a.call("lb__echo")).result);
	assert.ok((await b.call("lb__echo")).result);
	assert.ok((await a.call("lb__echo")).result);
	const no = await b.call("lb__echo");
	classify(no, "tool", "lb__echo");
	assert.ok(no.error.data.retryAfterMs > 50000 && no.error.data.retryAfterMs <= 100000, JSON.stringify(no));
	for (let i = 0; i < 10; i++) assert.ok((await a.call("lb__gen")).result, "lb__gen has no limit");
	assert.equal((await g.admin("rates")).refused.tool, 1);
});

test("the policy's rate(): a named bucket shared across sessions, and exemption", async (t) => {
	const rateLua = `function(r)
		if r.client.name == "vip" then return false end
		if r.client.name:sub(1, 5) == "team-" then return { bucket = "team", calls_per_s = 0.01, burst = 4 } end
	end`;
	const g = await start(t, { rateLua, top: { rate: { per_identity: { calls_per_s: 0.01, burst: 2 } } } });
	const [x, y] = [await g.session("team-x"), await g.session("team-y")];
	const got = [];
	for (const s of [x, y, x, y, x, y]) got.push(classify(await s.call("lb__echo"), "policy", "team"));
	assert.deepEqual(got, ["ok", "ok", "ok", "ok", "refused", "refused"], "four calls for both sessions together");
	const vip = await g.session("vip");
	for (let i = 0; i < 20; i++) assert.ok((await vip.call("lb__echo")).result, "exempt");
	const plain = await g.session("someone");
	const p = [];
	for (let i = 0; i < 3; i++) p.push(classify(await plain.call("lb__echo"), "identity", "anonymous"));
	assert.deepEqual(p, ["ok", "ok", "refused"], "the configured limit applies when rate() says nil");
	const st = await g.admin("rates");
	assert.equal(st.refused.policy, 2);
	assert.equal(st.refused.identity, 1);
});

test("a rate() that fails on a call is the policy's error: the configured limits apply, the call is answered", async (t) => {
	const g = await start(t, { rateLua: `function(r) if r.client.name == "bad" then error("boom") end end`,
		lbKeys: { rate: { calls_per_s: 0.01, burst: 1 } } });
	const s = await g.session("bad");
	assert.ok((await s.call("lb__echo")).result);
	classify(await s.call("lb__echo"), "provider", "lb");
	const pol = await g.admin("policy");
	assert.equal(pol.errors, 2, JSON.stringify(pol));
	assert.match(pol.last_error, /^rate: .*boom/);
});

test("a policy whose rate() answers badly is refused at load, naming rate", () => {
	const dir = scratchDir();
	const policy = path.join(dir, "policy.lua");
	fs.writeFileSync(policy, `return { ${ROUTE}, rate = function(r) return { bucket = 42 } end }\n`);
	const cfg = path.join(dir, "config.lua");
	fs.writeFileSync(cfg, `return ${lua({ policy, providers: [{ name: "lb", transport: "loopback" }] })}\n`);
	const r = spawnSync(mcpfedBin(), ["--check", "-c", cfg], { encoding: "utf8", timeout: 20000 });
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, /self-check failed: rate: bucket must be a name/);
});

test("2026-07-28 over HTTP: 429 with Retry-After; session era: the error with retryAfterMs, and a call after that long goes", async (t) => {
	const g = await start(t, {
		lbKeys: { rate: { calls_per_s: 5, burst: 1 } }, top: { rate: { tools: { lb__gen: { calls_per_s: 0.01, burst: 1 } } } },
	});
	const first = await g.modern(1, "lb__gen");
	assert.equal(first.status, 200, first.text);
	assert.ok(first.json.result, first.text);
	const over = await g.modern(2, "lb__gen");
	assert.equal(over.status, 429, over.text);
	assert.equal(over.json.id, 2);
	classify(over.json, "tool", "lb__gen");   // the slowest of the buckets that refused
	const ms = over.json.error.data.retryAfterMs;
	assert.ok(ms > 90000 && ms <= 100000, over.text);
	assert.equal(over.headers.get("retry-after"), String(Math.ceil(ms / 1000)), "seconds, rounded up");

	// the provider's bucket (one call, five a second): calls back to back meet a refusal
	const s = await g.session();
	let no;
	for (let i = 0; i < 20 && !no; i++) {
		const a = await s.call("lb__echo");
		if (a.error) no = a;
	}
	assert.ok(no, "a refusal among 20 calls back to back");
	classify(no, "provider", "lb");
	const wait = no.error.data.retryAfterMs;
	assert.ok(wait <= 200, JSON.stringify(no));
	// the refusal says when; waiting that long (what is under test) is enough
	await new Promise((r) => setTimeout(r, wait));
	const yes = await s.call("lb__echo");
	assert.ok(yes.result, `after ${wait} ms: ${JSON.stringify(yes)}`);
});

test("the buckets stay bounded under many names the policy makes from what clients send", async (t) => {
	const g = await start(t, {
		rateLua: `function(r) return { bucket = "n" .. r.args_size, calls_per_s = 0.01, burst = 1 } end`,
		top: { rate: { max_buckets: 16 } },
	});
	const s = await g.session();
	for (let i = 0; i < 300; i++) assert.ok((await s.call("lb__echo", { p: "x".repeat(i) })).result, `call ${i}`);
	const st = await g.admin("rates");
	assert.ok(st.buckets.length <= 16, `${st.buckets.length} buckets`);
	assert.equal(st.evicted_full + st.evicted_in_use, 300 - st.buckets.length, JSON.stringify({ ...st, buckets: undefined }));
	// the newest stays, empty: the same name again is refused
	const no = await s.call("lb__echo", { p: "x".repeat(299) });
	classify(no, "policy", `n${JSON.stringify({ p: "x".repeat(299) }).length}`);
});

test("reload config changes the limits, and the provider keeps running", async (t) => {
	const g = await start(t, { lbKeys: { rate: { calls_per_s: 0.01, burst: 2 } } });
	const s = await g.session();
	const got = [];
	for (let i = 0; i < 3; i++) got.push(classify(await s.call("lb__echo"), "provider", "lb"));
	assert.deepEqual(got, ["ok", "ok", "refused"]);
	const gen = (await s.call("lb__gen")).error;   // limited too: refused
	assert.equal(gen.code, RATE_LIMITED);
	fs.writeFileSync(g.config, `return ${lua({ ...g.conf, providers: [{ name: "lb", transport: "loopback", rate: { calls_per_s: 1000, burst: 50 } }],
		rate: { tools: { lb__gen: { calls_per_s: 0.01, burst: 1 } } } })}\n`);
	const r = await g.admin("reload config", 20000);
	assert.deepEqual(r.providers.unchanged, ["lb"], JSON.stringify(r));
	assert.ok(r.applied.includes("rate"), JSON.stringify(r));
	// the bucket keeps what it held (a reload grants no burst), and fills at the new rate
	const next = await s.call("lb__echo");
	assert.ok(next.result || next.error?.data?.retryAfterMs === 1, JSON.stringify(next));
	await new Promise((r) => setTimeout(r, 60));   // 60 calls' worth at 1000 a second, 50 kept
	for (let i = 0; i < 40; i++) assert.ok((await s.call("lb__echo")).result, `call ${i} after the reload`);
	assert.ok((await s.call("lb__gen")).result);
	classify(await s.call("lb__gen"), "tool", "lb__gen");
});

test("configuration errors name the key", () => {
	const cases = [
		[{ rate: { per_identity: { calls_per_s: -1 } } }, /rate\.per_identity\.calls_per_s: expected a number from 0\.001/],
		[{ rate: { per_identity: { calls_per_s: 1, burst: 0 } } }, /rate\.per_identity\.burst: expected an integer from 1 to 1000000, not 0/],
		[{ rate: { per_identity: { calls_per_s: 1, brust: 2 } } }, /rate\.per_identity\.brust: unknown key/],
		[{ rate: { subjects: { ci: { burst: 2 } } } }, /rate\.subjects\["ci"\]\.calls_per_s: missing/],
		[{ rate: { tools: { x: { calls_per_s: "fast" } } } }, /rate\.tools\["x"\]\.calls_per_s: expected a number/],
		[{ rate: { per_ident: {} } }, /rate\.per_ident: unknown key/],
		[{ rate: { max_buckets: 1 } }, /rate\.max_buckets: expected an integer from 16/],
		[{ providers: [{ name: "lb", transport: "loopback", rate: { calls_per_s: 0 } }] }, /providers\[1\]\.rate\.calls_per_s: expected a number from 0\.001/],
		[{ providers: [{ name: "lb", transport: "loopback", rate: { calls_per_s: 5, burst: 1.5 } }] }, /providers\[1\]\.rate\.burst: expected an integer/],
	];
	for (const [top, re] of cases) {
		const cfg = path.join(scratchDir(), "config.lua");
		fs.writeFileSync(cfg, `return ${lua(top)}\n`);
		const r = spawnSync(mcpfedBin(), ["--check", "-c", cfg], { encoding: "utf8", timeout: 20000 });
		assert.notEqual(r.status, 0, JSON.stringify(top));
		assert.match(r.stderr, re, JSON.stringify(top));
	}
});
