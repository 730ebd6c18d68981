// `reload config` on the admin socket with real upstream processes (t/servers/faulty.mjs):
// the configuration file is rewritten in place and read again while the gateway serves. A
// provider added (its tools appear, sessions hear list_changed), removed (its tools go at
// once, its call in flight still completes, its process ends), changed under a steady load
// (not one call fails, its process is replaced, the others' are not, an untouched
// provider's statistics stay), removed and added back while it drains, configurations
// refused whole (Lua syntax, unknown key, bad value, unknown plugin, a plugin refusing its
// settings, a broken policy) with everything working as before, the top-level settings
// (restart_needed for listen, log_level and page_size live, breakers through the providers
// they change), and a shutdown while a reload waits or a provider drains.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/reload-config.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
	admin, closeAfter, call, faulty, faultyAfter, logTail, lua, luaConfig, scratchDir, startStdio, startTime,
	textOf, waitFor,
} from "../lib/harness.mjs";

const log = (gw) => gw.stderrText();
const tail = (gw) => logTail(log(gw), 4000);
// The log reaches us on its own pipe, after answers that came later: wait (bounded) for a line.
const logged = (gw, re, timeout = 5000) =>
	waitFor(() => re.test(log(gw)), { timeout, what: `${re} in the log${tail(gw)}` });

// mcpfed --stdio on a configuration file of its own with an admin socket; gw.write(top)
// rewrites that file in place (the admin socket stays the same). After the test it is
// closed and whatever it started is killed.
function start(t, top) {
	const sock = path.join(scratchDir(), "admin.sock");
	const base = { log_level: "info", admin: sock };
	const file = luaConfig({ ...base, ...top });
	const gw = startStdio({ config: file });
	gw.sock = sock;
	gw.file = file;
	gw.write = (next) => fs.writeFileSync(file, `return ${lua({ ...base, ...next })}\n`);
	gw.writeText = (text) => fs.writeFileSync(file, text);
	return closeAfter(t, gw);
}

async function adminOk(gw, command) {
	const r = await admin(gw.sock, command);
	assert.equal(r.code, 200, `admin ${command}: ${JSON.stringify(r)}${tail(gw)}`);
	return r.body;
}
// The reload waits (at most catalog_wait_ms) for the providers it starts to list their tools.
const reload = (gw) => admin(gw.sock, "reload config", { timeout: 20000 });
async function reloadOk(gw) {
	const r = await reload(gw);
	assert.equal(r.code, 200, `reload config: ${JSON.stringify(r)}${tail(gw)}`);
	return r.body;
}
const sorted = (a) => [...a].sort();
function assertProviders(report, { added = [], removed = [], changed = [], unchanged = [] }) {
	assert.deepEqual(
		Object.fromEntries(Object.entries(report.providers).map(([k, v]) => [k, sorted(v)])),
		{ added: sorted(added), removed: sorted(removed), changed: sorted(changed), unchanged: sorted(unchanged) },
		`the report: ${JSON.stringify(report)}`);
}

const toolNames = async (gw) => {
	const res = await gw.request("tools/list", {});
	assert.ok(res.result, `tools/list: ${JSON.stringify(res)}`);
	return res.result.tools.map((x) => x.name);
};
async function pidOf(gw, provider) {
	const res = await call(gw, `${provider}__pid`);
	assert.ok(res.result && !res.result.isError, `${provider}__pid: ${JSON.stringify(res)}${tail(gw)}`);
	return Number(textOf(res));
}
async function echoOk(gw, tool, text = "hi") {
	const res = await call(gw, tool, { text });
	assert.equal(textOf(res), text, `${tool}: ${JSON.stringify(res)}${tail(gw)}`);
}
const target = async (gw, name) => {
	const x = (await adminOk(gw, "targets")).targets.find((y) => y.name === name);
	assert.ok(x, `target ${name} in admin targets${tail(gw)}`);
	return x;
};
const gone = (gw, pid, what) =>
	waitFor(() => startTime(pid) === null, { timeout: 10000, what: `${what} (pid ${pid}) to exit${tail(gw)}` });

