// What each caller sees, over Streamable HTTP in both eras: the policy's visible() (here
// lua/examples/visibility.lua: read-only tools for everyone, the rest for clients named
// "admin-*") differing by client on one listener, in lists and calls; its decisions cached
// per session; pagination over the filtered view; a policy reload telling list_changed only
// to the sessions whose view it changed; curated endpoints (listen entries with providers
// and filters) serving disjoint tools with their own capabilities; the admin command catalog.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/visibility.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { admin, faulty, killAll, logTail, luaConfig, mcpfedBin, scratchDir, waitFor, withTimeout } from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg, startHttpGateway } from "../lib/http.mjs";
import { keyHash } from "../lib/jwt.mjs";

const MODERN = "2026-07-28";
const example = path.resolve(process.env.MCPFED_LUA_PATH || path.join(import.meta.dirname, "..", "..", "lua"),
	"examples", "visibility.lua");
const dir = scratchDir();
const policy = path.join(dir, "policy.lua");
const sock = path.join(dir, "admin.sock");

let gw, main, ops, bOnly;
const log = () => logTail(gw.stderrText(), 4000);
const bounded = (p, what, ms = 5000) => withTimeout(p, ms, what, log);
const { post, openStream } = endpointClient(() => main, bounded);

// a: faulty whose pid is read-only by configuration; b: faulty with t0001..t0007, the odd ones read-only
const readOnly = { readOnlyHint: true };
before(async () => {
	fs.copyFileSync(example, policy);
	({ gw, urls: [main, ops, bOnly] } = await startHttpGateway({
		admin: sock,
		policy,
		page_size: 2,
		listen: [
			"http://127.0.0.1:0/mcp",
			{ url: "http://127.0.0.1:0/ops", providers: ["a"], tools: { exclude: ["*die*", "*hang*"] } },
			{ url: "http://127.0.0.1:0/b", providers: ["b"] },
		],
		providers: [
			faulty("a", { env: { FAULTY_FEATURES: "1" }, annotations: { pid: readOnly } }),
			faulty("b", { env: { FAULTY_TOOL_COUNT: "7" },
				annotations: { t0001: readOnly, t0003: readOnly, t0005: readOnly, t0007: readOnly } }),
		],
	}, { listed: ["a", "b"] }));
});
after(() => killAll(gw));

// A session-era session of client `name` at url: its id.
async function session(name, to = main) {
	const r = await post(initMsg(1, "2025-11-25", name), { to });
	assert.equal(r.status, 200, r.text);
	const sid = r.headers.get("mcp-session-id");
	const n = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version: "2025-11-25", to });
	assert.equal(n.status, 202, n.text);
	return { sid, init: r.json.result, to };
}
let nextId = 10;
const inSession = async (s, method, params = {}) =>
	(await post({ jsonrpc: "2.0", id: nextId++, method, params }, { session: s.sid, version: "2025-11-25", to: s.to })).json;
// A 2026-07-28 request of client `name`: no session, the envelope in _meta and the headers.
async function modern(name, method, params = {}, to = main) {
	const headers = { "MCP-Protocol-Version": MODERN, "Mcp-Method": method };
	if (method === "tools/call") headers["Mcp-Name"] = params.name;
	const _meta = { "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
		"io.modelcontextprotocol/clientInfo": { name, version: "1" } };
	return (await post({ jsonrpc: "2.0", id: nextId++, method, params: { ...params, _meta } }, { headers, to })).json;
}

// Every tool name of a list, following its pages (each at most page_size = 2 long).
async function allPages(list) {
	const names = [];
	let cursor;
	for (let i = 0; i < 20; i++) {
		const res = await list(cursor === undefined ? {} : { cursor });
		assert.ok(res.result, `${JSON.stringify(res)}${log()}`);
		assert.ok(res.result.tools.length <= 2);
		names.push(...res.result.tools.map((t) => t.name));
		cursor = res.result.nextCursor;
		if (cursor === undefined) return names;
	}
	assert.fail("too many pages");
}

const VIEWER_SEES = ["a__pid", "b__t0001", "b__t0003", "b__t0005", "b__t0007"];

