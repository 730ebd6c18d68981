// Python tools (plugins/python, sdk/python/mcpfed_worker.py) through the real gateway on
// stdio, with real worker processes: tools listed with their schemas; text, JSON, image and
// mixed results; a tool that raises is a tool error; progress reaches the client;
// cancellation reaches the function (in a thread and on asyncio); calls to a batch tool
// arriving together are served in fewer invocations, each caller getting its own result;
// one worker serves several calls at once.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/python-tools.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { call, closeAfter, luaConfig, scratchDir, serverPath, startStdio, textOf, waitFor } from "../lib/harness.mjs";
import { pyProvider, pyReady } from "../lib/python.mjs";

function start(t, extra = {}) {
	const gw = startStdio({ config: luaConfig({ log_level: "info", providers: [pyProvider(extra)] }) });
	return closeAfter(t, gw);
}

test("python tools: listed with schemas from type hints or given; results of every kind; errors", async (t) => {
	const gw = start(t, { workers: 2 });
	await gw.initialize();
	const tools = await pyReady(gw);
	const add = tools.find((x) => x.name === "py__add");
	assert.deepEqual(add.inputSchema, { type: "object", properties: { a: { type: "number" }, b: { type: "number", default: 1 } }, required: ["a"] });
	assert.equal(add.description, "a + b");
	assert.deepEqual(tools.find((x) => x.name === "py__boom").inputSchema.required, ["message"]);
	assert.deepEqual(tools.find((x) => x.name === "py__crash_once").annotations, { idempotentHint: true });
	assert.ok(!("ctx" in tools.find((x) => x.name === "py__count").inputSchema.properties), "ctx is no argument");

	let r = await call(gw, "py__add", { a: 2, b: 0.5 });
	assert.deepEqual(r.result.structuredContent, { result: 2.5 });
	assert.equal(textOf(r), "2.5");
	r = await call(gw, "py__text", { s: "héllo\nworld" });
	assert.deepEqual(r.result, { content: [{ type: "text", text: "héllo\nworld" }] });
	r = await call(gw, "py__picture");
	assert.equal(r.result.content[0].type, "image");
	assert.equal(r.result.content[0].mimeType, "image/png");
	assert.equal(Buffer.from(r.result.content[0].data, "base64").subarray(1, 4).toString(), "PNG");
	r = await call(gw, "py__mixed");
	assert.deepEqual(r.result, { content: [{ type: "text", text: "one" }, { type: "text", text: "two" }], structuredContent: { n: 2 } });

	// a tool that raises: its message as a tool error, and the worker serves on
	r = await call(gw, "py__boom", { message: "the input is wrong" });
	assert.equal(r.error, undefined, JSON.stringify(r));
	assert.equal(r.result.isError, true);
	assert.equal(textOf(r), "the input is wrong");
	r = await call(gw, "py__add", { b: 1 });
	assert.equal(r.result.isError, true, "a missing argument is the tool's error");
	assert.match(textOf(r), /missing 1 required positional argument: 'a'/);
	assert.deepEqual((await call(gw, "py__add", { a: 1 })).result.structuredContent, { result: 2 });
	// malformed calls are JSON-RPC errors
	const bad = await gw.request("tools/call", { name: "py__add", arguments: [1] });
	assert.ok(bad.error, JSON.stringify(bad));
});

test("python tools: progress reaches the client as notifications/progress", async (t) => {
	const gw = start(t);
	await gw.initialize();
	await pyReady(gw);
	const r = await gw.request("tools/call", { name: "py__count", arguments: { n: 3 }, _meta: { progressToken: "tok-1" } });
	assert.deepEqual(r.result.structuredContent, { result: 3 });
	const notes = [];
	for (let i = 0; i < 3; i++) notes.push(await gw.next((m) => m.method === "notifications/progress", { timeout: 2000 }));
	assert.deepEqual(notes.map((n) => [n.params.progressToken, n.params.progress, n.params.total, n.params.message]),
		[["tok-1", 1, 3, "step 1"], ["tok-1", 2, 3, "step 2"], ["tok-1", 3, 3, "step 3"]]);
});

for (const [toolName, kind] of [["py__wait_cancel", "a thread"], ["py__await_cancel", "asyncio"]]) {
	test(`python tools: a cancelled call reaches the function (${kind}) and gets no answer`, async (t) => {
		const gw = start(t);
		await gw.initialize();
		await pyReady(gw);
		const marker = path.join(scratchDir(), `cancel-${kind.replace(/\W/g, "")}`);
		gw.send({ jsonrpc: "2.0", id: "long", method: "tools/call", params: { name: toolName, arguments: { marker }, _meta: { progressToken: 7 } } });
		await gw.next((m) => m.method === "notifications/progress", { timeout: 5000, what: "the tool running" });
		gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "long" } });
		await waitFor(() => fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === "cancelled", { timeout: 5000, what: "the function saw its cancellation" });
		// the worker is still the same and serves on
		assert.deepEqual((await call(gw, "py__add", { a: 1, b: 2 })).result.structuredContent, { result: 3 });
		assert.equal(gw.unconsumed().filter((m) => m.id === "long").length, 0, "no answer to the cancelled call");
	});
}

