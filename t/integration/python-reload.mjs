// Reloads of Python tools (plugins/python): `reload PROVIDER` starts a new pool on the
// module's current source beside the old one, moves new calls to it once it has listed its
// tools and drains the old, with no call failing under load; a module with a syntax error
// or an import failure is refused with its traceback, the old pool serving on; `reload
// python` swaps the plugin's code with its workers and calls in flight handed over.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/python-reload.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { admin, call, closeAfter, logTail, luaConfig, scratchDir, startStdio, waitFor } from "../lib/harness.mjs";
import { pyReady } from "../lib/python.mjs";

const source = (version, extra = "") => `from mcpfed_worker import tool
import asyncio, os

VERSION = ${version}

@tool
def ver() -> int:
    "The module's version."
    return VERSION

@tool
def pid() -> int:
    "The worker's process id."
    return os.getpid()

@tool
async def slowver(seconds: float) -> int:
    "The module's version, after a nap."
    await asyncio.sleep(seconds)
    return VERSION
${extra}`;

function start(t, extra = {}) {
	const dir = scratchDir();
	const module = path.join(dir, `mod${Math.random().toString(36).slice(2, 8)}.py`);
	fs.writeFileSync(module, source(1));
	const sock = path.join(dir, `admin${Math.random().toString(36).slice(2, 8)}.sock`);
	const gw = closeAfter(t, startStdio({ config: luaConfig({ log_level: "info", admin: sock, providers: [{ name: "py", transport: "python", module, workers: 2, ...extra }] }) }));
	return { gw, module, sock };
}
const value = (r) => r.result?.structuredContent?.result;

test("reload py under load: a new pool on the current source, zero failed calls, the old pool drained", async (t) => {
	const { gw, module, sock } = start(t);
	await gw.initialize();
	await pyReady(gw);
	let stop = false, reloadedAt = Infinity;
	const results = [];
	const loader = async () => {
		while (!stop) {
			const sent = Date.now();
			const r = await call(gw, "py__ver", {}, { timeout: 10000 });
			results.push({ sent, r });
		}
	};
	const loaders = Array.from({ length: 6 }, loader);
	await waitFor(() => results.length >= 30, { timeout: 5000, what: "calls under way" });
	fs.writeFileSync(module, source(2, `
@tool
def added() -> str:
    "A tool of version 2."
    return "new"
`));
	const rep = await admin(sock, "reload py", { timeout: 15000 });
	reloadedAt = Date.now();
	assert.equal(rep.code, 200, JSON.stringify(rep));
	assert.equal(rep.body.generation, 2);
	assert.ok(rep.body.tools.includes("added"), JSON.stringify(rep.body));
	const countAt = results.length;
	await waitFor(() => results.length >= countAt + 30, { timeout: 5000, what: "calls after the reload" });
	stop = true;
	await Promise.all(loaders);

	const failed = results.filter(({ r }) => value(r) === undefined);
	assert.equal(failed.length, 0, `failed calls: ${JSON.stringify(failed.slice(0, 3))}`);
	const versions = new Set(results.map(({ r }) => value(r)));
	assert.deepEqual([...versions].sort(), [1, 2], "both pools served");
	const late = results.filter(({ sent }) => sent > reloadedAt);
	assert.ok(late.length > 0 && late.every(({ r }) => value(r) === 2), "calls after the switch go to the new pool");
	await waitFor(() => /old pool drained; stopping it provider=py generation=1/.test(gw.stderrText()),
		{ timeout: 5000, what: `the old pool drained${logTail(gw.stderrText())}` });
	// the new tool is listed (the kernel lists again on the provider's list_changed)
	await waitFor(async () => (await gw.request("tools/list")).result.tools.some((x) => x.name === "py__added"),
		{ timeout: 5000, what: "the new tool listed" });
	assert.equal(value(await call(gw, "py__added")), undefined);
	assert.equal((await call(gw, "py__added")).result.content[0].text, "new");
});

test("a broken module is refused with its traceback; the old pool serves on", async (t) => {
	const { gw, module, sock } = start(t);
	await gw.initialize();
	await pyReady(gw);
	const pids = new Set();
	for (let i = 0; i < 4; i++) pids.add(value(await call(gw, "py__pid")));

	fs.writeFileSync(module, source(2, "\ndef broken(:\n    pass\n"));
	let rep = await admin(sock, "reload py", { timeout: 15000 });
	assert.equal(rep.code, 409, JSON.stringify(rep));
	assert.match(rep.body.error, /the module was refused; the old pool keeps serving/);
	assert.match(rep.body.reason, /^SyntaxError: /);
	assert.match(rep.body.traceback, /Traceback \(most recent call last\)/);
	assert.match(rep.body.traceback, /SyntaxError/);
	assert.equal(value(await call(gw, "py__ver")), 1);

	fs.writeFileSync(module, source(3, "\nraise RuntimeError('the database is not configured')\n"));
	rep = await admin(sock, "reload py", { timeout: 15000 });
	assert.equal(rep.code, 409, JSON.stringify(rep));
	assert.equal(rep.body.reason, "RuntimeError: the database is not configured");
	assert.match(rep.body.traceback, /raise RuntimeError\('the database is not configured'\)/);

	for (let i = 0; i < 4; i++) {
		assert.equal(value(await call(gw, "py__ver")), 1, "the old pool serves");
		assert.ok(pids.has(value(await call(gw, "py__pid"))), "with its own workers");
	}
	// and a good module is taken after the refusals
	fs.writeFileSync(module, source(4));
	rep = await admin(sock, "reload py", { timeout: 15000 });
	assert.equal(rep.code, 200, JSON.stringify(rep));
	assert.equal(value(await call(gw, "py__ver")), 4);
	// a name that is neither a plugin nor a provider
	rep = await admin(sock, "reload nosuch");
	assert.equal(rep.code, 404, JSON.stringify(rep));
});

test("reload python: the plugin's code is swapped, the workers and a call in flight handed over", async (t) => {
	const { gw, sock } = start(t, { workers: 1 });
	await gw.initialize();
	await pyReady(gw);
	const before = value(await call(gw, "py__pid"));
	const slow = call(gw, "py__slowver", { seconds: 0.6 }, { timeout: 8000 });
	await waitFor(async () => (await admin(sock, "status")).body.calls_in_flight === 1, { timeout: 5000, what: "the call in flight" });
	const rep = await admin(sock, "reload python", { timeout: 10000 });
	assert.equal(rep.code, 200, JSON.stringify(rep));
	assert.equal(rep.body.outcome, "swapped", JSON.stringify(rep.body));
	assert.equal(value(await slow), 1, "the call in flight is answered");
	assert.equal(value(await call(gw, "py__pid")), before, "the same worker, not restarted");
	await waitFor(() => /info swap: old generation drained instance="provider py"/.test(gw.stderrText()),
		{ timeout: 5000, what: `the old generation drained${logTail(gw.stderrText())}` });
	// the new generation reloads the module too
	const again = await admin(sock, "reload py", { timeout: 15000 });
	assert.equal(again.code, 200, JSON.stringify(again));
	assert.equal(value(await call(gw, "py__ver")), 1);
});