test("visible() by client name on one listener, in lists (paged) and calls, in both eras", async () => {
	const admin1 = await session("admin-1");
	const viewer = await session("viewer");
	const viewerNames = await allPages((p) => inSession(viewer, "tools/list", p));
	assert.deepEqual(viewerNames, VIEWER_SEES, log());
	const adminNames = await allPages((p) => inSession(admin1, "tools/list", p));
	assert.ok(adminNames.includes("a__echo") && adminNames.includes("b__t0002") && adminNames.length > 10, JSON.stringify(adminNames));
	assert.equal(new Set(adminNames).size, adminNames.length, "every item once");
	// 2026-07-28: each request its own session; the cursor pages the same filtered view
	assert.deepEqual(await allPages((p) => modern("viewer-m", "tools/list", p)), VIEWER_SEES);
	assert.deepEqual(await allPages((p) => modern("admin-m", "tools/list", p)), adminNames);

	// what is hidden is unknown, the same answer as a name no one lists
	const unknown = await inSession(viewer, "tools/call", { name: "a__nosuch", arguments: {} });
	const hidden = await inSession(viewer, "tools/call", { name: "a__echo", arguments: { text: "x" } });
	assert.deepEqual(hidden.error, { code: unknown.error.code, message: "Unknown tool: a__echo" }, JSON.stringify(hidden));
	const mHidden = await modern("viewer-m", "tools/call", { name: "a__echo", arguments: { text: "x" } });
	assert.deepEqual(mHidden.error, { code: -32602, message: "Unknown tool: a__echo" }, JSON.stringify(mHidden));
	assert.equal((await inSession(admin1, "tools/call", { name: "a__echo", arguments: { text: "hi" } })).result?.content?.[0]?.text, "hi");
	assert.equal((await modern("admin-m", "tools/call", { name: "a__echo", arguments: { text: "hm" } })).result?.content?.[0]?.text, "hm");
	assert.ok((await inSession(viewer, "tools/call", { name: "a__pid", arguments: {} })).result, "a read-only tool is callable");
	// prompts and resources are for writers only
	assert.deepEqual((await inSession(viewer, "prompts/list")).result.prompts, []);
	assert.ok((await inSession(admin1, "prompts/list")).result.prompts.length > 0);
	const read = await inSession(viewer, "resources/read", { uri: "a+faulty://static/1" });
	assert.match(read.error?.message ?? "", /^Resource not found: a\+faulty:\/\/static\/1$/, JSON.stringify(read));
});

test("decisions are cached per session: listing again asks the policy nothing", async () => {
	const viewer = await session("viewer-cache");
	const decisions = async () => (await admin(sock, "policy")).body.visible_decisions;
	await allPages((p) => inSession(viewer, "tools/list", p));
	const first = await decisions();
	for (let i = 0; i < 3; i++) assert.deepEqual(await allPages((p) => inSession(viewer, "tools/list", p)), VIEWER_SEES);
	await inSession(viewer, "tools/call", { name: "a__echo", arguments: { text: "x" } });
	assert.equal(await decisions(), first, "no decision after the first listing");
});

test("a policy reload tells list_changed to the sessions whose view changed, and to no other", async (t) => {
	const admin1 = await session("admin-2");
	const viewer1 = await session("viewer-1");
	const viewer2 = await session("viewer-2");
	const streams = {};
	for (const [k, s] of Object.entries({ admin1, viewer1, viewer2 })) {
		await inSession(s, "tools/list");   // what each has seen
		streams[k] = await openStream({ session: s.sid });
		assert.equal(streams[k].status, 200);
	}
	const loads = () => (gw.stderrText().match(/info policy: loaded file=/g) || []).length;
	const reload = async (text) => {
		const before = loads();
		fs.writeFileSync(policy, text);
		await waitFor(() => loads() > before, { timeout: 5000, what: `the policy loaded again${log()}` });
	};
	// the next message on a stream (events without one, such as a priming event, skipped)
	const note = async (s, ms) => {
		for (;;) {
			const ev = await s.next(ms, "a notification");
			if (!ev || ev.json) return ev?.json?.method;
		}
	};
	const changed = (s, ms) => note(s, ms);
	const quiet = async (s, ms = 700) => {
		const got = await note(s, ms).catch(() => null);
		assert.equal(got, null, `no notification expected, got ${got}`);
	};
	const base = fs.readFileSync(example, "utf8");
	t.after(() => reload(base));
	// admins lose a__echo; viewers see what they saw
	await reload(base.replace("function M.visible(request, item)\n",
		"function M.visible(request, item)\n  if item.name == \"a__echo\" then return false end\n"));
	assert.equal(await changed(streams.admin1, 5000), "notifications/tools/list_changed");
	await quiet(streams.viewer1);
	await quiet(streams.viewer2);
	assert.ok(!(await inSession(admin1, "tools/list")).result.tools.some((t) => t.name === "a__echo"));
	// viewers gain b__t0002; admins see what they saw
	await reload(base.replace("function M.visible(request, item)\n",
		"function M.visible(request, item)\n  if item.name == \"a__echo\" then return false end\n  if item.name == \"b__t0002\" then return true end\n"));
	assert.equal(await changed(streams.viewer1, 5000), "notifications/tools/list_changed");
	assert.equal(await changed(streams.viewer2, 5000), "notifications/tools/list_changed");
	await quiet(streams.admin1);
	const seen = await allPages((p) => inSession(viewer1, "tools/list", p));
	assert.deepEqual(seen, ["a__pid", "b__t0001", "b__t0002", "b__t0003", "b__t0005", "b__t0007"]);
	for (const s of Object.values(streams)) s.close();
});

