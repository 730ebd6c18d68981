// Hot swap of the http plugin (admin `reload http`) while it serves, with real clients and
// upstreams: the transport keeps its listening socket, every client connection and every
// session through repeated reloads under load (SDK clients and raw keep-alive clients, calls
// in flight at the switch, answers streamed as SSE, a GET stream); the provider keeps its
// upstream session (one initialize, the same Mcp-Session-Id) while the old generation
// finishes the calls it has in flight, and their cancels; a request half-sent at the switch
// is parsed again whole by the successor; a client that does not read makes the handover
// time out, and the old generation serves on.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/swap-http.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { Readable } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
	admin, call, killAll, logTail, luaConfig, mcpfedBin, nodeBin, scratchDir, serverPath, startProcess, startStdio, textOf,
	waitFor, withTimeout,
} from "../lib/harness.mjs";
import { ACCEPT_BOTH, callMsg, initMsg, parseSseEvent, startHttpGateway } from "../lib/http.mjs";

const SWAP_TOOLS = { FAULTY_SWAP_TOOLS: "1" };
const upstreamOf = (name, env = {}) => ({
	name, transport: "stdio", command: [nodeBin(), serverPath("faulty.mjs")], env: { ...SWAP_TOOLS, ...env },
});
const tail = (gw) => logTail(gw.stderrText(), 5000);
const count = (text, re) => (text.match(new RegExp(re, "g")) || []).length;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms)); // pacing only, never to wait for an event

// --- the gateway ------------------------------------------------------------------------------

// mcpfed listening on HTTP, with an admin socket; killed after the test if still running.
async function httpGateway(t, top = {}) {
	const sock = path.join(scratchDir(), "admin.sock");
	const { gw, urls } = await startHttpGateway({
		log_level: "info", admin: sock, listen: ["http://127.0.0.1:0/mcp"], providers: [upstreamOf("f")], ...top,
	}, { listed: ["f"], timeout: 15000 });
	gw.sock = sock;
	t.after(() => killAll(gw));
	await waitFor(() => admin(sock, "plugins").then((r) => r.code === 200), { timeout: 5000, what: "the admin socket" });
	return { gw, url: urls[0] };
}

// SIGTERM: the gateway exits 0, and under sanitizers they found nothing.
async function shutdown(gw) {
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(15000), { code: 0, signal: null }, `gateway exit${tail(gw)}`);
	assert.doesNotMatch(gw.stderrText(), /ERROR: (Address|Leak)Sanitizer|runtime error:/, tail(gw));
}

async function reload(gw) {
	const t0 = performance.now();
	const r = await admin(gw.sock, "reload http", { timeout: 15000 });
	return { ...r, t0, t1: performance.now() };
}

// A reload that swapped every instance of the http plugin.
async function reloadOk(gw, want = 1) {
	const r = await reload(gw);
	assert.equal(r.code, 200, `reload http: ${JSON.stringify(r.body)}${tail(gw)}`);
	assert.equal(r.body.outcome, "swapped", JSON.stringify(r.body));
	assert.equal(r.body.generation, r.body.previous_generation + 1, JSON.stringify(r.body));
	assert.equal(r.body.instances.filter((i) => i.result === "swapped").length, want, JSON.stringify(r.body));
	return r;
}

// The current generation of the http plugin, as the admin socket lists it.
const httpPlugin = async (gw) => (await admin(gw.sock, "plugins")).body.plugins.find((p) => p.name === "http" && p.state === "current");

// --- HTTP clients -------------------------------------------------------------------------------

// One request over agent: { status, headers, text }; every socket it used goes into sockets.
function request(url, { agent, method = "POST", headers = {}, body, sockets, timeout = 20000 }) {
	const u = new URL(url);
	const p = new Promise((resolve, reject) => {
		const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, agent, headers }, (res) => {
			const chunks = [];
			res.on("data", (d) => chunks.push(d));
			res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
			res.on("error", reject);
		});
		req.on("socket", (s) => sockets?.add(s));
		req.on("error", reject);
		req.end(body);
	});
	return withTimeout(p, timeout, `${method} ${url} ${body?.slice(0, 100) ?? ""}`);
}

// The JSON-RPC messages of an answer: its JSON body, or the data of its SSE events.
function messagesOf(res) {
	if (/^text\/event-stream/.test(res.headers["content-type"] || "")) {
		return res.text.replace(/\r\n?/g, "\n").split("\n\n").map(parseSseEvent).filter((e) => e.data).map((e) => JSON.parse(e.data));
	}
	return res.text ? [JSON.parse(res.text)] : [];
}

