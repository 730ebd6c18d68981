// Python workers that fail (plugins/python): a worker that exits mid-call, hangs past the
// call's deadline, leaks memory past max_rss_mb or writes bytes that are no frame is killed
// and restarted by its supervisor, the call getting an error; an idempotent call lost with
// its worker is served by another; restarts beyond the intensity make the pool give up,
// and its calls fail at once; a module that cannot be imported fails the provider with the
// reason.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/python-faults.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { call, closeAfter, logTail, luaConfig, scratchDir, startStdio, textOf, waitFor } from "../lib/harness.mjs";
import { pyProvider, pyReady } from "../lib/python.mjs";

function start(t, extra = {}, top = {}) {
	const gw = startStdio({ config: luaConfig({ log_level: "info", ...top, providers: [pyProvider(extra)] }) });
	return closeAfter(t, gw);
}
const pidOf = async (gw) => (await call(gw, "py__pid")).result.structuredContent.result;

test("a worker that exits mid-call: the call gets an error, the worker is restarted", async (t) => {
	const gw = start(t);
	await gw.initialize();
	await pyReady(gw);
	const before = await pidOf(gw);
	const r = await call(gw, "py__crash", { status: 3 });
	assert.equal(r.error?.code, -32011, JSON.stringify(r));
	assert.match(r.error.message, /worker 0 exited with status 3 while handling the call/);
	const after = await pidOf(gw);   // waits for the restart
	assert.notEqual(after, before);
});

test("an idempotent call lost with its worker is served by another", async (t) => {
	const gw = start(t, { workers: 2 });
	await gw.initialize();
	await pyReady(gw);
	const marker = path.join(scratchDir(), "crash-once");
	const r = await call(gw, "py__crash_once", { marker });
	assert.equal(r.error, undefined, JSON.stringify(r));
	assert.match(textOf(r), /^served by \d+$/);
	assert.ok(fs.existsSync(marker), "the first try did crash");
	assert.match(gw.stderrText(), /child exited child=py#\d pid=\d+ status=4/);
});

test("a worker that hangs past the call's deadline is killed and restarted", async (t) => {
	const gw = start(t, { timeout_ms: 600, cancel_grace_ms: 200 });
	await gw.initialize();
	await pyReady(gw);
	const before = await pidOf(gw);
	const r = await call(gw, "py__hang", {}, { timeout: 5000 });
	assert.equal(r.error?.code, -32001, JSON.stringify(r));
	// the worker serves other calls meanwhile (the hung function holds one thread); it is
	// killed once cancel_grace_ms has passed with no end to the call
	await waitFor(() => /killing a worker provider=py worker=0 pid=\d+ reason="a call ran past its deadline/.test(gw.stderrText()),
		{ timeout: 3000, what: "the hung worker killed" });
	// a new worker serves (a call may time out while it starts: timeout_ms is short here)
	let after;
	await waitFor(async () => {
		after = (await call(gw, "py__pid")).result?.structuredContent?.result;
		return after !== undefined;
	}, { timeout: 5000, what: "a call served after the kill" });
	assert.notEqual(after, before, "a new worker");
});

test("a worker over max_rss_mb is killed; its call says why", async (t) => {
	const gw = start(t, { max_rss_mb: 80, timeout_ms: 20000 });
	await gw.initialize();
	await pyReady(gw);
	const r = await call(gw, "py__leak", { mb_per_step: 10 }, { timeout: 15000 });
	assert.equal(r.error?.code, -32011, JSON.stringify(r));
	assert.match(r.error.message, /was killed: its resident memory \(\d+ MB\) went over max_rss_mb \(80 MB\)/);
	assert.equal((await call(gw, "py__add", { a: 1 })).result.structuredContent.result, 2, "a new worker serves");
});

test("a worker that writes bytes that are no frame is killed and restarted; mcpfed goes on", async (t) => {
	const gw = start(t);
	await gw.initialize();
	await pyReady(gw);
	const r = await call(gw, "py__garbage", {}, { timeout: 5000 });
	assert.equal(r.error?.code, -32011, JSON.stringify(r));
	assert.match(r.error.message, /was killed: it wrote a frame of \d+ bytes, more than max_message_bytes/);
	assert.equal((await call(gw, "py__add", { a: 2 })).result.structuredContent.result, 3);
});

test("restarts within the intensity are made; past it the pool gives up, calls fail at once until the cool-down", async (t) => {
	const restart = { intensity: 2, period_ms: 30000, backoff_min_ms: 10, backoff_max_ms: 20, cooldown_ms: 1500 };
	const gw = start(t, { restart });
	await gw.initialize();
	await pyReady(gw);
	for (let i = 0; i < 2; i++) {
		const r = await call(gw, "py__crash", {});
		assert.equal(r.error?.code, -32011, `crash ${i + 1}: ${JSON.stringify(r)}`);
		assert.equal((await call(gw, "py__add", { a: i })).result.structuredContent.result, i + 1, `restart ${i + 1} serves`);
	}
	const r = await call(gw, "py__crash", {});
	assert.equal(r.error?.code, -32011, JSON.stringify(r));
	const t0 = Date.now();
	const after = await call(gw, "py__add", { a: 1 }, { timeout: 5000 });
	assert.ok(after.error, JSON.stringify(after));
	assert.match(after.error.message, /more than 2 restarts in 30000 ms/, logTail(gw.stderrText()));
	assert.ok(Date.now() - t0 < 1000, "at once, not at a deadline");
	// after the cool-down the pool is back, and a worker lost then is restarted as before
	await waitFor(async () => (await call(gw, "py__add", { a: 5 })).result?.structuredContent?.result === 6,
		{ timeout: 6000, interval: 100, what: "the pool back after its cool-down" });
	assert.equal((await call(gw, "py__crash", {})).error?.code, -32011);
	const again = await call(gw, "py__add", { a: 6 }, { timeout: 5000 });
	assert.equal(again.result?.structuredContent?.result, 7, JSON.stringify(again));
});

test("a module that cannot be imported: the provider fails with the reason; a bad setting is refused", async (t) => {
	const broken = path.join(scratchDir(), "broken_mod.py");
	fs.writeFileSync(broken, "import no_such_module_here\n");
	const gw = start(t, { module: broken, restart: { intensity: 1, backoff_min_ms: 10, backoff_max_ms: 20 } });
	await gw.initialize();
	await waitFor(() => /provider failed provider=py reason="more than 1 restarts in 60000 ms; last: exited with status 1 \(the module: ModuleNotFoundError: No module named 'no_such_module_here'\)"/.test(gw.stderrText()),
		{ timeout: 5000, what: `the provider failed with the module's error${logTail(gw.stderrText())}` });
	assert.match(gw.stderrText(), /worker could not import the module provider=py worker=0 error="ModuleNotFoundError: No module named 'no_such_module_here'"/);

	for (const [extra, re] of [
		[{ module: "/nonexistent/x.py" }, /providers\[1\]\.module: cannot read/],
		[{ workers: 0 }, /providers\[1\]\.workers/],
		[{ restart: { strategy: "simple_one_for_one" } }, /simple_one_for_one is not for it/],
		[{ bogus: 1 }, /bogus/],
	]) {
		const bad = startStdio({ config: luaConfig({ providers: [pyProvider(extra)] }) });
		const st = await bad.waitExit(5000);
		assert.notEqual(st.code, 0);
		assert.match(bad.stderrText(), re, logTail(bad.stderrText()));
	}
});