test("a catalog change tells list_changed only to the sessions that see what changed", async () => {
	const admin1 = await session("admin-3");
	const viewer = await session("viewer-3");
	const onB = await session("admin-b3", bOnly);
	const streams = [];
	for (const s of [admin1, viewer, onB]) {
		await inSession(s, "tools/list");
		const st = await openStream({ session: s.sid, to: s.to });
		assert.equal(st.status, 200);
		streams.push(st);
	}
	const note = async (st, ms) => {
		for (;;) {
			const ev = await st.next(ms, "a notification");
			if (!ev || ev.json) return ev?.json?.method;
		}
	};
	// a tool a adds, not read-only: the admin on the main endpoint sees it, the viewer and b's endpoint do not
	const added = await inSession(admin1, "tools/call", { name: "a__add_tool", arguments: { name: "fresh" } });
	assert.equal(added.result?.content?.[0]?.text, "added fresh", JSON.stringify(added));
	assert.equal(await note(streams[0], 5000), "notifications/tools/list_changed");
	for (const st of streams.slice(1))
		assert.equal(await note(st, 700).catch(() => null), null, "no notification for an unchanged view");
	assert.ok((await inSession(admin1, "tools/list", {})).result.tools.length > 0);
	for (const st of streams) st.close();
});

test("curated endpoints: each serves its providers and filters, with its own capabilities; catalog says which", async () => {
	const onOps = await session("admin-ops", ops);
	const onB = await session("admin-b", bOnly);
	const opsNames = await allPages((p) => inSession(onOps, "tools/list", p));
	const bNames = await allPages((p) => inSession(onB, "tools/list", p));
	assert.ok(opsNames.length > 3 && opsNames.every((n) => n.startsWith("a__")), JSON.stringify(opsNames));
	assert.ok(!opsNames.some((n) => /die|hang/.test(n)), JSON.stringify(opsNames));
	assert.deepEqual(bNames, ["b__echo", "b__sleep", "b__die", "b__hang", "b__pid", "b__add_tool", "b__crash_after",
		"b__t0001", "b__t0002", "b__t0003", "b__t0004", "b__t0005", "b__t0006", "b__t0007"].filter((n) => bNames.includes(n)));
	assert.ok(bNames.every((n) => n.startsWith("b__")) && bNames.length >= 8, JSON.stringify(bNames));
	// capabilities: a offers prompts and resources, b does not
	assert.ok(onOps.init.capabilities.prompts && onOps.init.capabilities.resources, JSON.stringify(onOps.init));
	assert.equal(onB.init.capabilities.prompts, undefined, JSON.stringify(onB.init));
	assert.equal(onB.init.capabilities.resources, undefined, JSON.stringify(onB.init));
	// what another endpoint serves is unknown here, in both eras
	const cross = await inSession(onB, "tools/call", { name: "a__echo", arguments: { text: "x" } });
	assert.deepEqual(cross.error, { code: -32602, message: "Unknown tool: a__echo" });
	const filtered = await inSession(onOps, "tools/call", { name: "a__die", arguments: {} });
	assert.deepEqual(filtered.error, { code: -32602, message: "Unknown tool: a__die" });
	const m = await modern("admin-m", "tools/call", { name: "b__echo", arguments: { text: "x" } }, ops);
	assert.deepEqual(m.error, { code: -32602, message: "Unknown tool: b__echo" });
	assert.equal((await modern("admin-m", "tools/call", { name: "b__echo", arguments: { text: "y" } }, bOnly)).result?.content?.[0]?.text, "y");
	// a cursor of one endpoint's view is refused on another's
	const page = await inSession(onB, "tools/list");
	const other = await inSession(onOps, "tools/list", { cursor: page.result.nextCursor });
	assert.equal(other.error?.code, -32602, JSON.stringify(other));

	const cat = await admin(sock, "catalog");
	assert.equal(cat.code, 200);
	const urls = Object.keys(cat.body);
	assert.ok(urls.includes("http://127.0.0.1:0/ops") && urls.includes("stdio"), JSON.stringify(urls));
	assert.deepEqual(cat.body["http://127.0.0.1:0/b"].tools, bNames);
	assert.deepEqual(cat.body["http://127.0.0.1:0/ops"].tools, cat.body["http://127.0.0.1:0/ops"].tools.filter((n) => opsNames.includes(n)));
	assert.deepEqual(cat.body["http://127.0.0.1:0/ops"].providers, ["a"]);
	const one = await admin(sock, "catalog http://127.0.0.1:0/b");
	assert.deepEqual(Object.keys(one.body), ["http://127.0.0.1:0/b"]);
	const none = await admin(sock, "catalog http://nowhere/");
	assert.equal(none.code, 404);
});