// A session of the session era over a keep-alive agent of one socket: over the whole test, all
// its requests must go over that one connection.
async function rawSession(url, name) {
	const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const sockets = new Set();
	const s = {
		name, agent, sockets, session: undefined,
		post(msg, timeout) {
			const headers = { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": "2025-11-25" };
			if (s.session) headers["Mcp-Session-Id"] = s.session;
			return request(url, { agent, headers, body: JSON.stringify(msg), sockets, timeout });
		},
		close() { agent.destroy(); },
	};
	const r = await s.post(initMsg(1, "2025-11-25", name));
	assert.equal(r.status, 200, r.text);
	s.session = r.headers["mcp-session-id"];
	assert.ok(s.session, "a session id");
	assert.equal((await s.post({ jsonrpc: "2.0", method: "notifications/initialized" })).status, 202);
	return s;
}

// A fetch for the SDK's transport over a node:http agent, so that its connections can be
// counted: every socket used goes into sockets.
function agentFetch(agent, sockets) {
	return (url, init = {}) => new Promise((resolve, reject) => {
		const u = new URL(url);
		const headers = {};
		new Headers(init.headers).forEach((v, k) => { headers[k] = v; });
		const req = http.request({
			host: u.hostname, port: u.port, path: u.pathname + u.search, method: init.method || "GET", headers, agent,
			signal: init.signal,
		}, (res) => {
			const h = new Headers();
			for (const [k, v] of Object.entries(res.headers)) for (const x of [].concat(v)) h.append(k, x);
			// an empty body is read here: cancelling an unread one would close the connection
			const empty = res.statusCode === 202 || res.statusCode === 204 || res.headers["content-length"] === "0";
			if (empty) res.resume();
			resolve(new Response(empty ? null : Readable.toWeb(res), { status: res.statusCode, headers: h }));
		});
		req.on("socket", (s) => sockets.add(s));
		req.on("error", reject);
		req.end(init.body);
	});
}

// An SDK client (session era) over a keep-alive agent of two sockets: its GET stream and its
// requests, one at a time.
async function sdkClient(url, name) {
	const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
	const sockets = new Set();
	const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: agentFetch(agent, sockets) });
	const client = new Client({ name, version: "1" });
	await withTimeout(client.connect(transport), 10000, `${name} connecting`);
	return { name, client, transport, agent, sockets, async close() { await client.close().catch(() => {}); agent.destroy(); } };
}

// A GET stream of a session on a connection of its own: the messages of its events as they come.
function getStream(url, session) {
	const u = new URL(url);
	return withTimeout(new Promise((resolve, reject) => {
		const req = http.request({
			host: u.hostname, port: u.port, path: u.pathname, method: "GET", agent: false,
			headers: { Accept: "text/event-stream", "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25" },
		}, (res) => {
			if (res.statusCode !== 200) return reject(new Error(`GET stream: ${res.statusCode}`));
			const s = { messages: [], closed: false, socket: req.socket, close() { req.destroy(); } };
			let buf = "";
			res.setEncoding("utf8");
			res.on("data", (d) => {
				buf += d.replace(/\r\n?/g, "\n");
				for (let i; (i = buf.indexOf("\n\n")) >= 0; buf = buf.slice(i + 2)) {
					const ev = parseSseEvent(buf.slice(0, i));
					if (ev.data) s.messages.push(JSON.parse(ev.data));
				}
			});
			res.on("close", () => { s.closed = true; });
			resolve(s);
		});
		req.on("error", reject);
		req.end();
	}), 5000, "the GET stream");
}

// p-th percentile (nearest rank) of sorted numbers, in ms with one decimal.
const percentile = (sorted, p) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] * 10) / 10 : NaN);
const summary = (ms) => {
	const s = [...ms].sort((a, b) => a - b);
	return `n=${s.length} p50=${percentile(s, 50)} p99=${percentile(s, 99)} max=${percentile(s, 100)} ms`;
};

// --- 1. the transport under load ------------------------------------------------------------------

