// The federated tool catalog of mcpfed --stdio: prefixes, prefix = false, upstream
// pagination, name collisions, name sanitizing, and tools/list_changed propagation.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/stdio-catalog.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
	assertLogLines, assertOnlyJsonRpc, binPath, call, childPids, faulty, faultyAfter, luaConfig, nodeBin,
	scratchDir, serverPath, startProcess, startStdio, textOf,
} from "../lib/harness.mjs";

const configOf = (top) => luaConfig({ log_level: "debug", ...top });
const PUBLIC_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const FAULTY_TOOLS = ["echo", "sleep", "die", "hang", "pid", "add_tool", "crash_after"];

// Every tool of the gateway's catalog, following nextCursor should the gateway paginate.
async function listAll(gw) {
	const tools = [];
	let cursor;
	for (let page = 0; page < 100; page++) {
		const res = await gw.request("tools/list", cursor ? { cursor } : {});
		assert.ok(Array.isArray(res.result?.tools), JSON.stringify(res));
		tools.push(...res.result.tools);
		cursor = res.result.nextCursor;
		if (!cursor) return tools;
	}
	throw new Error("tools/list never ended");
}

function assertCatalogSane(tools) {
	const names = tools.map((x) => x.name);
	for (const n of names) assert.match(n, PUBLIC_NAME);
	assert.equal(new Set(names).size, names.length, `no duplicate names: ${names}`);
	return names;
}

const environOf = (pid) => {
	try {
		return Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
			.filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
	} catch {
		return {};
	}
};

