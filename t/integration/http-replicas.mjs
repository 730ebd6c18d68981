// The http provider with replicas (`urls`): each URL is a target of its own, with its own
// upstream session, reached by real upstream processes on loopback ports. Calls spread over
// them and the admin socket lists one target per URL; an upstream killed under load fails
// only the calls it had in flight; a call that could not reach its upstream (a closed port)
// moves on to the next target even when it is not idempotent; a reload of the plugin keeps
// every replica's upstream session; configuration errors name the key.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/http-replicas.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import {
	admin, call, closedPort, inOrderPolicy, killAll, logTail, luaConfig, mcpfedBin, nodeBin, scratchDir, serverPath, startProcess, startStdio, textOf,
	waitFor, writeConfig,
} from "../lib/harness.mjs";

const tail = (gw) => logTail(gw.stderrText(), 5000);
const count = (text, re) => (text.match(new RegExp(re, "g")) || []).length;

// An upstream over Streamable HTTP on its own loopback port: faulty.mjs (the session era) or
// modern-http.mjs (2026-07-28, stateless). Resolves to the process, with .port and .url.
async function upstream(t, kind = "faulty", env = {}) {
	const up = kind === "faulty"
		? startProcess([nodeBin(), serverPath("faulty.mjs")], { FAULTY_HTTP_PORT: "0", FAULTY_SWAP_TOOLS: "1", ...env })
		: startProcess([nodeBin(), serverPath("modern-http.mjs")], { PORT: "0", ...env });
	t.after(() => killAll(up));
	const m = await waitFor(() => /listening port=(\d+)/.exec(up.stderrText()) || up.exitStatus(),
		{ timeout: 10000, what: `${kind} listening on HTTP` });
	assert.ok(m[1], `${kind} over HTTP runs: ${up.stderrText()}`);
	up.port = Number(m[1]);
	up.url = `http://127.0.0.1:${up.port}/mcp`;
	return up;
}

// mcpfed over stdio with an admin socket and one http provider "up" over urls.
async function gateway(t, urls, top = {}, provider = {}) {
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({ config: luaConfig({
		log_level: "info", admin: sock, ...top, providers: [{ name: "up", transport: "http", urls, ...provider }],
	}) });
	gw.sock = sock;
	t.after(() => killAll(gw));
	await gw.initialize();
	await waitFor(() => /registry: listed provider=up list=tools /.test(gw.stderrText()), { timeout: 15000, what: `the tools of up${tail(gw)}` });
	return gw;
}

const readyTargets = (gw) => new Set([...gw.stderrText().matchAll(/info http: upstream ready provider=up .* target=(\d+)\n/g)].map((m) => Number(m[1])));
const targets = async (gw) => (await admin(gw.sock, "targets")).body.targets.filter((x) => x.provider === "up");

async function shutdown(gw) {
	assert.deepEqual(await gw.close({ timeout: 10000 }), { code: 0, signal: null }, tail(gw));
	assert.doesNotMatch(gw.stderrText(), /ERROR: (Address|Leak)Sanitizer|runtime error:/, tail(gw));
}

test("calls spread over every URL; each is a target with its own era and session", async (t) => {
	const ups = [await upstream(t), await upstream(t), await upstream(t, "modern")];
	const gw = await gateway(t, ups.map((u) => u.url));
	await waitFor(() => readyTargets(gw).size === 3, { timeout: 15000, what: `three replicas ready${tail(gw)}` });
	const log = gw.stderrText();
	for (const [i, u] of ups.entries()) {
		const era = i < 2 ? "session" : "stateless";
		assert.match(log, new RegExp(`info http: upstream ready provider=up url=${u.url} era=${era} .* target=${i + 1}\n`), tail(gw));
	}
	// each session-era upstream has a session of its own, and a GET stream of its own
	for (const u of ups.slice(0, 2)) {
		await waitFor(() => count(u.stderrText(), "faulty get-stream open ") === 1, { timeout: 5000, what: `the GET stream to ${u.url}` });
		assert.equal(count(u.stderrText(), "faulty session initialized "), 1, u.stderrText());
	}
	// admin: one target per URL, each up
	await waitFor(async () => (await targets(gw)).every((x) => x.up), { timeout: 5000, what: "every target up" });
	assert.deepEqual((await targets(gw)).map((x) => x.name), ["up#1", "up#2", "up#3"]);

	// calls in flight together go to every replica
	const seen = new Map();
	for (let round = 0; round < 5 && seen.size < 3; round++) {
		const answers = await Promise.all(Array.from({ length: 12 }, () => call(gw, "up__pid")));
		for (const a of answers) {
			assert.ok(a.result && !a.result.isError, JSON.stringify(a));
			const pid = Number(textOf(a));
			seen.set(pid, (seen.get(pid) || 0) + 1);
		}
	}
	assert.deepEqual([...seen.keys()].sort(), ups.map((u) => u.child.pid).sort(), `answers by pid: ${JSON.stringify([...seen])}`);
	const calls = (await targets(gw)).map((x) => x.calls);
	assert.ok(calls.every((n) => n > 0), `each target counted calls: ${calls}`);
	await shutdown(gw);
});