test("a provider added: it starts, its tools join the catalog, sessions hear list_changed, calls work", async (t) => {
	const gw = start(t, { providers: [faulty("a")] });
	await gw.initialize();
	const aPid = await pidOf(gw, "a");
	assert.ok(!(await toolNames(gw)).includes("b__echo"));

	gw.write({ providers: [faulty("a"), faulty("b")] });
	const report = await reloadOk(gw);
	assertProviders(report, { added: ["b"], unchanged: ["a"] });
	assert.deepEqual(report.not_ready, [], "b listed its tools before the switch");
	assert.deepEqual(report.restart_needed, []);
	assert.equal(typeof report.ms, "number");

	await gw.next("notifications/tools/list_changed", { what: `tools/list_changed after the reload${tail(gw)}` });
	const names = await toolNames(gw);
	assert.ok(names.includes("b__echo") && names.includes("a__echo"), `both providers' tools: ${names}`);
	await echoOk(gw, "b__echo", "from b");
	const bPid = await pidOf(gw, "b");
	assert.notEqual(bPid, aPid);
	assert.equal(await pidOf(gw, "a"), aPid, "a runs on, the same process");
	assert.deepEqual((await adminOk(gw, "providers")).providers.map((p) => p.name), ["a", "b"]);
	await logged(gw, /info reconfig: configuration applied added=1 removed=0 changed=0 unchanged=1 /);
});

test("a provider removed: its tools go at once, its call in flight completes, its process ends", async (t) => {
	const gw = start(t, { providers: [faulty("a"), faulty("b")] });
	await gw.initialize();
	const bPid = await pidOf(gw, "b");
	const aPid = await pidOf(gw, "a");

	const inFlight = call(gw, "b__sleep", { ms: 1500 }, { timeout: 15000 });
	await waitFor(async () => (await target(gw, "b#1")).inflight === 1, { what: `b's call in flight${tail(gw)}` });

	gw.write({ providers: [faulty("a")] });
	const report = await reloadOk(gw);
	assertProviders(report, { removed: ["b"], unchanged: ["a"] });

	await gw.next("notifications/tools/list_changed", { what: `tools/list_changed after the reload${tail(gw)}` });
	const names = await toolNames(gw);
	assert.ok(!names.some((n) => n.startsWith("b__")), `no tool of b is listed: ${names}`);
	const late = await call(gw, "b__echo", { text: "x" });
	assert.equal(late.error?.code, -32602, `a new call to b: ${JSON.stringify(late)}`);
	assert.match(late.error.message, /Unknown tool: b__echo/);
	assert.equal(startTime(bPid) !== null, true, "b runs while its call is in flight");

	const res = await inFlight;
	assert.equal(textOf(res), "slept 1500", `the call in flight at the reload completes: ${JSON.stringify(res)}${tail(gw)}`);
	await gone(gw, bPid, "b's process");
	await logged(gw, /info registry: provider drained provider=b/);
	assert.equal(await pidOf(gw, "a"), aPid, "a runs on, the same process");
	assert.deepEqual((await adminOk(gw, "providers")).providers.map((p) => p.name), ["a"]);
	assert.ok(!(await adminOk(gw, "targets")).targets.some((x) => x.provider === "b"), "b's target is gone");
});