test("transport: ten reloads under load lose no call, no connection, no session, no GET stream", async (t) => {
	const { gw, url } = await httpGateway(t);
	const sdk = [];
	const raw = [];
	t.after(async () => { for (const c of [...sdk, ...raw]) await c.close(); });
	for (let i = 0; i < 4; i++) sdk.push(await sdkClient(url, `sdk${i}`));
	for (let i = 0; i < 3; i++) raw.push(await rawSession(url, `raw${i}`));
	const sdkSessions = sdk.map((c) => c.transport.sessionId);
	assert.ok(sdkSessions.every(Boolean), "every SDK client has a session");
	const stream = await getStream(url, raw[0].session);
	t.after(() => stream.close());

	const calls = []; // { start, end, kind, upstream: the ms the upstream takes on purpose }
	const failures = [];
	const until = performance.now() + 3000;
	const sdkLoop = async (c) => {
		for (let i = 0; performance.now() < until; i++) {
			const kind = ["fast", "slow", "sse"][i % 3];
			const start = performance.now();
			try {
				let progress = 0;
				const opts = { timeout: 15000, onprogress: kind === "sse" ? () => { progress++; } : undefined };
				const params = kind === "fast" ? { name: "f__echo", arguments: { text: `${c.name} ${i}` } }
					: kind === "slow" ? { name: "f__sleep", arguments: { ms: 100 + (i % 4) * 100 } }
						: { name: "f__slow_progress", arguments: { steps: 2, ms: 80 } };
				const res = await c.client.callTool(params, undefined, opts);
				const want = kind === "fast" ? `${c.name} ${i}` : kind === "slow" ? `slept ${params.arguments.ms}` : "progressed 2";
				if (textOf({ result: res }) !== want) throw new Error(`answered ${JSON.stringify(res)}`);
				if (kind === "sse" && progress !== 2) throw new Error(`${progress} progress notifications of 2`);
				calls.push({ start, end: performance.now(), kind, upstream: kind === "fast" ? 0 : kind === "slow" ? params.arguments.ms : 160 });
			} catch (e) {
				failures.push(`${c.name} call ${i} (${kind}): ${e.message}`);
			}
		}
	};
	const rawLoop = async (c) => {
		for (let i = 0; performance.now() < until; i++) {
			const kind = ["slow", "sse", "fast"][i % 3];
			const start = performance.now();
			try {
				const id = 100 + i;
				const msg = kind === "fast" ? callMsg(id, "f__echo", { text: `${c.name} ${i}` })
					: kind === "slow" ? callMsg(id, "f__sleep", { ms: 150 + (i % 3) * 100 })
						: { ...callMsg(id, "f__slow_progress", { steps: 2, ms: 80 }), params: { name: "f__slow_progress", arguments: { steps: 2, ms: 80 }, _meta: { progressToken: `${c.name}-${i}` } } };
				const res = await c.post(msg, 15000);
				if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.text}`);
				const msgs = messagesOf(res);
				const answer = msgs.find((m) => m.id === id);
				const want = kind === "fast" ? `${c.name} ${i}` : kind === "slow" ? `slept ${msg.params.arguments.ms}` : "progressed 2";
				if (textOf(answer ?? {}) !== want) throw new Error(`answered ${res.text.slice(0, 300)}`);
				if (kind === "sse") {
					if (!/^text\/event-stream/.test(res.headers["content-type"])) throw new Error(`not streamed: ${res.headers["content-type"]}`);
					const progress = msgs.filter((m) => m.method === "notifications/progress").length;
					if (progress !== 2) throw new Error(`${progress} progress notifications of 2: ${res.text.slice(0, 400)}`);
				}
				calls.push({ start, end: performance.now(), kind, upstream: kind === "fast" ? 0 : kind === "slow" ? msg.params.arguments.ms : 160 });
			} catch (e) {
				failures.push(`${c.name} call ${i} (${kind}): ${e.message}`);
			}
		}
	};
	const swaps = [];
	const reloads = (async () => {
		await pause(200);
		for (let k = 0; k < 10; k++) {
			swaps.push(await reloadOk(gw));
			await pause(220);
		}
	})();
	await Promise.all([...sdk.map(sdkLoop), ...raw.map(rawLoop), reloads]);

	assert.deepEqual(failures, [], `no call failed${tail(gw)}`);
	assert.equal(swaps.length, 10);
	const plugin = await httpPlugin(gw);
	assert.equal(plugin.generation, 11, JSON.stringify(plugin));
	assert.equal(count(gw.stderrText(), "info swap: old generation drained instance=\"transport "), 10, tail(gw));

	// the same connections throughout: one socket per raw client, at most two per SDK client, none closed
	for (const c of raw) {
		assert.equal(c.sockets.size, 1, `${c.name} used one connection`);
		assert.ok([...c.sockets].every((s) => !s.destroyed), `${c.name}'s connection is open`);
	}
	for (const c of sdk) {
		assert.ok(c.sockets.size <= 2, `${c.name} used ${c.sockets.size} connections (its GET stream and its requests)`);
		assert.ok([...c.sockets].every((s) => !s.destroyed), `${c.name}'s connections are open`);
	}
	// the sessions go on, and the GET stream opened before the reloads hears of a change after them
	assert.deepEqual(sdk.map((c) => c.transport.sessionId), sdkSessions, "the SDK clients kept their sessions");
	for (const c of sdk) assert.equal(textOf({ result: await c.client.callTool({ name: "f__echo", arguments: { text: "after" } }) }), "after");
	const added = await raw[1].post(callMsg(900, "f__add_tool", { name: "added_after_swaps" }));
	assert.equal(textOf(messagesOf(added)[0]), "added added_after_swaps", added.text);
	await waitFor(() => stream.messages.some((m) => m.method === "notifications/tools/list_changed"),
		{ timeout: 5000, what: `tools/list_changed on the GET stream (got ${JSON.stringify(stream.messages)})${tail(gw)}` });
	assert.equal(stream.closed, false, "the GET stream is still open");
	assert.equal(raw[0].sockets.size, 1);

	const overlapping = calls.filter((c) => swaps.some((s) => c.start <= s.t1 && c.end >= s.t0));
	const apart = calls.filter((c) => !overlapping.includes(c));
	assert.ok(overlapping.length > 0, "some calls were in flight during a swap");
	// latency, and latency over the time the upstream takes on purpose (sleep, progress steps)
	const lat = (cs) => summary(cs.map((c) => c.end - c.start));
	const over = (cs) => summary(cs.map((c) => c.end - c.start - c.upstream));
	t.diagnostic(`${calls.length} calls, ${swaps.length} swaps (handover ${summary(swaps.map((s) => s.body.instances[0].handover_ms))}, reload round trip ${summary(swaps.map((s) => s.t1 - s.t0))})`);
	t.diagnostic(`calls in flight during a swap: latency ${lat(overlapping)}; over the upstream's own time ${over(overlapping)}`);
	t.diagnostic(`the other calls:               latency ${lat(apart)}; over the upstream's own time ${over(apart)}`);
	for (const kind of ["fast", "slow", "sse"]) {
		const o = overlapping.filter((c) => c.kind === kind);
		const a = apart.filter((c) => c.kind === kind);
		t.diagnostic(`  ${kind}: during a swap ${over(o)}; other ${over(a)} (over the upstream's own time)`);
	}
	for (const c of [...sdk, ...raw]) await c.close();
	stream.close();
	await shutdown(gw);
});

// --- 2. the provider ---------------------------------------------------------------------------------

test("provider: calls in flight finish on the old generation; the upstream session stays", async (t) => {
	const up = startProcess([nodeBin(), serverPath("faulty.mjs")],
		{ FAULTY_HTTP_PORT: "0", FAULTY_FEATURES: "1", FAULTY_NAME: "up", ...SWAP_TOOLS });
	t.after(() => killAll(up));
	const port = (await waitFor(() => /faulty listening port=(\d+)/.exec(up.stderrText()) || up.exitStatus(),
		{ timeout: 10000, what: "faulty listening on HTTP" }))[1];
	assert.ok(port, `faulty over HTTP runs: ${up.stderrText()}`);
	const upLog = () => up.stderrText();
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({ config: luaConfig({
		log_level: "info", admin: sock, providers: [{ name: "up", transport: "http", url: `http://127.0.0.1:${port}/mcp` }],
	}) });
	gw.sock = sock;
	t.after(() => killAll(gw));
	await gw.initialize();
	await waitFor(() => /registry: listed provider=up list=tools /.test(gw.stderrText()), { timeout: 10000, what: `the tools of up${tail(gw)}` });
	const getOpen = () => count(upLog(), "faulty get-stream open ");
	const getClosed = () => count(upLog(), "faulty get-stream closed ");
	await waitFor(() => getOpen() === 1, { timeout: 5000, what: "the provider's GET stream" });
	const sid = textOf(await call(gw, "up__session_id"));
	assert.match(sid, /^[0-9a-f-]{36}$/, "the upstream's session id");

	// three calls in flight upstream at the switch, each confirmed waiting there
	const blocked = ["k1", "k2", "k3"].map((key) => call(gw, "up__block", { key }, { timeout: 20000 }));
	for (const key of ["k1", "k2", "k3"]) assert.equal(textOf(await call(gw, "up__await_block", { key })), `waiting ${key}`);
	const r1 = await reloadOk(gw);
	assert.deepEqual(r1.body.instances.map((i) => i.role), ["provider"]);
	// the old generation is draining: it keeps the three calls; what comes now goes to the successor
	const plugins = (await admin(sock, "plugins")).body.plugins.filter((p) => p.name === "http");
	assert.deepEqual(plugins.map((p) => [p.generation, p.state, p.instances.map((i) => i.state)]).sort(),
		[[1, "superseded", ["draining"]], [2, "current", ["running"]]], JSON.stringify(plugins));
	assert.equal(textOf(await call(gw, "up__echo", { text: "through the successor" })), "through the successor");
	assert.equal(textOf(await call(gw, "up__session_id")), sid, "the successor speaks in the same upstream session");
	for (const key of ["k1", "k2", "k3"]) assert.equal(textOf(await call(gw, "up__release", { key })), "released 1");
	const answers = await withTimeout(Promise.all(blocked), 10000, "the calls kept by the old generation");
	assert.deepEqual(answers.map(textOf), ["unblocked k1", "unblocked k2", "unblocked k3"], JSON.stringify(answers));
	await waitFor(() => /info swap: old generation drained instance="provider up" generation=1/.test(gw.stderrText()),
		{ timeout: 5000, what: `the old generation drained${tail(gw)}` });
	await waitFor(() => /info plugin: unloaded plugin=http generation=1/.test(gw.stderrText()), { timeout: 5000, what: "generation 1 unloaded" });
	assert.equal(textOf(await call(gw, "up__echo", { text: "only the successor now" })), "only the successor now");

	// a call kept by the old generation is cancelled by its client: the old generation tells the
	// upstream, and is done at once
	const cancelled = "cancel-me";
	gw.send({ jsonrpc: "2.0", id: cancelled, method: "tools/call", params: { name: "up__block", arguments: { key: "kc" } } });
	assert.equal(textOf(await call(gw, "up__await_block", { key: "kc" })), "waiting kc");
	await reloadOk(gw);
	gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: cancelled, reason: "changed my mind" } });
	await waitFor(() => /info swap: old generation drained instance="provider up" generation=2/.test(gw.stderrText()),
		{ timeout: 5000, what: `generation 2 drained after the cancel${tail(gw)}` });
	assert.equal(textOf(await call(gw, "up__release", { key: "kc" })), "released 0", "the upstream dropped the cancelled call");

	// more reloads, nothing in flight
	await reloadOk(gw);
	await reloadOk(gw);
	assert.equal((await httpPlugin(gw)).generation, 5);
	assert.equal(textOf(await call(gw, "up__session_id")), sid, "the same upstream session after four reloads");
	assert.equal(count(upLog(), "faulty session initialized "), 1, `the upstream saw one initialize: ${upLog()}`);
	assert.equal(count(gw.stderrText(), "info http: upstream ready provider=up "), 1, "the provider initialized once");

	// the GET stream: closed by each old generation, opened by each successor; one open at a time,
	// so a notification is heard once
	await waitFor(() => getOpen() === 5 && getClosed() === 4, { timeout: 10000, what: `one GET stream per generation (${getOpen()} opened, ${getClosed()} closed): ${upLog()}` });
	const relists = () => count(gw.stderrText(), "registry: listed provider=up list=tools ");
	const before = relists();
	for (let k = 1; k <= 2; k++) {
		assert.equal(textOf(await call(gw, "up__announce", { list: "tools" })), "announced tools");
		await waitFor(() => relists() >= before + k, { timeout: 5000, what: `relist ${k} after tools/list_changed${tail(gw)}` });
	}
	assert.equal(relists(), before + 2, "each tools/list_changed was delivered once");

	assert.deepEqual(await gw.close({ timeout: 10000 }), { code: 0, signal: null }, tail(gw));
	assert.doesNotMatch(gw.stderrText(), /ERROR: (Address|Leak)Sanitizer|runtime error:/, tail(gw));
	assert.equal(gw.unconsumed().filter((m) => m.id === cancelled).length, 0, "no answer to the cancelled call");
});