test("an upstream killed under load: only its calls in flight fail; the others take the later calls", async (t) => {
	const env = { FAULTY_SLOW_MS: "60", FAULTY_ECHO_PID: "1" };
	const ups = [await upstream(t, "faulty", env), await upstream(t, "faulty", env), await upstream(t, "faulty", env)];
	const gw = await gateway(t, ups.map((u) => u.url), {}, { health: { interval_ms: 200, timeout_ms: 1000, failures: 1, successes: 1 } });
	await waitFor(() => readyTargets(gw).size === 3, { timeout: 15000, what: `three replicas ready${tail(gw)}` });
	const victim = ups[1];
	let killedAt = Infinity, exitedAt = Infinity, stop = false;
	const results = [];
	const worker = async () => {
		while (!stop) {
			const start = performance.now();
			const res = await call(gw, "up__echo", { text: "x" }, { timeout: 20000 });
			results.push({ start, end: performance.now(), res });
		}
	};
	const workers = Array.from({ length: 9 }, worker);
	await waitFor(() => new Set(results.map((r) => r.res.result?.content?.[1]?.text)).size === 3,
		{ timeout: 10000, what: "every replica answering" });
	killedAt = performance.now();
	victim.kill("SIGKILL");
	await victim.waitExit(5000);
	exitedAt = performance.now();
	const afterKill = () => results.filter((r) => r.start > exitedAt).length;
	await waitFor(() => afterKill() >= 150, { timeout: 30000, what: `calls after the kill (${afterKill()})` });
	stop = true;
	await Promise.all(workers);

	const failed = results.filter((r) => !r.res.result || r.res.result.isError);
	for (const f of failed) {
		assert.ok(f.start < exitedAt && f.end > killedAt, `a call not in flight at the kill failed: ${JSON.stringify(f.res)}`);
		assert.equal(f.res.error?.code, -32011, `a call lost with its upstream: ${JSON.stringify(f.res)}`);
	}
	const pidsAfter = new Set(results.filter((r) => r.start > exitedAt).map((r) => r.res.result.content[1].text));
	assert.deepEqual([...pidsAfter].sort(), [`pid=${ups[0].child.pid}`, `pid=${ups[2].child.pid}`].sort());
	t.diagnostic(`${results.length} calls, ${failed.length} lost in flight on the killed upstream`);
	await waitFor(async () => (await targets(gw)).map((x) => x.up).join() === "true,false,true",
		{ timeout: 10000, what: "the killed replica's target down" });
	await shutdown(gw);
});

test("a call to an upstream that is gone is never received: it moves on to the next target, even a tools/call", async (t) => {
	const ups = [await upstream(t), await upstream(t)];
	const gw = await gateway(t, ups.map((u) => u.url), { policy: inOrderPolicy() }, { health: false });
	await waitFor(() => readyTargets(gw).size === 2, { timeout: 15000, what: `two replicas ready${tail(gw)}` });
	assert.equal(Number(textOf(await call(gw, "up__pid"))), ups[0].child.pid, "the policy sends calls to up#1 first");
	// up#1's port closes; the provider still holds it ready when the next call goes there
	ups[0].kill("SIGKILL");
	await ups[0].waitExit(5000);
	const res = await call(gw, "up__pid");
	assert.ok(res.result && !res.result.isError, `the call succeeded: ${JSON.stringify(res)}${tail(gw)}`);
	assert.equal(Number(textOf(res)), ups[1].child.pid, "served by up#2");
	assert.match(gw.stderrText(), /warn http: cannot reach the upstream; retrying provider=up .*reason="[^"]*Couldn't connect[^"]*" target=1\n/, tail(gw));
	assert.equal(Number(textOf(await call(gw, "up__pid"))), ups[1].child.pid);
	await waitFor(async () => (await targets(gw)).map((x) => x.up).join() === "false,true", { timeout: 5000, what: "up#1 down" });
	await shutdown(gw);
});

