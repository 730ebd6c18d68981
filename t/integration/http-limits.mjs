// What the Streamable HTTP listener and provider promise beyond the everyday exchange:
// IPv4 and IPv6 listeners at once, the embedded default configuration on loopback only,
// bounded replay buffers and what a resumption from further back gets, resuming a POST's SSE
// stream with Last-Event-ID, configured origins and hosts, max_connections and max_sessions,
// an idle session's upstream subscriptions released, and upstream: re-initializing when the
// upstream forgot its session, TLS verification (refused without the CA, served with
// ca_file), HTTP/2 over TLS and connection reuse over HTTP/1.1.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/http-limits.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import {
	faulty, killAll, logTail, mcpfedBin, nodeBin, scratchDir, serverPath, startProcess, waitFor, withTimeout,
} from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg, startHttpGateway } from "../lib/http.mjs";

const V = "2025-11-25";
const IDLE_MS = 500;
const REPLAY_EVENTS = 5;
const REPLAY_BYTES = 4000;

// Whether this machine can listen on ::1 (a container may have no IPv6 loopback).
const ipv6 = await new Promise((resolve) => {
	const s = net.createServer();
	s.once("error", () => resolve(false));
	s.listen(0, "::1", () => s.close(() => resolve(true)));
});

let gw;
let urls; // by name, see LISTENERS
const procs = [];
const servers = [];
const log = () => logTail(gw?.stderrText(), 4000);
const bounded = (p, what, ms = 5000) => withTimeout(p, ms, what, log);
const { post, plain, openStream, sseOf } = endpointClient(() => urls.main, bounded);

const LISTENERS = [
	["main", "http://127.0.0.1:0/mcp"],
	["v6", ipv6 ? "http://[::1]:0/mcp" : null],
	["origins", { url: "http://127.0.0.1:0/origins", allowed_origins: ["https://app.example.com"] }],
	["anyOrigin", { url: "http://127.0.0.1:0/any", allowed_origins: ["*"] }],
	["hosts", { url: "http://127.0.0.1:0/hosts", allowed_hosts: ["mcp.example.com"] }],
	["few", { url: "http://127.0.0.1:0/few", max_sessions: 2 }],
	["conns", { url: "http://127.0.0.1:0/conns", max_connections: 2 }],
	["events", { url: "http://127.0.0.1:0/events", replay_events: REPLAY_EVENTS }],
	["bytes", { url: "http://127.0.0.1:0/bytes", replay_bytes: REPLAY_BYTES }],
	["idle", { url: "http://127.0.0.1:0/idle", session_idle_ms: IDLE_MS }],
].filter(([, l]) => l);

before(async () => {
	const started = await startHttpGateway({
		log_level: "debug",
		listen: LISTENERS.map(([, l]) => l),
		providers: [faulty("f", { env: { FAULTY_FEATURES: "1", FAULTY_SWAP_TOOLS: "1" } })],
	}, { timeout: 10000, listed: ["f"] });
	gw = started.gw;
	urls = Object.fromEntries(LISTENERS.map(([name], i) => [name, started.urls[i]]));
});

after(async () => {
	await killAll(gw, ...procs);
	for (const s of servers) s.close();
});

async function newSession(to = urls.main) {
	const r = await post(initMsg(1, V, "http-limits"), { to });
	assert.equal(r.status, 200, r.text);
	const sid = r.headers.get("mcp-session-id");
	assert.ok(sid, r.text);
	const n = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version: V, to });
	assert.equal(n.status, 202, n.text);
	return sid;
}

// A tool call in a session: its JSON-RPC answer.
async function callIn(sid, name, args = {}, to = urls.main) {
	const r = await post(callMsg(randomUUID(), name, args), { session: sid, version: V, to });
	assert.equal(r.status, 200, r.text);
	return r.json;
}
const textIn = async (sid, name, args, to) => (await callIn(sid, name, args, to)).result?.content?.[0]?.text;

// --- listeners ------------------------------------------------------------------------------