test("two prefixed providers: union of their tools, unchanged apart from the name", async (t) => {
	const memFile = path.join(scratchDir(), "memory.jsonl");
	const gw = startStdio({
		config: configOf({
			providers: [
				faulty("f"),
				{
					name: "memory", prefix: "mem", transport: "stdio",
					command: [nodeBin(), binPath("mcp-server-memory")], env: { MEMORY_FILE_PATH: memFile },
				},
			],
		}),
	});
	t.after(() => gw.close());
	await gw.initialize();
	const tools = await listAll(gw);
	const names = assertCatalogSane(tools);
	for (const n of FAULTY_TOOLS) assert.ok(names.includes(`f__${n}`), `f__${n} in ${names}`);
	for (const n of ["create_entities", "create_relations", "read_graph", "search_nodes", "open_nodes"]) {
		assert.ok(names.includes(`mem__${n}`), `mem__${n} in ${names}`);
	}
	assert.ok(!names.includes("memory__read_graph"), "the prefix replaces the provider name");
	assert.deepEqual(names.filter((n) => !/^(f|mem)__/.test(n)), [], "every tool is prefixed");

	// Compare with faulty's own listing: everything but the name passes through.
	const direct = startProcess([nodeBin(), serverPath("faulty.mjs")]);
	t.after(() => direct.close());
	await direct.initialize();
	const upstream = (await direct.request("tools/list", {})).result.tools;
	assert.equal(names.filter((n) => n.startsWith("f__")).length, upstream.length);
	for (const u of upstream) {
		const pub = tools.find((x) => x.name === `f__${u.name}`);
		assert.deepEqual({ ...pub, name: u.name }, u, `f__${u.name} matches the upstream tool`);
	}
	await direct.close();

	const graph = await call(gw, "mem__read_graph");
	assert.equal(graph.error, undefined, JSON.stringify(graph));
	assert.deepEqual(JSON.parse(textOf(graph)), { entities: [], relations: [] });
	assert.equal(textOf(await call(gw, "f__echo", { text: "hi" })), "hi");
	assert.equal((await call(gw, "memory__read_graph")).error?.code, -32602);
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

test("prefix = false keeps upstream names", async (t) => {
	const gw = startStdio({ config: configOf({ providers: [faulty("plain", { prefix: false }), faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	const names = assertCatalogSane(await listAll(gw));
	assert.deepEqual(names.filter((n) => !n.startsWith("f__")).sort(), [...FAULTY_TOOLS].sort());
	assert.equal(names.filter((n) => n.startsWith("f__")).length, FAULTY_TOOLS.length);
	assert.equal(textOf(await call(gw, "echo", { text: "bare" })), "bare");
	assert.equal((await call(gw, "plain__echo", { text: "x" })).error?.code, -32602);
	assert.notEqual(textOf(await call(gw, "pid")), textOf(await call(gw, "f__pid")), "two upstreams");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("upstream pagination: every page is listed, each tool exactly once", async (t) => {
	const gw = startStdio({
		config: configOf({ providers: [faulty("f", { env: { FAULTY_PAGE_SIZE: "3", FAULTY_TOOL_COUNT: "10" } })] }),
	});
	t.after(() => gw.close());
	await gw.initialize();
	const names = assertCatalogSane(await listAll(gw));
	const expected = [...FAULTY_TOOLS, ...Array.from({ length: 10 }, (_, i) => `t${String(i + 1).padStart(4, "0")}`)];
	assert.deepEqual([...names].sort(), expected.map((n) => `f__${n}`).sort());
	assert.equal(textOf(await call(gw, "f__t0010")), "t0010", "a tool from the last page is callable");
	assert.equal(textOf(await call(gw, "f__t0001")), "t0001");
	assert.match(gw.stderrText(), /listed provider=f list=tools items=17 pages=6/);
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("name collision: the first provider in configuration order wins", async (t) => {
	// The first provider starts late (by a margin that holds on a loaded machine), so it
	// lists its tools after the second one.
	const slow = faultyAfter("first", "sleep 1.5;", { prefix: false, env: { FAULTY_NAME: "first" } });
	const second = faulty("second", { prefix: false, env: { FAULTY_NAME: "second", FAULTY_TOOL_COUNT: "1" } });
	const gw = startStdio({ config: configOf({ providers: [slow, second] }) });
	t.after(() => gw.close());
	await gw.initialize();
	const names = assertCatalogSane(await listAll(gw));
	assert.deepEqual([...names].sort(), [...FAULTY_TOOLS, "t0001"].sort());

	const winner = Number(textOf(await call(gw, "pid")));
	assert.equal(environOf(winner).FAULTY_NAME, "first", `pid ${winner} is the first provider's upstream`);
	const others = childPids(gw.pid).filter((p) => environOf(p).FAULTY_NAME === "second");
	assert.equal(others.length, 1, "the second provider's upstream runs");
	assert.notEqual(others[0], winner);
	// The second provider still serves the tool that did not collide.
	assert.equal(textOf(await call(gw, "t0001")), "t0001");
	const log = gw.stderrText();
	assert.match(log, /collision/);
	assert.match(log, /name="pid" kept=first hidden=second/);
	assert.ok(log.indexOf("listed provider=second list=tools") < log.indexOf("listed provider=first list=tools"),
		"the second provider really listed first");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("odd and over-long upstream names become valid, distinct, callable public names", async (t) => {
	const gw = startStdio({ config: configOf({ providers: [faulty("f", { env: { FAULTY_ODD_NAMES: "1" } })] }) });
	t.after(() => gw.close());
	await gw.initialize();
	let names = assertCatalogSane(await listAll(gw));
	assert.ok(names.includes("f__bad_name_with_spaces"), names.join(","));
	assert.ok(!names.some((n) => n.includes(" ") || n.includes(".")));
	assert.equal(textOf(await call(gw, "f__bad_name_with_spaces")), "odd");
	assert.match(gw.stderrText(), /renamed to a valid public name.*upstream="bad\.name with spaces" public=f__bad_name_with_spaces/);

	// Two long names that share their first 100 characters.
	const long = "x".repeat(100);
	for (const suffix of ["a", "b"]) {
		assert.equal(textOf(await call(gw, "f__add_tool", { name: long + suffix })), `added ${long + suffix}`);
		await gw.next("notifications/tools/list_changed", { timeout: 5000 });
	}
	// A name with a quote and a newline: still one log line per event.
	assert.equal(textOf(await call(gw, "f__add_tool", { name: 'evil"quote\nnewline' })), 'added evil"quote\nnewline');
	await gw.next("notifications/tools/list_changed", { timeout: 5000 });
	names = assertCatalogSane(await listAll(gw));
	const evil = names.filter((n) => n.startsWith("f__evil"));
	assert.equal(evil.length, 1, names.join(","));
	assert.equal(textOf(await call(gw, evil[0])), 'evil"quote\nnewline');
	assertLogLines(gw);
	const longOnes = names.filter((n) => n.startsWith("f__xxxx"));
	assert.equal(longOnes.length, 2, names.join(","));
	for (const n of longOnes) assert.ok(n.length <= 64, n);
	const answers = await Promise.all(longOnes.map(async (n) => textOf(await call(gw, n))));
	assert.deepEqual(answers.sort(), [long + "a", long + "b"], "each public name reaches its own tool");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("tools/list_changed: re-listed, the client notified only when the public catalog changes", async (t) => {
	// "a" (no prefix) can shadow "b"'s tools by adding one named b__<tool>.
	const gw = startStdio({ config: configOf({ providers: [faulty("a", { prefix: false }), faulty("b")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	let names = assertCatalogSane(await listAll(gw));
	assert.ok(!names.includes("b__fresh"));
	assert.equal((await call(gw, "b__fresh")).error?.code, -32602, "not there yet");

	assert.equal(textOf(await call(gw, "b__add_tool", { name: "fresh" })), "added fresh");
	const note = await gw.next("notifications/tools/list_changed", { timeout: 5000 });
	assert.equal(note.id, undefined);
	assert.equal(note.jsonrpc, "2.0");
	names = assertCatalogSane(await listAll(gw));
	assert.ok(names.includes("b__fresh"), names.join(","));
	assert.equal(textOf(await call(gw, "b__fresh")), "fresh");

	// a adds b__late: a new public name -> notification.
	assert.equal(textOf(await call(gw, "add_tool", { name: "b__late" })), "added b__late");
	await gw.next("notifications/tools/list_changed", { timeout: 5000 });
	// b adds late: its public name b__late is hidden by a's -> the catalog is the same, no notification.
	assert.equal(textOf(await call(gw, "b__add_tool", { name: "late" })), "added late");
	// b adds next: changed again. Listings of one provider run in order, so a notification
	// for "late" would have come before this one.
	assert.equal(textOf(await call(gw, "b__add_tool", { name: "next" })), "added next");
	await gw.next("notifications/tools/list_changed", { timeout: 5000 });
	assert.equal(gw.stdoutLines.filter((l) => l.includes("notifications/tools/list_changed")).length, 3,
		"three catalog changes, three notifications");
	assert.equal(textOf(await call(gw, "b__late")), "b__late", "a's tool wins the name");
	assert.equal(textOf(await call(gw, "b__next")), "next");
	assert.match(gw.stderrText(), /collision.*name="b__late" kept=a hidden=b/);
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

test("initialize, tools/list and tools/call wait until every provider has listed its tools", async (t) => {
	const slow = faultyAfter("slow", "sleep 0.5;");
	const gw = startStdio({ config: configOf({ providers: [faulty("f"), slow] }) });
	t.after(() => gw.close());
	const t0 = Date.now();
	// Sent at once, before the slow upstream can have answered initialize: initialize waits too,
	// since the capabilities it answers are the providers'.
	const init = gw.initialize();
	const [echo, list] = await Promise.all([call(gw, "slow__echo", { text: "waited" }), listAll(gw), init]);
	assert.equal(textOf(echo), "waited", JSON.stringify(echo));
	const names = assertCatalogSane(list);
	assert.ok(names.includes("slow__echo") && names.includes("f__echo"), names.join(","));
	assert.ok(Date.now() - t0 >= 300, "the answers really waited for the slow provider");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("catalog_wait_ms bounds the wait for a provider that never comes up", async (t) => {
	// Reads its input and never answers initialize.
	const mute = { name: "mute", transport: "stdio", command: ["/bin/sh", "-c", "exec cat >/dev/null"] };
	const gw = startStdio({ config: configOf({ catalog_wait_ms: 2000, providers: [faulty("f"), mute] }) });
	t.after(() => gw.close());
	const t0 = Date.now();
	await gw.initialize();
	const names = assertCatalogSane(await listAll(gw));
	const waited = Date.now() - t0;
	assert.ok(waited >= 1900 && waited < 6000, `tools/list answered after ${waited} ms`);
	assert.deepEqual([...names].sort(), FAULTY_TOOLS.map((n) => `f__${n}`).sort());
	assert.match(gw.stderrText(), /provider not ready in time.*provider=mute/);
	const t1 = Date.now();
	assert.equal(textOf(await call(gw, "f__echo", { text: "no wait now" })), "no wait now");
	assert.ok(Date.now() - t1 < 500, "later calls do not wait again");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("initialize answers the providers' capabilities merged: tools always, the rest only when some provider offers them", async (t) => {
	const capsOf = async (providers) => {
		const gw = startStdio({ config: configOf({ providers }) });
		t.after(() => gw.close());
		return (await gw.initialize()).capabilities;
	};
	// tools only (faulty without its extra features)
	assert.deepEqual(await capsOf([faulty("f")]), { tools: { listChanged: true } });
	// one of two offers prompts, logging and subscribable resources
	assert.deepEqual(await capsOf([faulty("f"), faulty("g", { env: { FAULTY_FEATURES: "1" } })]), {
		tools: { listChanged: true },
		prompts: { listChanged: true },
		resources: { subscribe: true, listChanged: true },
		logging: {},
	});
	// no provider at all: still a server of (no) tools
	assert.deepEqual(await capsOf([]), { tools: { listChanged: true } });
});
