// The result cache (plugins/cache, kernel/federation/cache_hook.c) through the real gateway on
// stdio, against t/servers/faulty.mjs with FAULTY_CACHE_TOOLS (its tools count their calls, so
// the upstream calls are counted where they happen) and the sql tool provider: hits with the
// caller's own id, canonical keys (key order, whitespace, number spelling, -0), expiry,
// eviction under the byte cap, errors never kept (isError, and a JSON-RPC error of a leader
// that coalesced callers share), 100 identical calls in flight coalesced into one upstream
// call, a cancelling leader that does not cancel the shared call and the last caller leaving
// that does, entries kept across `reload cache`, `cache clear`, the figures in `cache` and
// `metrics`, and a call during which the upstream asked its client something, whose answer
// nobody else gets.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/cache.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
	admin, call, closeAfter, faulty, logTail, lua, luaConfig, scratchDir, startStdio, textOf, waitFor,
} from "../lib/harness.mjs";

const cached = ["counted", "fails", "counted_big", "gate", "ask_sampling"];
const up = (name, extra = {}) => faulty(name, {
	env: { FAULTY_CACHE_TOOLS: "1", FAULTY_FEATURES: "1" }, cache: { ttl_ms: 60000, tools: cached }, ...extra,
});

async function start(t, top = {}, { capabilities = {} } = {}) {
	const sock = path.join(scratchDir(), "mcpfed.sock");
	const gw = startStdio({ config: luaConfig({ admin: sock, providers: [up("up")], ...top }) });
	closeAfter(t, gw);
	await gw.initialize({ capabilities });
	gw.sock = sock;
	gw.admin = async (cmd) => {
		const r = await admin(sock, cmd);
		assert.equal(r.code, 200, `${cmd}: ${JSON.stringify(r.body)}${logTail(gw.stderrText())}`);
		return r.body;
	};
	// upstream calls of tool, as the upstream counted them (calls itself is not cached)
	gw.calls = async (tool, provider = "up") => Number(textOf(await call(gw, `${provider}__calls`, { tool })));
	return gw;
}

// A raw request line (the spelling is the test's), answered by id.
async function raw(gw, id, line) {
	gw.sendRaw(line + "\n");
	return gw.next((m) => m.id === id, { what: `the answer to ${id}` });
}

test("hits answer with the caller's own id; canonical keys; figures in cache and metrics", async (t) => {
	const gw = await start(t);
	const first = await call(gw, "up__counted", { a: 1, b: { x: 1, y: [1.5, "s"] } });
	assert.match(textOf(first), /^counted 1 /);
	// the same arguments: other key order, whitespace, 1.0 and 1e0 for 1, 15e-1 for 1.5
	const spellings = [
		`{"jsonrpc":"2.0","id":"k1","method":"tools/call","params":{"name":"up__counted","arguments":{"b":{"y":[1.5,"s"],"x":1},"a":1.0}}}`,
		`{ "jsonrpc" : "2.0", "id" : "k2", "method" : "tools/call", "params" : { "arguments" : { "a" : 1e0 , "b" : { "x" : 1.0, "y" : [ 15e-1 , "s" ] } }, "name" : "up__counted" } }`,
	];
	for (const [i, line] of spellings.entries()) {
		const res = await raw(gw, `k${i + 1}`, line);
		assert.equal(res.id, `k${i + 1}`);
		assert.equal(textOf(res), textOf(first), "served from the cache");
	}
	// -0 and 0 are one key
	const zero = await raw(gw, "z1", `{"jsonrpc":"2.0","id":"z1","method":"tools/call","params":{"name":"up__counted","arguments":{"a":-0}}}`);
	const zero2 = await raw(gw, "z2", `{"jsonrpc":"2.0","id":"z2","method":"tools/call","params":{"name":"up__counted","arguments":{"a":0.0}}}`);
	assert.equal(textOf(zero2), textOf(zero));
	// different arguments are different keys: "1" is no 1, 1.5 no 1
	assert.match(textOf(await call(gw, "up__counted", { a: "1" })), /^counted 3 /);
	assert.match(textOf(await call(gw, "up__counted", { a: 1.5 })), /^counted 4 /);
	assert.equal(await gw.calls("counted"), 4);
	// a numeric id stays a number
	const again = await gw.request("tools/call", { name: "up__counted", arguments: { a: 1.5 } });
	assert.equal(typeof again.id, "number");
	assert.match(textOf(again), /^counted 4 /);
	const st = await gw.admin("cache");
	assert.equal(st.enabled, true);
	assert.equal(st.hits, 4, JSON.stringify(st));
	assert.equal(st.entries, 4);
	assert.ok(st.bytes > 0);
	assert.equal(st.tools.up__counted.hits, 4);
	assert.equal(st.tools.up__counted.entries, 4);
	assert.equal(st.tools.up__counted.misses, 4);
	const m = await gw.admin("metrics");
	assert.equal(m.cache.hits, 4);
	assert.equal(m.cache.entries, 4);
	// a tool not named in tools is never cached
	await call(gw, "up__calls", { tool: "x" });
	assert.equal((await gw.admin("cache")).tools.up__calls, undefined);
});