test("listen entries: kernel keys checked and kept from the transport; one address and port each", () => {
	const check = (top) => spawnSync(mcpfedBin(), ["--check", "-c", luaConfig(top)], { encoding: "utf8", timeout: 20000 });
	const p = [faulty("a")];
	const shared = check({ providers: p, listen: ["http://127.0.0.1:8801/mcp", { url: "http://127.0.0.1:8801/ops", providers: ["a"] }] });
	assert.equal(shared.status, 1);
	assert.match(shared.stderr, /listen\[2\]: "http:\/\/127\.0\.0\.1:8801\/ops" has the address and port of listen\[1\]/);
	const unknownProvider = check({ providers: p, listen: [{ url: "http://127.0.0.1:8801/ops", providers: ["zz"] }] });
	assert.equal(unknownProvider.status, 1);
	assert.match(unknownProvider.stderr, /listen\[1\]\.providers: no provider is named "zz"/);
	const badFilter = check({ providers: p, listen: [{ url: "http://127.0.0.1:8801/ops", tools: { include: 3 } }] });
	assert.equal(badFilter.status, 1);
	assert.match(badFilter.stderr, /listen\[1\]\.tools\.include: expected a list of strings/);
	const good = check({ providers: p, listen: [{ url: "http://127.0.0.1:8801/ops", providers: ["a"], tools: { exclude: ["*x*"] }, max_sessions: 5 }] });
	assert.equal(good.status, 0, good.stderr);
});

test("visible() by identity: on a listener with API keys, a subject with the scope tools:write sees and calls every tool, one without only the read-only ones", async (t) => {
	const KEYS = { reader: "reader-key-0123456789abcdef", writer: "writer-key-0123456789abcdef" };
	const { gw: g, urls: [u] } = await startHttpGateway({
		policy,
		listen: [{ url: "http://127.0.0.1:0/mcp", auth: { keys: [
			{ id: "reader", hash: keyHash(KEYS.reader), scopes: ["tools:read"] },
			{ id: "writer", hash: keyHash(KEYS.writer), scopes: ["tools:read", "tools:write"] },
		] } }],
		providers: [faulty("b", { env: { FAULTY_TOOL_COUNT: "3" }, annotations: { t0001: readOnly } })],
	}, { listed: ["b"] });
	t.after(() => killAll(g));
	const { post: p2 } = endpointClient(() => u, (p, what) => withTimeout(p, 5000, what, () => logTail(g.stderrText())));
	let id = 1;
	// both named admin-*: the client name does not decide for an authenticated caller
	const as = async (key) => {
		const headers = { "X-API-Key": key };
		const r = await p2(initMsg(id++, "2025-11-25", "admin-console"), { headers });
		assert.equal(r.status, 200, r.text);
		const sid = r.headers.get("mcp-session-id");
		await p2({ jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version: "2025-11-25", headers });
		return async (method, params = {}) =>
			(await p2({ jsonrpc: "2.0", id: id++, method, params }, { session: sid, version: "2025-11-25", headers })).json;
	};
	const reader = await as(KEYS.reader), writer = await as(KEYS.writer);
	const tools = async (c) => {
		const all = [];
		for (let cursor; ;) {
			const r = await c("tools/list", cursor ? { cursor } : {});
			all.push(...r.result.tools.map((x) => x.name));
			if (!(cursor = r.result.nextCursor)) return all.filter((n) => /^b__t000/.test(n)).sort();
		}
	};
	assert.deepEqual(await tools(reader), ["b__t0001"]);
	assert.deepEqual(await tools(writer), ["b__t0001", "b__t0002", "b__t0003"]);
	const hidden = await reader("tools/call", { name: "b__t0002", arguments: {} });
	assert.equal(hidden.error?.code, -32602, JSON.stringify(hidden));
	assert.match(hidden.error.message, /Unknown tool: b__t0002/);
	const shown = await writer("tools/call", { name: "b__t0002", arguments: {} });
	assert.ok(shown.result, JSON.stringify(shown));
});