test("python tools: one worker serves several calls at once", async (t) => {
	const gw = start(t, { workers: 1 });
	await gw.initialize();
	await pyReady(gw);
	const t0 = Date.now();
	const rs = await Promise.all(Array.from({ length: 8 }, () => call(gw, "py__nap", { seconds: 0.5 })));
	assert.ok(rs.every((r) => r.result?.structuredContent?.result === 0.5), JSON.stringify(rs[0]));
	assert.ok(Date.now() - t0 < 2500, `8 naps of 0.5 s took ${Date.now() - t0} ms on one worker`);
});

test("python tools: calls to a batch tool arriving together go to the worker as one batch", async (t) => {
	const gw = start(t, { workers: 1, batch_window_ms: 50, batch_max: 16 });
	await gw.initialize();
	await pyReady(gw);
	const n = 40;
	const rs = await Promise.all(Array.from({ length: n }, (_, i) => call(gw, "py__square", { x: i === 5 ? -1 : i })));
	const invocations = new Set();
	rs.forEach((r, i) => {
		if (i === 5) {
			assert.equal(r.result.isError, true, "an item's own error");
			assert.equal(textOf(r), "negative: -1");
			return;
		}
		assert.equal(r.result.structuredContent.y, i * i, `caller ${i} gets its own result`);
		assert.ok(r.result.structuredContent.size <= 16, "batch_max bounds a batch");
		invocations.add(r.result.structuredContent.invocation);
	});
	assert.ok(invocations.size < n / 4, `${n} calls in ${invocations.size} invocations`);
	assert.ok(invocations.size >= Math.ceil(n / 16), `${invocations.size} invocations for batches of at most 16`);
});

test("the example modules: the standard library's tools and NumPy's batch tool", async (t) => {
	const examples = path.resolve(serverPath("."), "..", "..", "etc", "examples");
	const gw = closeAfter(t, startStdio({ config: luaConfig({ log_level: "info", providers: [
		{ name: "std", transport: "python", module: path.join(examples, "tools.py") },
		{ name: "vec", transport: "python", module: path.join(examples, "vectors.py"), batch_window_ms: 20 },
	] }) }));
	await gw.initialize();
	await pyReady(gw, "std__");
	await pyReady(gw, "vec__");
	const sc = async (name, args) => {
		const r = await call(gw, name, args);
		assert.equal(r.result?.isError, undefined, JSON.stringify(r));
		return r.result.structuredContent;
	};
	assert.deepEqual(await sc("std__stats", { numbers: [4, 1, 3, 2] }), { count: 4, sum: 10, min: 1, max: 4, mean: 2.5, median: 2.5, stdev: 1.118033988749895, quartiles: [1.25, 2.5, 3.75] });
	assert.equal(textOf(await call(gw, "std__diff", { a: "x\ny\n", b: "x\nz\n" })), "--- a\n+++ b\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n");
	assert.deepEqual(await sc("std__date_add", { date: "2024-02-28", days: 2 }), { date: "2024-03-01", weekday: "Friday" });
	assert.deepEqual(await sc("std__date_diff", { start: "2026-12-01", end: "2026-12-25" }), { days: 24, weeks: 24 / 7, weekdays: 18 });
	assert.deepEqual((await sc("std__json_query", { document: '{"a":[{"b":1},{"b":2}]}', path: "$.a[*].b" })).matches, [1, 2]);
	const bad = await call(gw, "std__json_query", { document: "{", path: "$" });
	assert.equal(bad.result.isError, true);
	assert.match(textOf(bad), /the document is not JSON/);

	assert.deepEqual(await sc("vec__solve", { a: [[2, 0], [0, 4]], b: [2, 2] }), { x: [1, 0.5], rank: 2 });
	assert.equal((await sc("vec__describe", { values: [1, 2, 3, 4, 5] })).percentiles.p50, 3);
	const queries = Array.from({ length: 12 }, (_, i) => [Math.cos(i), Math.sin(i)]);
	const candidates = [[1, 0], [0, 1], [-1, 0], [0, -1]];
	const rs = await Promise.all(queries.map((q) => call(gw, "vec__similarity", { query: q, candidates, top: 1 })));
	rs.forEach((r, i) => {
		const [x, y] = queries[i];
		const want = Math.abs(x) >= Math.abs(y) ? (x >= 0 ? 0 : 2) : (y >= 0 ? 1 : 3);
		assert.deepEqual(r.result.structuredContent.indexes, [want], `query ${i}`);
	});
	const mismatch = await call(gw, "vec__similarity", { query: [1, 2, 3], candidates });
	assert.equal(mismatch.result.isError, true);
	assert.match(textOf(mismatch), /candidates must be vectors of length 3/);
});