test("IPv4 and IPv6 listeners at once both serve MCP", { skip: !ipv6 && "no IPv6 loopback here: listening on ::1 from node failed" }, async () => {
	assert.match(urls.v6, /^http:\/\/\[::1\]:\d+\/mcp$/);
	for (const to of [urls.main, urls.v6]) {
		const sid = await newSession(to);
		assert.equal(await textIn(sid, "f__echo", { text: `via ${to}` }, to), `via ${to}`);
	}
	// the IPv6 socket is not also an IPv4 one: connecting to its port on 127.0.0.1 fails
	const port6 = Number(new URL(urls.v6).port);
	const err = await new Promise((resolve) => {
		const s = net.connect({ host: "127.0.0.1", port: port6 }, () => { s.destroy(); resolve(null); });
		s.once("error", resolve);
	});
	if (port6 !== Number(new URL(urls.main).port)) assert.equal(err?.code, "ECONNREFUSED", `127.0.0.1:${port6}`);
});

// The TCP sockets pid listens on: [{ family, addr, port }] from /proc/net/tcp{,6}.
function listeningSockets(pid) {
	const inodes = new Set();
	for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
		try {
			const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
			if (m) inodes.add(m[1]);
		} catch {} // raced close
	}
	const out = [];
	for (const [family, file] of [[4, "/proc/net/tcp"], [6, "/proc/net/tcp6"]]) {
		let lines = [];
		try { lines = fs.readFileSync(file, "utf8").split("\n").slice(1); } catch {}
		for (const line of lines) {
			const f = line.trim().split(/\s+/);
			if (f.length < 10 || f[3] !== "0A" || !inodes.has(f[9])) continue; // 0A: LISTEN
			const [hex, port] = f[1].split(":");
			const addr = family === 4
				? hex.match(/../g).reverse().map((b) => parseInt(b, 16)).join(".")
				: hex;
			out.push({ family, addr, port: parseInt(port, 16) });
		}
	}
	return out;
}

test("the embedded default configuration listens on 127.0.0.1:8808 (MCP) and 127.0.0.1:9808 (metrics) only", async (t) => {
	const isFree = (port) => new Promise((resolve) => {
		const s = net.createServer();
		s.once("error", () => resolve(false));
		s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
	});
	for (const port of [8808, 9808])
		if (!await isFree(port)) return t.skip(`127.0.0.1:${port} is in use on this machine, and the default configuration listens there`);
	// Its provider runs "npx -y @modelcontextprotocol/server-everything": an npx of the
	// test's own, first in PATH, records its arguments and runs faulty instead (no network).
	const dir = scratchDir();
	const npx = path.join(dir, "npx");
	fs.writeFileSync(npx, `#!/bin/sh\nprintf '%s\\n' "$*" > "${dir}/npx-args"\nexec "${nodeBin()}" "${serverPath("faulty.mjs")}"\n`);
	fs.chmodSync(npx, 0o755);
	// its admin socket in the scratch directory, not the machine's /run/mcpfed
	const d = startProcess([mcpfedBin()], { PATH: `${dir}:${process.env.PATH}`, XDG_RUNTIME_DIR: dir, RUNTIME_DIRECTORY: undefined });
	procs.push(d);
	const dlog = () => logTail(d.stderrText(), 3000);
	await waitFor(() => /info http: listening url=http:\/\/127\.0\.0\.1:8808\/mcp/.test(d.stderrText()) || d.exitStatus(),
		{ timeout: 10000, what: "the default listener" });
	assert.equal(d.exitStatus(), undefined, `the default configuration runs${dlog()}`);
	await waitFor(() => /registry: listed provider=everything list=tools /.test(d.stderrText()),
		{ timeout: 10000, what: `the default provider listed${dlog()}` });
	assert.equal(fs.readFileSync(path.join(dir, "npx-args"), "utf8").trim(), "-y @modelcontextprotocol/server-everything");

	assert.deepEqual(listeningSockets(d.pid).sort((a, b) => a.port - b.port),
		[{ family: 4, addr: "127.0.0.1", port: 8808 }, { family: 4, addr: "127.0.0.1", port: 9808 }], `its listening sockets${dlog()}`);
	assert.ok(fs.statSync(path.join(dir, "mcpfed", "admin.sock")).isSocket(), "its admin socket under XDG_RUNTIME_DIR");
	// from the machine's other addresses, nothing answers on 8808
	const others = Object.values(os.networkInterfaces()).flat().filter((a) => !a.internal && a.family === "IPv4");
	for (const a of others) {
		for (const port of [8808, 9808]) {
			const err = await new Promise((resolve) => {
				const s = net.connect({ host: a.address, port }, () => { s.destroy(); resolve(null); });
				s.once("error", resolve);
			});
			assert.equal(err?.code, "ECONNREFUSED", `${a.address}:${port} refused`);
		}
	}
	// and it serves MCP on loopback
	const r = await post(initMsg(1, V, "default-config"), { to: "http://127.0.0.1:8808/mcp" });
	assert.equal(r.status, 200, r.text + dlog());
	assert.equal(r.json.result.serverInfo.name, "mcpfed");
	// beside the upstream, the tools mcpfed serves itself: SQL over the example shop
	// database and the example files, which answer with no network
	const sh = { session: r.headers.get("mcp-session-id"), version: V, to: "http://127.0.0.1:8808/mcp" };
	await post({ jsonrpc: "2.0", method: "notifications/initialized" }, sh);
	const list = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, sh);
	const names = list.json.result.tools.map((x) => x.name);
	for (const n of ["everything__echo", "shop__query", "shop__tables", "examples__read", "examples__search", "py__stats"])
		assert.ok(names.includes(n), `${n} in the default's tools: ${names}`);
	const tables = await post({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "shop__tables", arguments: {} } }, sh);
	assert.ok(tables.json.result.structuredContent.rows.some((row) => row[0] === "products"), tables.text);
	const read = await post({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "examples__read", arguments: { path: "shop.sql" } } }, sh);
	assert.match(read.json.result.content[0].text, /CREATE TABLE/, read.text);
	const stats = await post({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "py__stats", arguments: { numbers: [1, 2, 3, 4] } } }, sh);
	assert.equal(stats.json.result.structuredContent.mean, 2.5, stats.text);
	d.kill("SIGTERM");
	assert.deepEqual(await d.waitExit(10000), { code: 0, signal: null }, dlog());
});