// A TCP proxy to 127.0.0.1:port that holds every connection (what it sends waits) until
// release() is called; from then on it passes everything through.
async function holdingProxy(port) {
	let release;
	const released = new Promise((resolve) => { release = resolve; });
	const proxy = { held: 0, release, sockets: new Set() };
	const server = net.createServer((client) => {
		proxy.sockets.add(client);
		const chunks = [];
		const keep = (d) => { chunks.push(d); };
		client.on("data", keep);
		client.on("error", () => {});
		proxy.held++;
		released.then(() => {
			const up = net.connect(port, "127.0.0.1", () => {
				client.off("data", keep);
				for (const c of chunks) up.write(c);
				client.pipe(up);
				up.pipe(client);
			});
			proxy.sockets.add(up);
			up.on("error", () => client.destroy());
			up.on("close", () => client.destroy());
			client.on("close", () => up.destroy());
		});
	});
	await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
	proxy.port = server.address().port;
	proxy.close = () => { for (const s of proxy.sockets) s.destroy(); server.close(); };
	return proxy;
}

test("provider: a reload during the upstream handshake waits for it, and the successor does not initialize again", async (t) => {
	const up = startProcess([nodeBin(), serverPath("faulty.mjs")], { FAULTY_HTTP_PORT: "0", FAULTY_NAME: "up", ...SWAP_TOOLS });
	t.after(() => killAll(up));
	const port = (await waitFor(() => /faulty listening port=(\d+)/.exec(up.stderrText()) || up.exitStatus(),
		{ timeout: 10000, what: "faulty listening on HTTP" }))[1];
	const proxy = await holdingProxy(Number(port));
	t.after(() => proxy.close());
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({ config: luaConfig({
		log_level: "info", admin: sock, providers: [{ name: "up", transport: "http", url: `http://127.0.0.1:${proxy.port}/mcp` }],
	}) });
	gw.sock = sock;
	t.after(() => killAll(gw));
	// initialize is answered once the provider has started (its capabilities count)
	const initialized = gw.initialize();
	await waitFor(() => proxy.held > 0, { timeout: 10000, what: "the provider's first request, held" });
	const reloading = reload(gw);
	// both generations are listed now: the old one's provider waits for its handshake
	await waitFor(async () => (await admin(sock, "plugins")).body.plugins.filter((p) => p.name === "http")
		.some((p) => p.generation === 1 && p.instances[0]?.state === "handing over"), { timeout: 5000, what: "the provider handing over" });
	proxy.release();
	const r = await reloading;
	assert.equal(r.code, 200, JSON.stringify(r.body));
	assert.equal(r.body.instances[0].result, "swapped", JSON.stringify(r.body));
	await initialized;
	await waitFor(() => /registry: listed provider=up list=tools /.test(gw.stderrText()), { timeout: 10000, what: `the tools of up${tail(gw)}` });
	const first = textOf(await call(gw, "up__session_id"));
	assert.match(first, /^[0-9a-f-]{36}$/);
	assert.equal(textOf(await call(gw, "up__echo", { text: "after the handshake" })), "after the handshake");
	assert.equal(count(up.stderrText(), "faulty session initialized "), 1, up.stderrText());
	assert.equal(count(gw.stderrText(), "info http: upstream ready provider=up "), 1, "the old generation initialized, once");
	// only the successor opens the GET stream
	await waitFor(() => count(up.stderrText(), "faulty get-stream open ") === 1, { timeout: 5000, what: "the GET stream" });
	assert.equal(count(up.stderrText(), "faulty get-stream closed "), 0);
	assert.deepEqual(await gw.close({ timeout: 10000 }), { code: 0, signal: null }, tail(gw));
	assert.doesNotMatch(gw.stderrText(), /ERROR: (Address|Leak)Sanitizer|runtime error:/, tail(gw));
});