test("a provider changed under load: no call fails, its process is replaced, the others' are not", async (t) => {
	// echo takes 20 ms, so calls are in flight on the old process when the new one takes over
	const a = (name) => faulty("a", { env: { FAULTY_NAME: name, FAULTY_SLOW_MS: "20" } });
	const gw = start(t, { providers: [a("first"), faulty("c")] });
	await gw.initialize();
	const aPid = await pidOf(gw, "a");
	const cPid = await pidOf(gw, "c");
	for (let i = 0; i < 3; i++) await echoOk(gw, "c__echo");
	const cBefore = await target(gw, "c#1");

	const results = [];
	let stop = false;
	const worker = async (w) => {
		for (let i = 0; !stop; i++) {
			const text = `w${w}-${i}`;
			results.push({ text, res: await call(gw, "a__echo", { text }, { timeout: 15000 }) });
		}
	};
	const workers = Array.from({ length: 6 }, (_, w) => worker(w));
	let report;
	try {
		await waitFor(() => results.length >= 30, { timeout: 10000, what: `calls under way${tail(gw)}` });
		gw.write({ providers: [a("second"), faulty("c")] });
		report = await reloadOk(gw);
		const atSwitch = results.length;
		// the load goes on past the switch, until the new process has answered some calls
		await waitFor(() => results.length >= atSwitch + 60, { timeout: 10000, what: `calls after the reload${tail(gw)}` });
	} finally {
		stop = true;
		await Promise.all(workers);
	}
	assertProviders(report, { changed: ["a"], unchanged: ["c"] });
	const failed = results.filter((r) => textOf(r.res) !== r.text);
	assert.deepEqual(failed.slice(0, 5).map((r) => r.res), [], `${failed.length} of ${results.length} calls failed${tail(gw)}`);
	t.diagnostic(`${results.length} calls, none failed`);

	const aNew = await pidOf(gw, "a");
	assert.notEqual(aNew, aPid, "a runs on a new process");
	await gone(gw, aPid, "a's old process");
	await logged(gw, /info registry: provider drained provider=a/);
	const cAfter = await target(gw, "c#1");
	for (const k of ["calls", "failures", "latency_ms", "p99_ms", "error_rate", "breaker"])
		assert.deepEqual(cAfter[k], cBefore[k], `c#1 ${k} unchanged by the reload`);
	assert.equal(await pidOf(gw, "c"), cPid, "c runs on, the same process");
	const aTarget = await target(gw, "a#1");
	assert.ok(aTarget.calls < results.length, "a#1 is a new target, counting from the switch");
	await logged(gw, /info stdio: upstream ready provider=a replica=0 pid=\d+ .*server="second"/);
});