test("entries expire after ttl_ms", async (t) => {
	const gw = await start(t, { providers: [up("up", { cache: { ttl_ms: 300, tools: ["counted"] } })] });
	assert.match(textOf(await call(gw, "up__counted", { a: 1 })), /^counted 1 /);
	assert.match(textOf(await call(gw, "up__counted", { a: 1 })), /^counted 1 /);
	// time itself is what is tested here: nothing else says the entry is stale
	await new Promise((resolve) => setTimeout(resolve, 400));
	assert.match(textOf(await call(gw, "up__counted", { a: 1 })), /^counted 2 /);
	assert.equal((await gw.admin("cache")).expired, 1);
});

test("the byte cap evicts the least recently used; a result over the cap is not kept", async (t) => {
	const gw = await start(t, { cache: { max_bytes: 20000 } });
	for (let a = 1; a <= 3; a++) await call(gw, "up__counted_big", { bytes: 6000, a });
	await call(gw, "up__counted_big", { bytes: 6000, a: 1 });   // a hit: 1 is now the most recent
	await call(gw, "up__counted_big", { bytes: 6000, a: 4 });   // 2 goes
	let st = await gw.admin("cache");
	assert.ok(st.bytes <= 20000, JSON.stringify(st));
	assert.equal(st.entries, 3);
	assert.equal(st.evictions, 1);
	assert.equal(await gw.calls("counted_big"), 4);
	await call(gw, "up__counted_big", { bytes: 6000, a: 1 });   // still there
	assert.equal(await gw.calls("counted_big"), 4);
	await call(gw, "up__counted_big", { bytes: 6000, a: 2 });   // was evicted
	assert.equal(await gw.calls("counted_big"), 5);
	await call(gw, "up__counted_big", { bytes: 30000 });
	await call(gw, "up__counted_big", { bytes: 30000 });
	assert.equal(await gw.calls("counted_big"), 7, "too large to keep");
	st = await gw.admin("cache");
	assert.ok(st.bytes <= 20000);
});

test("errors are never kept: isError results, and a leader's JSON-RPC error that its waiters share", async (t) => {
	const gw = await start(t, { providers: [up("up"), up("short", { timeout_ms: 700 })] });
	assert.match(textOf(await call(gw, "up__fails", {})), /^failed 1/);
	assert.match(textOf(await call(gw, "up__fails", {})), /^failed 2/);
	assert.equal((await gw.admin("cache")).entries, 0);
	// five identical calls that time out upstream: one upstream call, five -32001
	const answers = await Promise.all(Array.from({ length: 5 }, () => call(gw, "short__gate", { key: "never" })));
	for (const res of answers) assert.equal(res.error?.code, -32001, JSON.stringify(res));
	assert.equal(await gw.calls("gate", "short"), 1);
	assert.equal((await gw.admin("cache")).tools.short__gate.coalesced, 4);
	// not kept: the next call goes upstream again
	const next = call(gw, "short__gate", { key: "later" });
	await waitFor(async () => (await gw.calls("gate", "short")) === 2, { what: "the second upstream call" });
	await call(gw, "short__open", { key: "later" });
	assert.equal(textOf(await next), "gate later 2");
});

test("100 identical calls in flight are one upstream call, each answered with its own id", async (t) => {
	const gw = await start(t);
	const calls = Array.from({ length: 100 }, () => gw.request("tools/call", { name: "up__gate", arguments: { key: "k" } }));
	await waitFor(async () => (await gw.admin("cache")).coalesced === 99, { what: "99 calls coalesced" });
	assert.equal(textOf(await call(gw, "up__gated", { key: "k" })), "1", "one call upstream");
	assert.equal(textOf(await call(gw, "up__open", { key: "k" })), "opened 1");
	const answers = await Promise.all(calls);
	assert.equal(new Set(answers.map((a) => a.id)).size, 100, "each its own id");
	for (const a of answers) assert.equal(textOf(a), "gate k 1", JSON.stringify(a));
	assert.equal(await gw.calls("gate"), 1);
	// and the answer is kept
	assert.equal(textOf(await call(gw, "up__gate", { key: "k" })), "gate k 1");
	assert.equal(await gw.calls("gate"), 1);
});