// --- 3. a request half-sent at the switch ----------------------------------------------------------

// A raw connection: what it received so far, and a way to wait for more.
function rawConnection(url) {
	const u = new URL(url);
	return new Promise((resolve, reject) => {
		const sock = net.connect(Number(u.port), u.hostname, () => {
			const c = { sock, received: "", writeRaw: (s) => sock.write(s) };
			sock.setEncoding("latin1");
			sock.on("data", (d) => { c.received += d; });
			c.until = (pred, what, timeout = 10000) => waitFor(() => pred(c.received), { timeout, what: `${what} (received ${JSON.stringify(c.received.slice(0, 300))})` });
			resolve(c);
		});
		sock.on("error", reject);
	});
}

// One whole HTTP/1.1 response (Content-Length or chunked) at the start of text after skip bytes,
// or null while incomplete: { status, headers, body, end }.
function parseResponse(text, skip = 0) {
	const headEnd = text.indexOf("\r\n\r\n", skip);
	if (headEnd < 0) return null;
	const [statusLine, ...lines] = text.slice(skip, headEnd).split("\r\n");
	const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
	let pos = headEnd + 4;
	let body = "";
	if (headers["content-length"] !== undefined) {
		const n = Number(headers["content-length"]);
		if (text.length < pos + n) return null;
		body = text.slice(pos, pos + n);
		pos += n;
	} else if (headers["transfer-encoding"] === "chunked") {
		for (;;) {
			const nl = text.indexOf("\r\n", pos);
			if (nl < 0) return null;
			const n = parseInt(text.slice(pos, nl), 16);
			if (text.length < nl + 2 + n + 2) return null;
			body += text.slice(nl + 2, nl + 2 + n);
			pos = nl + 2 + n + 2;
			if (n === 0) break;
		}
	}
	return { status: Number(statusLine.split(" ")[1]), headers, body, end: pos };
}