// --- origins, hosts, connections, sessions ---------------------------------------------------

test("allowed_origins: the configured origin is served, another gets 403; \"*\" serves any", async () => {
	const init = (to, origin) => post(initMsg(1, V, "origins"), { to, headers: origin ? { Origin: origin } : {} });
	assert.equal((await init(urls.origins, "https://app.example.com")).status, 200);
	const other = await init(urls.origins, "https://evil.example.com");
	assert.equal(other.status, 403, other.text);
	assert.equal(other.json?.id, null, other.text);
	assert.equal(typeof other.json?.error?.code, "number", other.text);
	// configured origins replace the default: a loopback page is not among them
	assert.equal((await init(urls.origins, "http://localhost:3000")).status, 403);
	assert.equal((await init(urls.origins)).status, 200, "no Origin (not a browser) is served");
	for (const o of ["https://evil.example.com", "http://localhost:3000", "null"])
		assert.equal((await init(urls.anyOrigin, o)).status, 200, `"*" serves Origin ${o}`);
	// the main listener keeps the default: loopback pages only
	assert.equal((await init(urls.main, "https://app.example.com")).status, 403);
});

test("allowed_hosts: the configured Host is served, another (even a loopback name) gets 403", async () => {
	const port = new URL(urls.hosts).port;
	const init = (host) => new Promise((resolve, reject) => {
		const body = JSON.stringify(initMsg(1, V, "hosts"));
		const req = http.request({
			host: "127.0.0.1", port, path: "/hosts", method: "POST",
			headers: { Host: host, Accept: "application/json, text/event-stream", "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
		}, (res) => { res.resume(); res.on("end", () => resolve(res.statusCode)); });
		req.on("error", reject);
		req.end(body);
	});
	assert.equal(await bounded(init(`mcp.example.com:${port}`), "Host mcp.example.com"), 200);
	assert.equal(await bounded(init("mcp.example.com"), "Host mcp.example.com without port"), 200);
	assert.equal(await bounded(init(`evil.example.com:${port}`), "Host evil.example.com"), 403);
	assert.equal(await bounded(init(`127.0.0.1:${port}`), "Host 127.0.0.1"), 403);
});

// A raw TCP connection: what it received, and whether the peer closed it (and how).
function rawConnect(port) {
	return new Promise((resolve, reject) => {
		const s = net.connect({ host: "127.0.0.1", port });
		const c = { s, text: "", ended: false, error: null, wakers: [] };
		const wake = () => { for (const w of c.wakers.splice(0)) w(); };
		s.on("data", (d) => { c.text += d.toString("latin1"); wake(); });
		s.on("end", () => { c.ended = true; wake(); });
		s.on("close", () => { c.ended = true; wake(); });
		s.on("error", (e) => { c.error = e; wake(); });
		c.until = (fn, what, ms = 5000) => bounded(new Promise((res) => {
			const check = () => (fn() ? res() : c.wakers.push(check));
			check();
		}), `${what}; received ${JSON.stringify(c.text.slice(0, 300))}`, ms);
		s.once("connect", () => resolve(c));
		s.once("error", reject);
	});
}
// The statuses of the responses in text (a JSON body has no line end after it).
const statusesOf = (text) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));