test("a configuration with an error is refused whole (409 naming file, key and reason); nothing changes", async (t) => {
	const policyDir = scratchDir();
	const brokenPolicy = path.join(policyDir, "broken.lua");
	fs.writeFileSync(brokenPolicy, "return { route = function(r, c) return { c[1].id } end\n");   // no closing brace
	const good = { providers: [faulty("a")] };
	const gw = start(t, good);
	await gw.initialize();
	const aPid = await pidOf(gw, "a");
	const processes = (await adminOk(gw, "status")).processes;

	const cases = [
		["a Lua syntax error", () => gw.writeText("return { providers = { \n"), /config\.lua:\d+: .*expected/],
		["an unknown key", () => gw.write({ ...good, catalog_waitms: 10 }), /config\.lua: catalog_waitms: unknown key/],
		["a bad value", () => gw.write({ ...good, page_size: "ten" }), /config\.lua: page_size: expected an integer/],
		["a bad provider value", () => gw.write({ providers: [faulty("a"), faulty("b", { weight: 0 })] }),
			/config\.lua: providers\[2\]\.weight: expected a number above 0/],
		["an unknown transport plugin", () => gw.write({ providers: [faulty("a"), faulty("b"), { name: "x", transport: "nosuch" }] }),
			/config\.lua: providers\[3\]\.transport: .*nosuch/],
		["settings its plugin refuses", () => gw.write({ providers: [faulty("a"), faulty("b"), { name: "y", transport: "stdio" }] }),
			/config\.lua: providers\[3\]\.command: missing/],
		["a policy that fails to load", () => gw.write({ ...good, policy: brokenPolicy }), /config\.lua: policy .*broken\.lua/],
	];
	for (const [what, write, reason] of cases) {
		write();
		const r = await reload(gw);
		assert.equal(r.code, 409, `${what}: ${JSON.stringify(r)}${tail(gw)}`);
		assert.equal(r.body.error, "the configuration was refused; nothing changed");
		assert.equal(r.body.file, fs.realpathSync(gw.file));
		assert.match(r.body.reason, reason, what);
		// everything as before: the providers, their processes, the catalog, calls
		assert.deepEqual((await adminOk(gw, "providers")).providers.map((p) => p.name), ["a"], what);
		assert.equal(await pidOf(gw, "a"), aPid, what);
		await echoOk(gw, "a__echo", what);
		assert.ok(!(await toolNames(gw)).some((n) => !n.startsWith("a__")), what);
		assert.equal((await adminOk(gw, "status")).processes, processes, `${what}: no process was started`);
	}
	await logged(gw, /warn reconfig: configuration refused; nothing changed reason=".*nosuch/);
	// nothing was left behind: the same file, fixed, applies
	gw.write({ providers: [faulty("a"), faulty("b")] });
	assertProviders(await reloadOk(gw), { added: ["b"], unchanged: ["a"] });
	await echoOk(gw, "b__echo");
	assert.equal(await pidOf(gw, "a"), aPid);
	const plugins = (await adminOk(gw, "plugins")).plugins.map((p) => p.name);
	assert.ok(!plugins.includes("nosuch"), `no plugin left loaded by a refused configuration: ${plugins}`);
});

test("top-level settings: a changed listen takes a restart (restart_needed), log_level and page_size apply live", async (t) => {
	const top = { page_size: 500, providers: [faulty("a", { env: { FAULTY_TOOL_COUNT: "5" } })] };
	const gw = start(t, top);
	await gw.initialize();
	const aPid = await pidOf(gw, "a");
	const all = await toolNames(gw);
	assert.ok(all.length > 5, `a lists its tools: ${all}`);
	gw.send({ jsonrpc: "2.0", method: "notifications/before_reload" });   // ignored, logged at debug only

	gw.write({ ...top, log_level: "debug", page_size: 2, listen: ["http://127.0.0.1:0/mcp"] });
	const report = await reloadOk(gw);
	assertProviders(report, { unchanged: ["a"] });
	assert.deepEqual(report.restart_needed, ["listen"]);
	assert.deepEqual(sorted(report.applied), ["log_level", "page_size"]);
	await logged(gw, /warn reconfig: setting changed; it takes a restart, the running value stays key=listen/);

	// page_size: lists come in pages of two now, the same items
	const first = await gw.request("tools/list", {});
	assert.equal(first.result.tools.length, 2, JSON.stringify(first));
	assert.ok(first.result.nextCursor, "a next page");
	const pages = [first.result.tools];
	for (let cursor = first.result.nextCursor; cursor; ) {
		const r = await gw.request("tools/list", { cursor });
		pages.push(r.result.tools);
		cursor = r.result.nextCursor;
	}
	assert.deepEqual(pages.flat().map((x) => x.name), all);
	// log_level: what is logged at debug shows now, and did not before
	gw.send({ jsonrpc: "2.0", method: "notifications/after_reload" });
	await logged(gw, /debug session: notification ignored method=notifications\/after_reload/);
	assert.doesNotMatch(log(gw), /notifications\/before_reload/);
	// listen was not applied: no listener started
	assert.doesNotMatch(log(gw), /http: listening/);
	assert.equal(await pidOf(gw, "a"), aPid);

	// the file still differs from what runs: the next reload says so again, and applies nothing
	const again = await reloadOk(gw);
	assert.deepEqual(again.restart_needed, ["listen"]);
	assert.deepEqual(again.applied, []);
	assertProviders(again, { unchanged: ["a"] });
});

test("a provider removed and added back while it drains: the old one finishes its call, the new one serves", async (t) => {
	const gw = start(t, { providers: [faulty("a"), faulty("b")] });
	await gw.initialize();
	const oldPid = await pidOf(gw, "b");
	// long enough to outlast two reloads, each of which starts an upstream process
	const inFlight = call(gw, "b__sleep", { ms: 8000 }, { timeout: 20000 });
	await waitFor(async () => (await target(gw, "b#1")).inflight === 1, { what: `b's call in flight${tail(gw)}` });

	gw.write({ providers: [faulty("a")] });
	assertProviders(await reloadOk(gw), { removed: ["b"], unchanged: ["a"] });
	const { leaving } = await adminOk(gw, "providers");
	assert.deepEqual(leaving, [{ name: "b", calls: 1, stopping: false }]);

	gw.write({ providers: [faulty("a"), faulty("b")] });
	assertProviders(await reloadOk(gw), { added: ["b"], unchanged: ["a"] });
	const newPid = await pidOf(gw, "b");
	assert.notEqual(newPid, oldPid, "the new b is a process of its own");
	await echoOk(gw, "b__echo", "new b");
	assert.equal(startTime(oldPid) !== null, true, "the old b still runs its call");

	assert.equal(textOf(await inFlight), "slept 8000", "the old b's call completes");
	await gone(gw, oldPid, "the old b's process");
	await waitFor(async () => (await adminOk(gw, "providers")).leaving.length === 0, { what: `nothing leaving${tail(gw)}` });
	assert.equal(await pidOf(gw, "b"), newPid);
});

test("breaker defaults apply through the providers they change: turned on, those providers restart with breakers", async (t) => {
	const gw = start(t, { breaker: false, providers: [faulty("a"), faulty("c", { breaker: false })] });
	await gw.initialize();
	const aPid = await pidOf(gw, "a");
	const cPid = await pidOf(gw, "c");
	assert.equal((await target(gw, "a#1")).breaker, "none");

	gw.write({ breaker: { minimum_calls: 5 }, providers: [faulty("a"), faulty("c", { breaker: false })] });
	const report = await reloadOk(gw);
	assertProviders(report, { changed: ["a"], unchanged: ["c"] });
	assert.deepEqual(report.applied, ["breaker"]);
	assert.equal((await target(gw, "a#1")).breaker, "closed");
	assert.equal((await target(gw, "c#1")).breaker, "none", "c's own breaker = false stays");
	assert.notEqual(await pidOf(gw, "a"), aPid);
	assert.equal(await pidOf(gw, "c"), cPid);
	await gone(gw, aPid, "a's old process");
});

test("a drain is bounded by drain_timeout_ms: the provider is stopped, its call left answered with an error", async (t) => {
	const top = { drain_timeout_ms: 300, providers: [faulty("a"), faulty("b")] };
	const gw = start(t, top);
	await gw.initialize();
	const bPid = await pidOf(gw, "b");
	const inFlight = call(gw, "b__sleep", { ms: 60000 }, { timeout: 30000 });
	await waitFor(async () => (await target(gw, "b#1")).inflight === 1, { what: `b's call in flight${tail(gw)}` });
	gw.write({ ...top, providers: [faulty("a")] });
	assertProviders(await reloadOk(gw), { removed: ["b"], unchanged: ["a"] });
	const res = await inFlight;
	assert.equal(res.error?.code, -32015, `the call outliving the drain: ${JSON.stringify(res)}`);
	assert.match(res.error.message, /provider b is shutting down/);
	await gone(gw, bPid, "b's process");
	await logged(gw, /warn registry: drain deadline passed; stopping the provider provider=b calls=1/);
	await echoOk(gw, "a__echo");
});

test("shutdown while a provider drains: the gateway ends in order, its process too", async (t) => {
	const gw = start(t, { providers: [faulty("a"), faulty("b")] });
	await gw.initialize();
	const bPid = await pidOf(gw, "b");
	const inFlight = call(gw, "b__sleep", { ms: 60000 }, { timeout: 30000 }).catch((e) => e);
	await waitFor(async () => (await target(gw, "b#1")).inflight === 1, { what: `b's call in flight${tail(gw)}` });
	gw.write({ providers: [faulty("a")] });
	assertProviders(await reloadOk(gw), { removed: ["b"], unchanged: ["a"] });

	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(15000), { code: 0, signal: null }, tail(gw));
	await inFlight;   // a client of a gateway shutting down gets no answer
	await gone(gw, bPid, "b's process");
	await logged(gw, /info kernel: stopped/);
});

test("shutdown while a reload waits for a provider to come up: the reload is answered 409, nothing is left", async (t) => {
	const gw = start(t, { providers: [faulty("a")] });
	await gw.initialize();
	gw.write({ catalog_wait_ms: 60000, providers: [faulty("a"), faultyAfter("s", "sleep 30;")] });
	const pending = reload(gw);
	await logged(gw, /info supervisor: child started child=s pid=\d+/);
	const sPid = Number(/child started child=s pid=(\d+)/.exec(log(gw))[1]);
	gw.kill("SIGTERM");
	const r = await pending;
	assert.equal(r.code, 409, JSON.stringify(r));
	assert.match(r.body.error, /shutting down; the configuration was not applied/);
	assert.deepEqual(await gw.waitExit(15000), { code: 0, signal: null }, tail(gw));
	await logged(gw, /info kernel: stopped/);
	await gone(gw, sPid, "the process of the provider the reload started");
});