test("a leader that cancels leaves the shared call running; the last caller leaving cancels it", async (t) => {
	const gw = await start(t);
	const gate = (id, key) => gw.send({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "up__gate", arguments: { key } } });
	const cancel = (id) => gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id } });
	gate("L", "c");
	await waitFor(async () => textOf(await call(gw, "up__gated", { key: "c" })) === "1", { what: "the leader upstream" });
	gate("W1", "c");
	gate("W2", "c");
	await waitFor(async () => (await gw.admin("cache")).coalesced === 2, { what: "two waiters" });
	cancel("L");
	cancel("W1");
	// the upstream call goes on for W2
	assert.equal(await gw.calls("gate_cancelled"), 0);
	assert.equal(textOf(await call(gw, "up__gated", { key: "c" })), "1");
	await call(gw, "up__open", { key: "c" });
	const w2 = await gw.next((m) => m.id === "W2", { what: "W2's answer" });
	assert.equal(textOf(w2), "gate c 1");
	// the last one out cancels it upstream
	gate("X", "d");
	await waitFor(async () => textOf(await call(gw, "up__gated", { key: "d" })) === "1", { what: "X upstream" });
	gate("Y", "d");
	await waitFor(async () => (await gw.admin("cache")).coalesced === 3, { what: "Y waiting" });
	cancel("X");
	assert.equal(await gw.calls("gate_cancelled"), 0, "Y still waits");
	cancel("Y");
	await waitFor(async () => (await gw.calls("gate_cancelled")) === 1, { what: "the upstream call cancelled" });
	// nobody got an answer for a cancelled request
	assert.deepEqual(gw.unconsumed().filter((m) => ["L", "W1", "X", "Y"].includes(m.id)), []);
});

test("reload of the cache plugin keeps its entries and figures; cache clear drops them", async (t) => {
	const gw = await start(t);
	assert.match(textOf(await call(gw, "up__counted", { a: "r" })), /^counted 1 /);
	await call(gw, "up__counted", { a: "s" });
	await call(gw, "up__counted", { a: "r" });
	const before = await gw.admin("cache");
	assert.equal(before.entries, 2);
	for (let i = 0; i < 3; i++) {
		const r = await gw.admin("reload cache");
		assert.equal(r.plugin ?? "cache", "cache");
	}
	const plugins = await gw.admin("plugins");
	const cache = plugins.plugins.find((p) => p.name === "cache" && p.state === "current");
	assert.equal(cache.generation, 4, JSON.stringify(plugins));
	const after = await gw.admin("cache");
	assert.equal(after.entries, 2);
	assert.equal(after.hits, before.hits);
	assert.equal(after.bytes, before.bytes);
	assert.match(textOf(await call(gw, "up__counted", { a: "r" })), /^counted 1 /, "still a hit");
	assert.equal(await gw.calls("counted"), 2);
	// unload is refused while the gateway uses it
	const unload = await admin(gw.sock, "unload cache");
	assert.equal(unload.code, 409);
	assert.match(unload.body.error, /the result cache/);
	assert.deepEqual(await gw.admin("cache clear up__counted"), { tool: "up__counted", cleared: 2 });
	assert.match(textOf(await call(gw, "up__counted", { a: "r" })), /^counted 3 /);
	assert.equal((await gw.admin("cache clear")).cleared, 1);
	assert.equal((await gw.admin("cache")).entries, 0);
});

test("a call during which the upstream asked its client is not kept nor shared", async (t) => {
	const gw = await start(t, {}, { capabilities: { sampling: {} } });
	const answerSampling = async (text) => {
		const ask = await gw.next("sampling/createMessage", { what: "the sampling request" });
		gw.send({ jsonrpc: "2.0", id: ask.id, result: { role: "assistant", model: "m", content: { type: "text", text } } });
	};
	const first = gw.request("tools/call", { name: "up__ask_sampling", arguments: { prompt: "p" } });
	await answerSampling("one");
	assert.equal(textOf(await first), "sampled: one");
	const second = gw.request("tools/call", { name: "up__ask_sampling", arguments: { prompt: "p" } });
	await answerSampling("two");
	assert.equal(textOf(await second), "sampled: two", "not served from the cache");
	assert.equal((await gw.admin("cache")).entries, 0);
	// a call that waited for such a call goes again, on its own: two requests in one write,
	// so that the second joins the first before the upstream asks anything
	const req = (id) => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "up__ask_sampling", arguments: { prompt: "q" } } });
	gw.sendRaw(`${req("L")}\n${req("W")}\n`);
	await answerSampling("three");
	assert.equal(textOf(await gw.next((m) => m.id === "L", { what: "L's answer" })), "sampled: three");
	await answerSampling("four");
	assert.equal(textOf(await gw.next((m) => m.id === "W", { what: "W's answer" })), "sampled: four");
	const st = await gw.admin("cache");
	assert.equal(st.coalesced, 1);
	assert.equal(st.entries, 0);
});