test("max_connections: one more connection gets 503 and is closed cleanly; a freed place is taken again", async () => {
	const port = Number(new URL(urls.conns).port);
	const get = `GET /conns HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`;
	const held = [];
	for (let i = 0; i < 2; i++) {
		const c = await rawConnect(port);
		held.push(c);
		c.s.write(get); // no session: 400, and the connection is kept alive
		await c.until(() => statusesOf(c.text).length === 1, `the answer on connection ${i + 1}`);
		assert.deepEqual(statusesOf(c.text), [400]);
	}
	const third = await rawConnect(port);
	await third.until(() => third.ended, "the third connection to be closed");
	assert.deepEqual(statusesOf(third.text), [503], third.text);
	assert.match(third.text, /\r\n\r\ntoo many connections\n$/);
	assert.equal(third.error, null, `closed without a reset: ${third.error}`);
	// the two held connections still serve
	for (const c of held) {
		c.s.write(get);
		await c.until(() => statusesOf(c.text).length === 2, "a second answer on a held connection");
		assert.deepEqual(statusesOf(c.text), [400, 400]);
	}
	held[0].s.end();
	await held[0].until(() => held[0].ended, "the server's end of the released connection");
	// the place is free once the gateway has closed its side; then a new connection is served
	await waitFor(async () => {
		const c = await rawConnect(port);
		try {
			c.s.write(get);
			await c.until(() => statusesOf(c.text).length === 1, "an answer");
			return statusesOf(c.text)[0] === 400;
		} finally {
			c.s.destroy();
		}
	}, { timeout: 5000, what: "a connection served again" });
	held[1].s.destroy();
});

test("max_sessions: one more initialize gets 503 with a JSON-RPC error; after a DELETE a new session is accepted", async () => {
	const a = await newSession(urls.few);
	await newSession(urls.few);
	const over = await post(initMsg(7, V, "one-too-many"), { to: urls.few });
	assert.equal(over.status, 503, over.text);
	assert.equal(over.json?.jsonrpc, "2.0", over.text);
	assert.equal(over.json?.id, 7, over.text);
	assert.equal(typeof over.json?.error?.code, "number", over.text);
	assert.equal(over.headers.get("mcp-session-id"), null);
	// the existing sessions still work
	assert.equal(await textIn(a, "f__echo", { text: "still" }, urls.few), "still");
	assert.equal((await plain("DELETE", { session: a, version: V, to: urls.few })).status, 200);
	const c = await newSession(urls.few);
	assert.equal(await textIn(c, "f__echo", { text: "in" }, urls.few), "in");
	// other listeners count their own sessions
	await newSession(urls.main);
});

// --- replay buffers --------------------------------------------------------------------------

// A session on `to` that gets every log message (logging/setLevel debug); its GET stream is
// opened once for its priming event's id, then closed.
async function loggingSession(to) {
	const sid = await newSession(to);
	const lv = await post({ jsonrpc: "2.0", id: "lv", method: "logging/setLevel", params: { level: "debug" } }, { session: sid, version: V, to });
	assert.equal(lv.status, 200, lv.text);
	const g = await openStream({ session: sid, to });
	assert.equal(g.status, 200, g.text);
	const priming = await g.next(3000, "the priming event");
	assert.equal(priming.data, "");
	g.close();
	return { sid, primingId: priming.id };
}

// Log messages not related to any call: they go to the sessions' GET streams.
const emitLogs = async (sid, texts, to) => {
	for (const t of texts) assert.equal(await textIn(sid, "f__log", { level: "info", text: t, related: false }, to), "logged info");
};