test("a request half-sent when the swap happens is answered whole by the successor", async (t) => {
	const { gw, url } = await httpGateway(t);
	const s = await rawSession(url, "half");
	t.after(() => s.close());
	const host = new URL(url).host;
	const c = await rawConnection(url);
	t.after(() => c.sock.destroy());

	// headers and half of the body: the 100 Continue says the gateway read the headers
	const text = "é".repeat(3000) + " across the swap " + "z".repeat(3000);
	const body = Buffer.from(JSON.stringify(callMsg(7, "f__echo", { text })));
	const head = `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nAccept: ${ACCEPT_BOTH}\r\nContent-Type: application/json\r\n` +
		`Mcp-Session-Id: ${s.session}\r\nMCP-Protocol-Version: 2025-11-25\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`;
	const half = Math.floor(body.length / 2);
	c.sock.write(Buffer.concat([Buffer.from(head), body.subarray(0, half)]));
	await c.until((r) => r.startsWith("HTTP/1.1 100 Continue\r\n\r\n"), "100 Continue");
	const r = await reloadOk(gw);
	assert.ok(r.body.instances[0].state_bytes > half, `the request so far was handed over (${r.body.instances[0].state_bytes} bytes of state)`);
	c.sock.write(body.subarray(half));
	const skip = "HTTP/1.1 100 Continue\r\n\r\n".length;
	await c.until((x) => parseResponse(x, skip), "the answer");
	const res = parseResponse(c.received, skip);
	assert.equal(res.status, 200, c.received.slice(0, 500));
	assert.deepEqual(JSON.parse(Buffer.from(res.body, "latin1").toString()), { jsonrpc: "2.0", id: 7, result: { content: [{ type: "text", text }] } });
	assert.equal(count(c.received, "100 Continue"), 1, "one 100 Continue, though parsed twice");

	// the same connection, split within the request line and headers this time
	const second = Buffer.from(JSON.stringify(callMsg(8, "f__echo", { text: "second" })));
	const head2 = `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nAccept: ${ACCEPT_BOTH}\r\nContent-Type: application/json\r\n` +
		`Mcp-Session-Id: ${s.session}\r\nContent-Length: ${second.length}\r\n\r\n`;
	const mark = c.received.length;
	c.sock.write(head2.slice(0, 40));
	await reloadOk(gw);
	c.sock.write(Buffer.concat([Buffer.from(head2.slice(40)), second]));
	await c.until((x) => parseResponse(x, mark), "the second answer");
	const res2 = parseResponse(c.received, mark);
	assert.equal(res2.status, 200);
	assert.equal(textOf(JSON.parse(res2.body)), "second");
	assert.equal((await httpPlugin(gw)).generation, 3);
	c.sock.destroy();
	s.close();
	await shutdown(gw);
});