test("a URL at a closed port from the start: its target is down, calls go to the others", async (t) => {
	const up = await upstream(t);
	const dead = `http://127.0.0.1:${await closedPort()}/mcp`;
	const gw = await gateway(t, [dead, up.url], { policy: inOrderPolicy() }, { health: false, backoff_min_ms: 50, backoff_max_ms: 200 });
	await waitFor(() => /warn http: cannot reach the upstream; retrying provider=up .* target=1\n/.test(gw.stderrText()),
		{ timeout: 10000, what: `up#1 refused${tail(gw)}` });
	const before = await targets(gw);
	for (let i = 0; i < 5; i++) {
		const res = await call(gw, "up__pid");
		assert.equal(Number(textOf(res)), up.child.pid, JSON.stringify(res));
	}
	const after = await targets(gw);
	assert.deepEqual(after.map((x) => [x.name, x.up]), [["up#1", false], ["up#2", true]]);
	// each call counted once, on the target that served it; the one it could not reach, none
	assert.deepEqual(after.map((x) => [x.calls - before.find((y) => y.name === x.name).calls, x.failures, x.inflight]),
		[[0, 0, 0], [5, 0, 0]], JSON.stringify(after));
	await shutdown(gw);
});

test("reload http: every replica keeps its upstream session and its GET stream moves to the successor", async (t) => {
	const ups = [await upstream(t), await upstream(t)];
	const gw = await gateway(t, ups.map((u) => u.url));
	await waitFor(() => readyTargets(gw).size === 2, { timeout: 15000, what: `two replicas ready${tail(gw)}` });
	for (const u of ups) await waitFor(() => count(u.stderrText(), "faulty get-stream open ") === 1, { timeout: 5000, what: "GET streams" });
	const sessions = async () => {
		const m = new Map();
		for (let round = 0; round < 10 && m.size < 2; round++) {
			const answers = await Promise.all(Array.from({ length: 8 }, () => call(gw, "up__session_id")));
			for (const a of answers) m.set(textOf(a), (m.get(textOf(a)) || 0) + 1);
		}
		return [...m.keys()].sort();
	};
	const before = await sessions();
	assert.equal(before.length, 2, `two upstream sessions: ${before}`);
	for (let k = 1; k <= 2; k++) {
		const r = await admin(gw.sock, "reload http", { timeout: 15000 });
		assert.equal(r.code, 200, `reload http: ${JSON.stringify(r.body)}${tail(gw)}`);
		assert.equal(r.body.instances.filter((i) => i.result === "swapped").length, 1, JSON.stringify(r.body));
		assert.deepEqual(await sessions(), before, `the same upstream sessions after reload ${k}`);
	}
	for (const u of ups) {
		assert.equal(count(u.stderrText(), "faulty session initialized "), 1, `one initialize: ${u.stderrText()}`);
		await waitFor(() => count(u.stderrText(), "faulty get-stream open ") === 3 && count(u.stderrText(), "faulty get-stream closed ") === 2,
			{ timeout: 10000, what: `one GET stream per generation: ${u.stderrText()}` });
	}
	assert.equal(count(gw.stderrText(), "info http: upstream ready provider=up "), 2, "each replica initialized once");
	assert.equal(count(gw.stderrText(), "info http: upstream taken over provider=up "), 4, "both replicas taken over twice");
	assert.deepEqual((await targets(gw)).map((x) => [x.name, x.up]), [["up#1", true], ["up#2", true]]);
	await shutdown(gw);
});

// --- configuration errors ---------------------------------------------------------------------------

const bad = [
	["urls empty", `urls = {}`, /providers\[1\]\.urls: expected a non-empty list of strings \(at most 256\)/],
	["urls with a non-string", `urls = { "http://127.0.0.1:1/mcp", 5 }`, /providers\[1\]\.urls\[2\]: expected a string/],
	["urls with a bad URL", `urls = { "http://127.0.0.1:1/mcp", "ftp://x/mcp" }`, /providers\[1\]\.urls\[2\]: "ftp:\/\/x\/mcp" must be an http:\/\/ or https:\/\/ URL/],
	["urls a map", `urls = { a = "http://127.0.0.1:1/mcp" }`, /providers\[1\]\.urls: expected a non-empty list of strings \(at most 256\)/],
	["url and urls", `url = "http://127.0.0.1:1/mcp", urls = { "http://127.0.0.1:2/mcp" }`, /providers\[1\]\.urls: give url or urls, not both/],
	["neither url nor urls", ``, /providers\[1\]\.url: missing \(or urls, a list of URLs\)/],
	["replicas with http", `url = "http://127.0.0.1:1/mcp", replicas = 2`, /providers\[1\]\.replicas: the http transport has one replica per URL: list them in urls/],
];
for (const [what, keys, expected] of bad) {
	test(`--check rejects: ${what}`, () => {
		const cfg = writeConfig(`return { providers = { { name = "up", transport = "http", ${keys} } } }\n`);
		const r = spawnSync(mcpfedBin(), ["--check", "-c", cfg], { encoding: "utf8", timeout: 10000 });
		assert.equal(r.status, 1, r.stderr);
		assert.match(r.stderr, /mcpfed: config error: /, r.stderr);
		assert.match(r.stderr, expected, r.stderr);
	});
}