// Resume the GET stream of sid after lastEventId: the log texts it replays, up to and
// including the one named `until` (sent after the replay, so it marks its end).
async function resumeLogs(sid, lastEventId, to, until) {
	let g;
	await waitFor(async () => {
		g = await openStream({ session: sid, to, lastEventId });
		return g.status !== 409 || (g.close(), false);
	}, { timeout: 3000, what: "a GET stream without 409" });
	assert.equal(g.status, 200, g.text);
	const got = [];
	try {
		await emitLogs(sid, [until], to);
		for (;;) {
			const ev = await g.next(5000, `the replay up to ${until}`);
			assert.ok(ev, `the stream ended before ${until}: ${JSON.stringify(got)}`);
			if (!ev.data) continue; // priming
			assert.equal(ev.json.method, "notifications/message", ev.data);
			got.push({ id: ev.id, text: ev.json.params.data, bytes: ev.data.length });
			if (ev.json.params.data === until) return got;
		}
	} finally {
		g.close();
	}
}

test(`replay_events = ${REPLAY_EVENTS}: resuming from before what is kept replays the last ${REPLAY_EVENTS}, in order`, async () => {
	const { sid, primingId } = await loggingSession(urls.events);
	const sent = Array.from({ length: 12 }, (_, i) => `event ${i + 1}`);
	await emitLogs(sid, sent, urls.events);
	const got = await resumeLogs(sid, primingId, urls.events, "marker");
	assert.deepEqual(got.map((e) => e.text), [...sent.slice(-REPLAY_EVENTS), "marker"],
		"what is kept (the newest), then what came after; nothing older");
	const seqs = got.map((e) => Number(e.id.split("-")[1]));
	assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), "ids increase");
	// resuming after the third kept event replays the rest only
	const again = await resumeLogs(sid, got[2].id, urls.events, "marker 2");
	assert.deepEqual(again.map((e) => e.text), [...sent.slice(-REPLAY_EVENTS + 3), "marker", "marker 2"]);
});

test(`replay_bytes = ${REPLAY_BYTES}: what is kept fits in it, newest first`, async () => {
	const { sid, primingId } = await loggingSession(urls.bytes);
	const sent = Array.from({ length: 10 }, (_, i) => `${String(i + 1).padStart(2, "0")} ${"x".repeat(1000)}`);
	await emitLogs(sid, sent, urls.bytes);
	const got = await resumeLogs(sid, primingId, urls.bytes, "marker");
	const replayed = got.slice(0, -1);
	const kept = Math.floor(REPLAY_BYTES / 1100); // each event is over 1000 bytes of data and under 1100 in all
	assert.ok(replayed.length >= kept - 1 && replayed.length <= kept, `${replayed.length} events kept of ${sent.length}`);
	assert.deepEqual(replayed.map((e) => e.text), sent.slice(-replayed.length), "the newest, in order");
	assert.ok(replayed.reduce((n, e) => n + e.bytes, 0) <= REPLAY_BYTES);
});

const rssKb = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]);

test("a session without a GET stream keeps at most its replay buffer: memory stays bounded", async () => {
	const { sid } = await loggingSession(urls.events);
	const N = 60; // 6 MB of events per round for a session that never reads them
	const big = (round, i) => `${round} ${i} ${"y".repeat(100000)}`;
	const round = (r) => emitLogs(sid, Array.from({ length: N }, (_, i) => big(r, i)), urls.events);
	// a first round warms up the allocator (and fills AddressSanitizer's quarantine of freed
	// memory, 4 MB in build-aux/quickstart check), so the second measures what is kept
	await round(1);
	const before = rssKb(gw.pid);
	await round(2);
	const grown = rssKb(gw.pid) - before;
	assert.ok(grown < 3072, `resident memory grew by ${grown} kB for ${N} events of 100 kB held back`);
	const got = await resumeLogs(sid, "0-0", urls.events, "marker");
	assert.deepEqual(got.map((e) => e.text), [...Array.from({ length: N }, (_, i) => big(2, i)).slice(-REPLAY_EVENTS), "marker"]);
});

// --- resuming a POST's stream ----------------------------------------------------------------

