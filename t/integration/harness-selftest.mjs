// Checks t/lib/harness.mjs against t/servers/faulty.mjs directly, without mcpfed.
// Run: t/node t/integration/harness-selftest.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import {
	childPids, isJsonRpcLine, nodeBin, serverPath, startProcess, startStdio, textOf, waitFor,
} from "../lib/harness.mjs";

const startFaulty = (env = {}) => startProcess([nodeBin(), serverPath("faulty.mjs")], env);

test("initialize, list, echo, die", async () => {
	const gw = startFaulty();
	const init = await gw.initialize();
	assert.equal(init.serverInfo.name, "faulty", gw.stderrText());
	assert.ok(init.capabilities.tools, "tools capability");

	const list = await gw.request("tools/list", {});
	const names = list.result.tools.map((t) => t.name);
	for (const n of ["echo", "sleep", "die", "hang", "pid", "add_tool", "crash_after"]) assert.ok(names.includes(n), n);

	const echo = await gw.request("tools/call", { name: "echo", arguments: { text: "hi\nthere" } });
	assert.equal(textOf(echo), "hi\nthere");
	assert.equal(textOf(await gw.request("tools/call", { name: "pid", arguments: {} })), String(gw.pid));
	assert.ok(childPids(process.pid).includes(gw.pid), "childPids sees the server");

	await assert.rejects(gw.request("tools/call", { name: "die", arguments: {} }), /stdout .* closed/);
	assert.deepEqual(await gw.waitExit(5000), { code: 3, signal: null });
	assert.ok(gw.stdoutLines.length > 0 && gw.stdoutLines.every(isJsonRpcLine), "only JSON-RPC on stdout");
	await waitFor(() => !childPids(process.pid).includes(gw.pid), { timeout: 2000, what: "server gone from /proc" });
});

test("queued notifications, pagination, name knob", async (t) => {
	const gw = startFaulty({ FAULTY_NAME: "fz", FAULTY_TOOL_COUNT: "5", FAULTY_PAGE_SIZE: "4", FAULTY_ODD_NAMES: "1" });
	t.after(() => gw.close());
	assert.equal((await gw.initialize()).serverInfo.name, "fz");

	const added = await gw.request("tools/call", { name: "add_tool", arguments: { name: "late" } });
	assert.equal(textOf(added), "added late");
	// Sent before the response, so it waits in the queue until asked for.
	const note = await gw.next("notifications/tools/list_changed", { timeout: 2000 });
	assert.equal(note.method, "notifications/tools/list_changed");

	const names = [];
	let cursor;
	do {
		const page = await gw.request("tools/list", cursor ? { cursor } : {});
		assert.ok(page.result.tools.length <= 4);
		names.push(...page.result.tools.map((x) => x.name));
		cursor = page.result.nextCursor;
	} while (cursor);
	assert.equal(names.length, 7 + 5 + 1 + 1);
	assert.ok(names.includes("t0005") && names.includes("bad.name with spaces") && names.includes("late"));
	const bad = await gw.request("tools/list", { cursor: "bogus" });
	assert.equal(bad.error?.code, -32602);
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("cancelled sleep gets no answer; crash_after exits", async () => {
	const gw = startFaulty();
	await gw.initialize();
	gw.send({ jsonrpc: "2.0", id: "s1", method: "tools/call", params: { name: "sleep", arguments: { ms: 3000 } } });
	gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "s1" } });
	assert.ok((await gw.request("ping")).result, "ping answered");
	assert.equal(textOf(await gw.request("tools/call", { name: "crash_after", arguments: {} })), "ok");
	assert.deepEqual(await gw.waitExit(5000), { code: 4, signal: null });
	assert.equal(gw.unconsumed().filter((m) => m.id === "s1").length, 0, "no answer to cancelled call");
});

test("bounded waits fail with a clear message", async (t) => {
	const gw = startFaulty();
	t.after(() => gw.close());
	await gw.initialize();
	await assert.rejects(gw.next("no/such/method", { timeout: 100 }), /timed out after 100 ms waiting for no\/such\/method/);
	await assert.rejects(gw.request("tools/call", { name: "hang", arguments: {} }, { timeout: 100 }),
		/timed out after 100 ms waiting for response to tools\/call/);
	await assert.rejects(waitFor(() => false, { timeout: 50, what: "never" }), /waiting for never/);
});

test("close escalates to SIGKILL; missing binary is reported", async () => {
	const stubborn = startProcess([nodeBin(), "-e", "process.stdin.resume(); setInterval(() => {}, 1000)"]);
	assert.deepEqual(await stubborn.close({ timeout: 200 }), { code: null, signal: "SIGKILL" });

	const saved = process.env.MCPFED_BIN;
	process.env.MCPFED_BIN = "/nonexistent/mcpfed";
	try {
		const missing = startStdio({ config: "/nonexistent.lua" });
		await assert.rejects(missing.initialize(), /cannot run \/nonexistent\/mcpfed --stdio -c \/nonexistent.lua/);
		await assert.rejects(missing.waitExit(1000), /cannot run/);
	} finally {
		if (saved === undefined) delete process.env.MCPFED_BIN;
		else process.env.MCPFED_BIN = saved;
	}
});

test("faulty exits at start on request", async () => {
	const gw = startFaulty({ FAULTY_EXIT_AT_START: "1" });
	assert.deepEqual(await gw.waitExit(5000), { code: 1, signal: null });
});