test("admin: cache with bad words, and a gateway without a cache", async (t) => {
	const gw = await start(t, { providers: [faulty("plain")] });
	assert.equal((await gw.admin("cache")).enabled, false);
	assert.equal((await admin(gw.sock, "cache clear")).code, 409);
	assert.equal((await admin(gw.sock, "cache flush")).code, 400);
	assert.equal((await admin(gw.sock, "cache clear a b")).code, 400);
	const plugins = await gw.admin("plugins");
	assert.equal(plugins.plugins.find((p) => p.name === "cache"), undefined, "not loaded when nothing caches");
});

test("FACT tools are cached too (sql)", async (t) => {
	const file = path.join(scratchDir(), "s.db");
	const db = new DatabaseSync(file);
	db.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);");
	db.close();
	const gw = await start(t, {
		providers: [{ name: "facts", transport: "sql", databases: { s: file }, cache: { tools: ["query"] } }],
	});
	const q = { sql: "SELECT sum(x) AS s FROM t" };
	const one = await call(gw, "facts__query", q);
	assert.deepEqual(one.result.structuredContent.rows, [[3]], JSON.stringify(one));
	// a write behind the gateway's back is not seen while the entry lives: it is a cache
	const w = new DatabaseSync(file);
	w.exec("INSERT INTO t VALUES (10)");
	w.close();
	const two = await call(gw, "facts__query", q);
	assert.deepEqual(two.result.structuredContent.rows, [[3]]);
	const st = await gw.admin("cache");
	assert.equal(st.tools.facts__query.hits, 1);
	await gw.admin("cache clear facts__query");
	assert.deepEqual((await call(gw, "facts__query", q)).result.structuredContent.rows, [[13]]);
	// tables is not in tools
	await call(gw, "facts__tables", {});
	assert.equal((await gw.admin("cache")).tools.facts__tables, undefined);
});

test("the routing policy decides before the cache: a cached tool it refuses stays refused", async (t) => {
	const dir = scratchDir();
	const policy = path.join(dir, "policy.lua");
	// admits up__counted once, then refuses it
	fs.writeFileSync(policy, `local M, n = {}, 0
function M.route(request, candidates)
  if request.name == "up__counted" then
    n = n + 1
    if n > 1 then return nil, "counted once is enough" end
  end
  local ids = {}
  for _, c in ipairs(candidates) do ids[#ids + 1] = c.id end
  return ids
end
return M
`);
	const gw = await start(t, { policy });
	assert.match(textOf(await call(gw, "up__counted", { a: 1 })), /^counted 1 /);
	const refused = await call(gw, "up__counted", { a: 1 });
	assert.equal(refused.error?.code, -32013, JSON.stringify(refused));
	assert.match(refused.error.message, /counted once is enough/);
	assert.equal((await gw.admin("cache")).hits, 0);
});

test("reload config turns the cache on, and a smaller max_bytes applies at once", async (t) => {
	const sock = path.join(scratchDir(), "mcpfed.sock");
	const top = (extra) => ({ admin: sock, providers: [faulty("up", { env: { FAULTY_CACHE_TOOLS: "1" }, ...extra.up })], ...extra.top });
	const file = luaConfig(top({}));
	const gw = startStdio({ config: file });
	closeAfter(t, gw);
	await gw.initialize();
	const reload = async (extra) => {
		fs.writeFileSync(file, `return ${lua(top(extra))}\n`);
		const r = await admin(sock, "reload config", { timeout: 20000 });
		assert.equal(r.code, 200, `reload config: ${JSON.stringify(r)}${logTail(gw.stderrText())}`);
		return r.body;
	};
	assert.equal((await admin(sock, "cache")).body.enabled, false);
	assert.match(textOf(await call(gw, "up__counted", { a: 1 })), /^counted 1 /);
	const r = await reload({ up: { cache: { tools: ["counted"] } }, top: { cache: { max_bytes: 100000 } } });
	assert.deepEqual(r.providers.changed, ["up"], JSON.stringify(r));
	assert.ok(r.applied.includes("cache"), JSON.stringify(r));
	assert.match(textOf(await call(gw, "up__counted", { a: 1 })), /^counted 1 /, "a fresh upstream");
	assert.match(textOf(await call(gw, "up__counted", { a: 1 })), /^counted 1 /, "a hit");
	let st = (await admin(sock, "cache")).body;
	assert.equal(st.entries, 1);
	assert.equal(st.max_bytes, 100000);
	await reload({ up: { cache: { tools: ["counted"] } }, top: { cache: { max_bytes: 0 } } });
	st = (await admin(sock, "cache")).body;
	assert.equal(st.max_bytes, 0);
	assert.equal(st.entries, 0, "evicted to fit");
	// a top-level false turns caching off for every provider, this one unchanged (not restarted)
	const off = await reload({ up: { cache: { tools: ["counted"] } }, top: { cache: false } });
	assert.deepEqual(off.providers.unchanged, ["up"]);
	assert.match(textOf(await call(gw, "up__counted", { a: 2 })), /^counted 2 /);
	assert.match(textOf(await call(gw, "up__counted", { a: 2 })), /^counted 3 /, "not cached");
});