test("a POST's SSE stream cut mid-way is resumed with GET and Last-Event-ID: the rest and the answer, once", async () => {
	const sid = await newSession();
	const STEPS = 6;
	const ac = new AbortController();
	const res = await post({ jsonrpc: "2.0", id: "slow", method: "tools/call",
		params: { name: "f__slow_progress", arguments: { steps: STEPS, ms: 150 }, _meta: { progressToken: "tok" } } },
	{ session: sid, version: V, signal: ac.signal });
	assert.equal(res.status, 200);
	assert.match(res.headers.get("content-type"), /^text\/event-stream/);
	const first = sseOf(res, ac);
	let ev;
	do ev = await first.next(5000, "the first progress event"); while (!ev.data);
	assert.equal(ev.json.method, "notifications/progress", ev.data);
	assert.equal(ev.json.params.progress, 1);
	assert.ok(/^[1-9]\d*-\d+$/.test(ev.id), `a request stream's event id: ${ev.id}`);
	first.close(); // the client goes away mid-stream

	const g = await openStream({ session: sid, lastEventId: ev.id });
	assert.equal(g.status, 200, g.text);
	const rest = [];
	for (;;) {
		const e = await g.next(5000, "the rest of the stream");
		if (e === null) break;
		if (e.data) rest.push(e);
	}
	const progress = [ev, ...rest].filter((e) => e.json.method === "notifications/progress").map((e) => e.json.params.progress);
	assert.deepEqual(progress, Array.from({ length: STEPS }, (_, i) => i + 1), "each progress step once, in order");
	const answers = rest.filter((e) => e.json.id === "slow");
	assert.equal(answers.length, 1, JSON.stringify(rest));
	assert.deepEqual(answers[0].json.result.content, [{ type: "text", text: `progressed ${STEPS}` }]);
	assert.equal(rest.at(-1), answers[0], "the answer ends the stream");
	const stream = ev.id.split("-")[0];
	assert.ok(rest.every((e) => e.id.split("-")[0] === stream), "all of one stream");

	// Resumed once more after the answer: nothing is delivered twice.
	const g2 = await openStream({ session: sid, lastEventId: answers[0].id });
	assert.equal(g2.status, 200, g2.text);
	assert.equal(await g2.next(3000, "the end of an exhausted stream"), null);
	// the session goes on
	assert.equal(await textIn(sid, "f__echo", { text: "after" }), "after");
});

test("a resuming GET takes a POST's stream over from a connection the gateway still thinks open", async () => {
	// A client whose network went away silently: the gateway sees no close. Its resumption
	// must still get the rest and the answer, and the stale connection's stream is ended.
	const sid = await newSession();
	const ac = new AbortController();
	const res = await post({ jsonrpc: "2.0", id: "stale", method: "tools/call",
		params: { name: "f__slow_progress", arguments: { steps: 4, ms: 150 }, _meta: { progressToken: "tok" } } },
	{ session: sid, version: V, signal: ac.signal });
	const stale = sseOf(res, ac);
	let ev;
	do ev = await stale.next(5000, "the first progress event"); while (!ev.data);
	assert.equal(ev.json.params.progress, 1, ev.data);
	try {
		const g = await openStream({ session: sid, lastEventId: ev.id });
		assert.equal(g.status, 200, g.text);
		const rest = [];
		for (let e; (e = await g.next(5000, "the rest of the stream")) !== null; ) if (e.data) rest.push(e);
		assert.deepEqual(rest.map((e) => e.json.params?.progress ?? e.json.id), [2, 3, 4, "stale"], JSON.stringify(rest));
		assert.deepEqual(rest.at(-1).json.result.content, [{ type: "text", text: "progressed 4" }]);
		// the stale stream ended without the answer
		const left = [];
		for (let e; (e = await stale.next(3000, "the end of the stale stream")) !== null; ) if (e.data) left.push(e.json);
		assert.ok(!left.some((m) => m.id === "stale"), `the answer went once: ${JSON.stringify(left)}`);
	} finally {
		stale.close();
	}
});

// --- session expiry ---------------------------------------------------------------------------