// --- 4. a client that does not read: the handover times out, the old generation serves on -----------

// The bytes received and not yet read by the process on the socket with local port p, from
// /proc/net/tcp (rx_queue); -1 if there is none.
// (an earlier connection in TIME_WAIT may have had the same local port: only an established
// one, state 01, is ours)
function rxQueue(port) {
	for (const line of fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
		const cols = line.trim().split(/\s+/);
		if (cols.length > 4 && parseInt(cols[1].split(":")[1], 16) === port && cols[3] === "01") return parseInt(cols[4].split(":")[1], 16);
	}
	return -1;
}

test("resume: a client that does not read makes the handover time out; the old generation serves on", async (t) => {
	const BIG = 12 * 1024 * 1024;
	const { gw, url } = await httpGateway(t, {
		handover_timeout_ms: 300,
		listen: [{ url: "http://127.0.0.1:0/mcp", max_write_queue_bytes: 64 * 1024 * 1024 }],
		providers: [upstreamOf("f", {})].map((p) => ({ ...p, max_message_bytes: 64 * 1024 * 1024 })),
	});
	const other = await rawSession(url, "other");
	t.after(() => other.close());
	const sdk = await sdkClient(url, "sdk-other");
	t.after(() => sdk.close());
	const stream = await getStream(url, other.session);
	t.after(() => stream.close());
	const echo = async (what) => {
		const r = await other.post(callMsg(2, "f__echo", { text: what }));
		assert.equal(textOf(messagesOf(r)[0]), what, r.text);
	};
	await echo("before");

	// a client asks for 12 MB and does not read them
	const slow = await rawConnection(url);
	t.after(() => slow.sock.destroy());
	slow.sock.pause();
	const body = JSON.stringify(callMsg(3, "f__big", { bytes: BIG }));
	slow.sock.write(`POST /mcp HTTP/1.1\r\nHost: ${new URL(url).host}\r\nAccept: ${ACCEPT_BOTH}\r\nContent-Type: application/json\r\n` +
		`Mcp-Session-Id: ${other.session}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
	// 12 MB do not fit in the two sockets' buffers: once some of the answer waits unread in the
	// client's socket (how much depends on how far its receive buffer grew before the pause),
	// the rest waits in the gateway's write queue
	await waitFor(() => rxQueue(slow.sock.localPort) >= 32768, { timeout: 15000, what: `the big answer stuck in the client's socket${tail(gw)}` });

	const r = await reload(gw);
	assert.equal(r.code, 409, JSON.stringify(r.body));
	assert.match(JSON.stringify(r.body), /handover_timeout_ms/, JSON.stringify(r.body));
	assert.ok(r.t1 - r.t0 >= 250, `the handover waited for the deadline (${Math.round(r.t1 - r.t0)} ms)`);
	const plugin = await httpPlugin(gw);
	assert.equal(plugin.generation, 1, JSON.stringify(plugin));
	assert.deepEqual(plugin.instances.map((i) => i.state), ["running"]);

	// every client is served as before
	await echo("after");
	assert.equal(textOf({ result: await sdk.client.callTool({ name: "f__echo", arguments: { text: "sdk after" } }) }), "sdk after");
	const added = await other.post(callMsg(4, "f__add_tool", { name: "added_after_resume" }));
	assert.equal(textOf(messagesOf(added)[0]), "added added_after_resume");
	await waitFor(() => stream.messages.some((m) => m.method === "notifications/tools/list_changed"), { timeout: 5000, what: "list_changed on the GET stream" });
	slow.sock.resume();
	await slow.until((x) => parseResponse(x), "the whole big answer", 30000);
	const res = parseResponse(slow.received);
	assert.equal(res.status, 200);
	assert.equal(textOf(JSON.parse(res.body)).length, BIG);
	assert.equal(other.sockets.size, 1, "the same connection throughout");
	assert.equal(sdk.sockets.size <= 2 && [...sdk.sockets].every((s) => !s.destroyed), true, "the SDK client's connections stayed");

	// with nothing queued, the next reload goes through
	await reloadOk(gw);
	await echo("swapped at last");
	slow.sock.destroy();
	other.close();
	stream.close();
	await sdk.close();
	await shutdown(gw);
});

// --- 5. a successor that fails to start: the old generation takes everything back -------------------

const openFds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;

test("resume: a successor that cannot take the sockets over fails; the duplicates are closed and all goes on", async (t) => {
	// a limit on descriptors (soft and hard: the gateway raises its soft limit to the hard one) that
	// the predecessor's duplicates fit in, and the successor's not
	const LIMIT = 160;
	const sock = path.join(scratchDir(), "admin.sock");
	const config = luaConfig({ log_level: "info", admin: sock, listen: ["http://127.0.0.1:0/mcp"], providers: [upstreamOf("f")] });
	const gw = startProcess(["/bin/sh", "-c", `ulimit -Sn ${LIMIT} && ulimit -Hn ${LIMIT} && exec "$0" -c "$1"`, mcpfedBin(), config]);
	gw.sock = sock;
	t.after(() => killAll(gw));
	const url = (await waitFor(() => / info http: listening url=(\S+)/.exec(gw.stderrText())?.[1] || gw.exitStatus(),
		{ timeout: 15000, what: `the listening line${tail(gw)}` }));
	assert.equal(typeof url, "string", tail(gw));
	await waitFor(() => /registry: listed provider=f list=tools /.test(gw.stderrText()), { timeout: 15000, what: "the tools of f" });
	const s = await rawSession(url, "limited");
	t.after(() => s.close());
	const stream = await getStream(url, s.session);
	t.after(() => stream.close());

	// idle connections until the gateway's free descriptors are between one and two sets of duplicates
	const u = new URL(url);
	const extra = [];
	t.after(() => { for (const c of extra) c.destroy(); });
	const conns = () => 2 + extra.length;   // the session's and the GET stream's, and the extra ones
	for (;;) {
		const open = openFds(gw.pid);
		const free = LIMIT - open - 1;   // the admin connection takes one
		if (free < 2 * (conns() + 1) - 3) break;
		const c = net.connect(Number(u.port), u.hostname);
		extra.push(c);
		await waitFor(() => openFds(gw.pid) === open + 1, { timeout: 5000, what: "the gateway accepting a connection" });
	}
	const before = openFds(gw.pid);
	assert.ok(LIMIT - before - 1 >= conns() + 1 && LIMIT - before - 1 < 2 * (conns() + 1),
		`free descriptors (${LIMIT - before - 1}) fit one set of duplicates (${conns() + 1}), not two`);

	const r = await reload(gw);
	assert.equal(r.code, 409, JSON.stringify(r.body));
	assert.match(JSON.stringify(r.body), /generation 2 failed to start: cannot (duplicate|take over)/, JSON.stringify(r.body));
	await waitFor(() => openFds(gw.pid) === before, { timeout: 5000, what: `the duplicates closed (${openFds(gw.pid)} open, ${before} before)` });
	const plugin = await httpPlugin(gw);
	assert.deepEqual([plugin.generation, plugin.state, plugin.instances.map((i) => i.state)], [1, "current", ["running"]]);

	// every client is served as before, on its connection
	const r1 = await s.post(callMsg(5, "f__echo", { text: "still here" }));
	assert.equal(textOf(messagesOf(r1)[0]), "still here", r1.text);
	const c0 = await rawConnection(url);
	t.after(() => c0.sock.destroy());
	const probe = extra[0];
	let got = "";
	probe.setEncoding("latin1");
	probe.on("data", (d) => { got += d; });
	probe.write(`OPTIONS /mcp HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
	await waitFor(() => parseResponse(got), { timeout: 5000, what: `an answer on an idle connection (${got})` });
	assert.equal(parseResponse(got).status, 204, got);
	await s.post(callMsg(6, "f__add_tool", { name: "added_after_failed_swap" }));
	await waitFor(() => stream.messages.some((m) => m.method === "notifications/tools/list_changed"), { timeout: 5000, what: "list_changed on the GET stream" });
	assert.equal(s.sockets.size, 1);

	// with fewer connections it goes through
	for (const c of extra) c.destroy();
	c0.sock.destroy();
	await waitFor(() => openFds(gw.pid) <= before - extra.length, { timeout: 5000, what: "the idle connections closed" });
	await reloadOk(gw);
	const r2 = await s.post(callMsg(7, "f__echo", { text: "swapped" }));
	assert.equal(textOf(messagesOf(r2)[0]), "swapped", r2.text);
	s.close();
	stream.close();
	await shutdown(gw);
});