test("configuration errors name the key", async (t) => {
	const bad = [
		[{ cache: { max_bytes: -1 } }, /cache\.max_bytes/],
		[{ cache: { size: 1 } }, /cache\.size/],
		[{ cache: 5 }, /cache: expected a table/],
		[{ providers: [up("up", { cache: { ttl_ms: 0 } })] }, /providers\[1\]\.cache\.ttl_ms/],
		[{ providers: [up("up", { cache: { tools: "counted" } })] }, /providers\[1\]\.cache\.tools/],
		[{ providers: [up("up", { cache: { ttl: 5 } })] }, /providers\[1\]\.cache\.ttl/],
	];
	for (const [top, re] of bad) {
		const gw = startStdio({ config: luaConfig({ providers: [up("up")], ...top }), args: ["--check"] });
		const status = await gw.waitExit(10000);
		assert.equal(status.code, 1, JSON.stringify(top));
		assert.match(gw.stderrText(), re);
	}
});

test("a caller waiting for another client's call is not asked for, nor counted as busy upstream", async (t) => {
	// the leader's client (stdio, with sampling) and a waiter's (HTTP): the upstream's question,
	// which names no request, has one client with a call under way, the leader's
	const sock = path.join(scratchDir(), "mcpfed.sock");
	const gw = startStdio({ config: luaConfig({ admin: sock, listen: ["http://127.0.0.1:0/mcp"], providers: [up("up", {
		cache: { tools: ["gate_ask"] } })] }) });
	closeAfter(t, gw);
	await gw.initialize({ capabilities: { sampling: {} } });
	const url = await waitFor(() => /listening url=(\S+)/.exec(gw.stderrText())?.[1], { what: "the HTTP listener" });
	const post = async (body, session) => {
		const res = await fetch(url, { method: "POST", body: JSON.stringify(body), headers: {
			"Content-Type": "application/json", Accept: "application/json, text/event-stream", ...(session ? { "Mcp-Session-Id": session } : {}),
		} });
		return { session: res.headers.get("mcp-session-id"), text: await res.text() };
	};
	const { session } = await post({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "b", version: "1" } } });
	await post({ jsonrpc: "2.0", method: "notifications/initialized" }, session);
	const leader = gw.request("tools/call", { name: "up__gate_ask", arguments: { key: "g" } });
	await waitFor(async () => textOf(await call(gw, "up__gated", { key: "g" })) === "1", { what: "the leader upstream" });
	const waiter = post({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "up__gate_ask", arguments: { key: "g" } } }, session);
	await waitFor(async () => (await admin(sock, "cache")).body.coalesced === 1, { what: "the waiter" });
	await call(gw, "up__open", { key: "g" });
	const ask = await gw.next("sampling/createMessage", { what: "the question, for the leader's client" });
	gw.send({ jsonrpc: "2.0", id: ask.id, result: { role: "assistant", model: "m", content: { type: "text", text: "mine" } } });
	assert.equal(textOf(await leader), "sampled: mine");
	// the waiter goes again on its own; its client cannot answer a sampling: it gets that error
	await waitFor(async () => textOf(await call(gw, "up__gated", { key: "g" })) === "1", { what: "the waiter upstream" });
	await call(gw, "up__open", { key: "g" });
	const answer = JSON.parse((await waiter).text.replace(/^[\s\S]*?data: /, "").split("\n")[0]);
	assert.equal(answer.id, 2);
	assert.equal(answer.result.isError, true, JSON.stringify(answer));
	assert.doesNotMatch(textOf(answer), /mine/);
	assert.equal(textOf(await call(gw, "up__calls", { tool: "gate_ask" })), "2");
});