test(`a session idle for session_idle_ms (${IDLE_MS}) ends and its upstream subscriptions go with it`, async () => {
	const watcher = await newSession();
	const upstreamSubs = async () => JSON.parse(await textIn(watcher, "f__subscriptions"));
	assert.deepEqual(await upstreamSubs(), []);
	const sid = await newSession(urls.idle);
	const sub = await post({ jsonrpc: "2.0", id: "s", method: "resources/subscribe", params: { uri: "f+faulty://static/c" } },
		{ session: sid, version: V, to: urls.idle });
	assert.equal(sub.status, 200, sub.text);
	assert.deepEqual(sub.json.result, {}, sub.text);
	assert.deepEqual(await upstreamSubs(), ["faulty://static/c"]);
	await waitFor(() => gw.stderrText().includes(`session expired session=${sid}`),
		{ timeout: IDLE_MS + 3000, what: `expiry of session ${sid}${log()}` });
	await waitFor(async () => (await upstreamSubs()).length === 0, { timeout: 5000, what: `the upstream unsubscribed${log()}` });
	const gone = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { session: sid, version: V, to: urls.idle });
	assert.equal(gone.status, 404, gone.text);
});

// --- the http provider -----------------------------------------------------------------------

// An upstream of our own with the official SDK (sessions kept as faulty keeps them): tool
// echo and tool proto (the HTTP version of the request that called it). seen counts the
// requests by HTTP version and the TCP connections (or HTTP/2 sessions) it accepted.
function sdkUpstream() {
	const sessions = new Map();
	const seen = { versions: {}, connections: 0 };
	const handler = async (req, res) => {
		seen.versions[req.httpVersion] = (seen.versions[req.httpVersion] || 0) + 1;
		try {
			const sid = req.headers["mcp-session-id"];
			let t = sid === undefined ? undefined : sessions.get(sid);
			if (!t) {
				if (sid !== undefined || req.method !== "POST") {
					res.writeHead(sid === undefined ? 400 : 404).end();
					return;
				}
				t = new StreamableHTTPServerTransport({
					sessionIdGenerator: () => randomUUID(),
					onsessioninitialized: (id) => sessions.set(id, t),
				});
				const server = new McpServer({ name: "sdk-upstream", version: "1.0.0" });
				server.registerTool("echo", { inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: "text", text }] }));
				server.registerTool("proto", { inputSchema: {} }, () => ({ content: [{ type: "text", text: req.httpVersion }] }));
				await server.connect(t);
			}
			await t.handleRequest(req, res);
		} catch (e) {
			if (!res.headersSent) res.writeHead(500);
			res.end(String(e));
		}
	};
	return { handler, seen };
}

const listen = (server) => new Promise((resolve) => {
	servers.push(server);
	server.listen(0, "127.0.0.1", () => resolve(server.address().port));
});

let openssl = true;
try { execFileSync("openssl", ["version"], { stdio: "ignore" }); } catch { openssl = false; }

let up; // the upstream gateway: { gw, url, faultyHttp, plainUp, tlsUp }
async function upstreamGateway() {
	if (up) return up;
	const fh = startProcess([nodeBin(), serverPath("faulty.mjs")], { FAULTY_HTTP_PORT: "0", FAULTY_NAME: "faulty-http" });
	procs.push(fh);
	const fport = (await waitFor(() => /faulty listening port=(\d+)/.exec(fh.stderrText()) || fh.exitStatus(),
		{ timeout: 10000, what: "faulty listening on HTTP" }))[1];
	assert.ok(fport, fh.stderrText());

	const plainUp = sdkUpstream();
	const plainServer = http.createServer(plainUp.handler);
	plainServer.on("connection", () => plainUp.seen.connections++);
	const pport = await listen(plainServer);

	const providers = [
		{ name: "h", transport: "http", url: `http://127.0.0.1:${fport}/mcp` },
		{ name: "p", transport: "http", url: `http://127.0.0.1:${pport}/mcp`, protocol: "2025-11-25" },
	];
	let tlsUp;
	if (openssl) {
		const dir = scratchDir();
		const key = path.join(dir, "key.pem");
		const cert = path.join(dir, "cert.pem");
		execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
			"-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdio: "ignore" });
		tlsUp = sdkUpstream();
		const tlsServer = http2.createSecureServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert), allowHTTP1: true }, tlsUp.handler);
		tlsServer.on("secureConnection", () => tlsUp.seen.connections++);
		const tport = await listen(tlsServer);
		providers.push(
			{ name: "untrusted", transport: "http", url: `https://127.0.0.1:${tport}/mcp`, protocol: "2025-11-25", backoff_min_ms: 100 },
			{ name: "trusted", transport: "http", url: `https://127.0.0.1:${tport}/mcp`, protocol: "2025-11-25", ca_file: cert },
		);
	}
	const started = await startHttpGateway({ log_level: "debug", listen: ["http://127.0.0.1:0/mcp"], providers },
		{ timeout: 10000, listed: providers.filter((p) => p.name !== "untrusted").map((p) => p.name) });
	procs.push(started.gw);
	up = { gw: started.gw, url: started.urls[0], faultyHttp: fh, plainUp, tlsUp };
	return up;
}

async function upCall(name, args = {}) {
	const u = await upstreamGateway();
	const to = u.url;
	if (!u.sid) {
		const r = await post(initMsg(1, V, "upstreams"), { to });
		assert.equal(r.status, 200, r.text);
		u.sid = r.headers.get("mcp-session-id");
	}
	const r = await post(callMsg(randomUUID(), name, args), { session: u.sid, version: V, to });
	assert.equal(r.status, 200, r.text);
	return r.json;
}

test("the http provider initializes again when the upstream answers 404 for a session it forgot", async () => {
	const u = await upstreamGateway();
	const inits = () => (u.faultyHttp.stderrText().match(/faulty session initialized id=/g) || []).length;
	assert.equal((await upCall("h__echo", { text: "one" })).result?.content?.[0]?.text, "one");
	assert.equal(inits(), 1, u.faultyHttp.stderrText());
	assert.equal((await upCall("h__forget_sessions")).result?.content?.[0]?.text, "forgot 1");
	const r = await upCall("h__echo", { text: "two" });
	assert.equal(r.result?.content?.[0]?.text, "two", `${JSON.stringify(r)}${logTail(u.gw.stderrText())}`);
	assert.match(u.faultyHttp.stderrText(), /faulty unknown session=/, "the upstream answered 404");
	assert.equal(inits(), 2, u.faultyHttp.stderrText());
	assert.match(u.gw.stderrText(), /upstream session expired; initializing again provider=h /);
	assert.equal((await upCall("h__echo", { text: "three" })).result?.content?.[0]?.text, "three");
	assert.equal(inits(), 2, "no further initialize");
});

test("many sequential calls to an HTTP/1.1 upstream reuse a few connections", async () => {
	const u = await upstreamGateway();
	assert.equal((await upCall("p__echo", { text: "warm" })).result?.content?.[0]?.text, "warm");
	const before = u.plainUp.seen.connections;
	const N = 50;
	for (let i = 0; i < N; i++) assert.equal((await upCall("p__echo", { text: `n${i}` })).result?.content?.[0]?.text, `n${i}`);
	const opened = u.plainUp.seen.connections - before;
	assert.ok(opened <= 2, `${opened} new connections for ${N} calls (${u.plainUp.seen.connections} in all)`);
	assert.deepEqual(Object.keys(u.plainUp.seen.versions), ["1.1"]);
});

test("TLS: a self-signed upstream is refused by default; with ca_file it is reached over HTTP/2",
	{ skip: !openssl && "the openssl command is not installed (Debian package openssl)" }, async () => {
		const u = await upstreamGateway();
		await waitFor(() => /cannot reach the upstream; retrying provider=untrusted .*reason="[^"]*certificate/i.test(u.gw.stderrText()),
			{ timeout: 10000, what: `the certificate refused${logTail(u.gw.stderrText())}` });
		assert.ok(!/registry: listed provider=untrusted /.test(u.gw.stderrText()), "the untrusted upstream is never listed");
		const refused = await upCall("untrusted__echo", { text: "x" });
		assert.ok(refused.error, JSON.stringify(refused));

		const r = await upCall("trusted__proto");
		assert.equal(r.result?.content?.[0]?.text, "2.0", JSON.stringify(r));
		const before = u.tlsUp.seen.connections;
		for (let i = 0; i < 20; i++) assert.equal((await upCall("trusted__echo", { text: `t${i}` })).result?.content?.[0]?.text, `t${i}`);
		assert.equal(u.tlsUp.seen.connections, before, "one HTTP/2 connection carries them all");
		assert.deepEqual(Object.keys(u.tlsUp.seen.versions), ["2.0"], JSON.stringify(u.tlsUp.seen));
	});

test("the gateways shut down cleanly on SIGTERM", async () => {
	for (const g of [gw, up?.gw].filter(Boolean)) {
		g.kill("SIGTERM");
		assert.deepEqual(await g.waitExit(10000), { code: 0, signal: null }, logTail(g.stderrText()));
	}
});
