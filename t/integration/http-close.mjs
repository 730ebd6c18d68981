// Every request shape of the Streamable HTTP endpoint, sent over a raw socket three times:
// HTTP/1.1 kept alive, HTTP/1.1 with "Connection: close", and HTTP/1.0. Each answer is
// checked exactly, and so is what happens to the connection after it: the server closes it
// when it should, and serves the next request on it when not. The gateway must still be
// alive and serving after each round, and exit cleanly (no sanitizer report) at the end.
// Also: a focused test for each way an answer that closes its connection freed the request
// twice (a 2026-07-28 call, a GET stream ended by DELETE or by resuming an unknown stream).
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/http-close.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { faulty, killAll, logTail, withTimeout } from "../lib/harness.mjs";
import { ACCEPT_BOTH, callMsg, initMsg, startHttpGateway } from "../lib/http.mjs";
import { rawConnect } from "../lib/rawhttp.mjs";

const MAX_BODY = 65536;
const V = "2025-11-25";
const MODERN = "2026-07-28";

let gw;
let url;
const log = () => logTail(gw.stderrText(), 4000);
const bounded = (p, what, ms = 5000) => withTimeout(p, ms, what, log);

before(async () => {
	({ gw, urls: [url] } = await startHttpGateway({
		log_level: "debug",
		listen: [{ url: "http://127.0.0.1:0/mcp", max_body_bytes: MAX_BODY }],
		providers: [faulty("f", { env: { FAULTY_FEATURES: "1" } })],
	}, { timeout: 10000, listed: ["f"] }));
});

after(() => killAll(gw));

const MODES = [
	{ name: "HTTP/1.1 kept alive", version: "1.1", closes: false },
	{ name: "HTTP/1.1 Connection: close", version: "1.1", connection: "close", closes: true },
	{ name: "HTTP/1.0", version: "1.0", closes: true },
];

const jsonHeaders = (session, version = V, extra = {}) => {
	const h = { Accept: ACCEPT_BOTH, "Content-Type": "application/json", ...extra };
	if (session) h["Mcp-Session-Id"] = session;
	if (version) h["MCP-Protocol-Version"] = version;
	return h;
};

// After the response res on conn: the server closes the connection when the mode (or the
// answer, always) says so; otherwise the same connection serves another request.
async function expectEnd(conn, mode, res, { alwaysCloses = false } = {}) {
	const closes = mode.closes || alwaysCloses;
	assert.equal(res.headers.connection, closes ? "close" : "keep-alive", JSON.stringify(res.headers));
	if (closes) {
		assert.equal(await conn.closedByServer(3000), true, `the server closes the connection${log()}`);
		return;
	}
	conn.send({ method: "OPTIONS", version: mode.version, connection: mode.connection });
	const o = await conn.response();
	assert.equal(o.status, 204, "the kept-alive connection serves the next request");
	assert.equal(o.headers.connection, "keep-alive");
}

// One request in mode on a connection of its own, its whole answer, and the end above.
async function exchange(mode, req, opts) {
	const conn = await rawConnect(url, bounded, log);
	try {
		conn.send({ version: mode.version, connection: mode.connection, ...req });
		const res = await conn.response();
		await expectEnd(conn, mode, res, opts);
		return res;
	} finally {
		conn.destroy();
	}
}

const post = (mode, body, { session, version = V, headers = {} } = {}) =>
	exchange(mode, { method: "POST", headers: jsonHeaders(session, version, headers), body });

const meta = () => ({
	"io.modelcontextprotocol/protocolVersion": MODERN,
	"io.modelcontextprotocol/clientCapabilities": {},
	"io.modelcontextprotocol/clientInfo": { name: "http-close", version: "1" },
});
const modern = (mode, id, method, params = {}, name) =>
	post(mode, { jsonrpc: "2.0", id, method, params: { ...params, _meta: meta() } },
		{ version: MODERN, headers: { "Mcp-Method": method, ...(name ? { "Mcp-Name": name } : {}) } });

const streamFraming = (mode) => (mode.version === "1.0" ? "close" : "chunked");
const dataEvents = (res) => res.events.filter((e) => e.data);

async function newSession(mode, version = V) {
	const r = await post(mode, initMsg(1, version, "http-close"), { version: null });
	assert.equal(r.status, 200, r.body);
	assert.equal(r.json?.result?.protocolVersion, version, r.body);
	const sid = r.headers["mcp-session-id"];
	assert.match(sid ?? "", /^[0-9a-f]{32}$/);
	const n = await post(mode, { jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version });
	assert.equal(n.status, 202, n.body);
	assert.equal(n.body, "");
	return sid;
}

// A GET stream on sid whose priming event has arrived: { conn, res }.
async function openGet(mode, sid, lastEventId) {
	const conn = await rawConnect(url, bounded, log);
	const headers = { Accept: "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": V };
	if (lastEventId) headers["Last-Event-ID"] = lastEventId;
	conn.send({ method: "GET", version: mode.version, connection: mode.connection, headers });
	const res = await conn.head();
	assert.equal(res.status, 200);
	assert.match(res.headers["content-type"], /^text\/event-stream/);
	assert.equal(res.framing, streamFraming(mode));
	await conn.bodyUntil(res, (r) => r.events.length >= 1, { what: "the priming event" });
	return { conn, res };
}

for (const mode of MODES) {
	test(`every request shape, ${mode.name}`, async (t) => {
		let sid;
		let progressEvents;
		await t.test("initialize and notifications/initialized", async () => {
			sid = await newSession(mode);
		});

		await t.test("POST answered with JSON", async () => {
			const r = await post(mode, callMsg(2, "f__echo", { text: mode.name }), { session: sid });
			assert.equal(r.status, 200, r.body);
			assert.match(r.headers["content-type"], /^application\/json/);
			assert.equal(r.framing, "length");
			assert.equal(r.headers["mcp-session-id"], sid);
			assert.deepEqual(r.json, { jsonrpc: "2.0", id: 2, result: { content: [{ type: "text", text: mode.name }] } });
		});

		await t.test("POST answered with SSE: progress, then the answer", async () => {
			const msg = callMsg(3, "f__progress", { steps: 2, label: "p" });
			msg.params._meta = { progressToken: "tok" };
			const r = await post(mode, msg, { session: sid });
			assert.equal(r.status, 200, r.body);
			assert.match(r.headers["content-type"], /^text\/event-stream/);
			assert.equal(r.framing, streamFraming(mode));
			assert.equal(r.events[0].data, "", "a priming event first");
			const ev = dataEvents(r);
			assert.deepEqual(ev.map((e) => e.json.method ?? e.json.id), ["notifications/progress", "notifications/progress", 3]);
			assert.deepEqual(ev.slice(0, 2).map((e) => [e.json.params.progressToken, e.json.params.progress]), [["tok", 1], ["tok", 2]]);
			assert.equal(JSON.parse(ev[2].json.result.content[0].text).steps, 2, r.body);
			assert.ok(ev.every((e) => /^\d+-\d+$/.test(e.id)), "events carry ids");
			progressEvents = ev;
		});

		await t.test("GET resuming a known stream with Last-Event-ID: what followed, then the end", async () => {
			const r = await exchange(mode, {
				method: "GET",
				headers: { Accept: "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": V, "Last-Event-ID": progressEvents[0].id },
			});
			assert.equal(r.status, 200, r.body);
			assert.equal(r.framing, streamFraming(mode));
			assert.deepEqual(dataEvents(r).map((e) => [e.id, e.data]), progressEvents.slice(1).map((e) => [e.id, e.data]));
		});

		await t.test("GET resuming an unknown stream: an empty stream that ends", async () => {
			const r = await exchange(mode, {
				method: "GET",
				headers: { Accept: "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": V, "Last-Event-ID": "77-999999" },
			});
			assert.equal(r.status, 200, r.body);
			assert.match(r.headers["content-type"], /^text\/event-stream/);
			assert.deepEqual(r.events, []);
		});

		await t.test("a 2025-03-26 batch answered with JSON, and one answered with SSE", async () => {
			const old = await newSession(mode, "2025-03-26");
			const r = await post(mode, [callMsg(1, "f__echo", { text: "a" }), callMsg("b", "f__echo", { text: "b" })],
				{ session: old, version: null });
			assert.equal(r.status, 200, r.body);
			assert.deepEqual(r.json.map((a) => [a.id, a.result.content[0].text]).sort(), [[1, "a"], ["b", "b"]]);
			const p = callMsg(2, "f__progress", { steps: 1 });
			p.params._meta = { progressToken: 9 };
			const s = await post(mode, [p, callMsg(3, "f__echo", { text: "c" })], { session: old, version: null });
			assert.equal(s.status, 200, s.body);
			assert.match(s.headers["content-type"], /^text\/event-stream/);
			const ev = dataEvents(s).map((e) => e.json);
			assert.equal(ev.filter((m) => m.method === "notifications/progress").length, 1, s.body);
			assert.deepEqual(ev.filter((m) => m.id !== undefined).map((m) => m.id).sort(), [2, 3], s.body);
			const del = await exchange(mode, { method: "DELETE", headers: { "Mcp-Session-Id": old } });
			assert.equal(del.status, 200);
		});

		await t.test("a GET stream ended by DELETE of its session", async () => {
			const g = await openGet(mode, sid);
			try {
				assert.equal(g.res.events[0].data, "", "the priming event");
				const d = await exchange(mode, { method: "DELETE", headers: { "Mcp-Session-Id": sid, "MCP-Protocol-Version": V } });
				assert.equal(d.status, 200, d.body);
				assert.equal(d.body, "");
				await g.conn.rest(g.res, { what: "the end of the GET stream" });
				assert.equal(g.res.complete, true);
				await expectEnd(g.conn, mode, g.res);
			} finally {
				g.conn.destroy();
			}
			const gone = await post(mode, callMsg(4, "f__echo", { text: "x" }), { session: sid });
			assert.equal(gone.status, 404, gone.body);
			assert.equal(gone.json?.error?.code, -32001, gone.body);
		});

		await t.test("2026-07-28: server/discover and tools/call", async () => {
			const d = await modern(mode, "d", "server/discover");
			assert.equal(d.status, 200, d.body);
			assert.equal(d.json.id, "d");
			assert.ok(d.json.result.supportedVersions.includes(MODERN), d.body);
			assert.equal(d.headers["mcp-session-id"], undefined);
			for (const id of [1, 2]) {   // twice: the second used to meet what the first freed
				const c = await modern(mode, id, "tools/call", { name: "f__echo", arguments: { text: `m${id}` } }, "f__echo");
				assert.equal(c.status, 200, c.body);
				assert.equal(c.json.id, id);
				assert.equal(c.json.result.resultType, "complete", c.body);
				assert.deepEqual(c.json.result.content, [{ type: "text", text: `m${id}` }]);
			}
		});

		await t.test("4xx: bad JSON, wrong Content-Type, unknown session, a body too large", async () => {
			const bad = await post(mode, "{not json", { session: sid });
			assert.equal(bad.status, 400, bad.body);
			assert.equal(bad.json?.error?.code, -32700, bad.body);
			const ct = await exchange(mode, { method: "POST", headers: jsonHeaders(sid, V, { "Content-Type": "text/plain" }), body: "{}" });
			assert.equal(ct.status, 415, ct.body);
			assert.equal(typeof ct.json?.error?.code, "number", ct.body);
			const unknown = await post(mode, callMsg(5, "f__echo", { text: "x" }), { session: "0".repeat(32) });
			assert.equal(unknown.status, 404, unknown.body);
			assert.equal(unknown.json?.error?.code, -32001, unknown.body);
			// the length alone is refused, before any body is sent; such a refusal always closes
			const big = await exchange(mode, { method: "POST", headers: jsonHeaders(sid, V, { "Content-Length": String(MAX_BODY + 1) }) },
				{ alwaysCloses: true });
			assert.equal(big.status, 413, big.body);
		});

		await t.test("the gateway is alive and serving", async () => {
			assert.ok(!gw.exitStatus(), `the gateway runs${log()}`);
			const d = await modern(MODES[0], "alive", "server/discover");
			assert.equal(d.status, 200, d.body);
		});
	});
}

// --- focused: an answer that closes its connection frees its request once ----------------

test("2026-07-28 calls with Connection: close, one after the other, each answered", async () => {
	const close = MODES[1];
	for (let i = 0; i < 3; i++) {
		const c = await modern(close, i, "tools/call", { name: "f__echo", arguments: { text: `c${i}` } }, "f__echo");
		assert.equal(c.status, 200, c.body);
		assert.deepEqual(c.json.result.content, [{ type: "text", text: `c${i}` }]);
	}
	const h10 = await modern(MODES[2], "h10", "server/discover");
	assert.equal(h10.status, 200, h10.body);
	assert.ok(!gw.exitStatus(), `the gateway runs${log()}`);
});

test("a GET stream with Connection: close, ended by DELETE, and one resuming an unknown stream", async () => {
	const close = MODES[1];
	const sid = await newSession(close);
	const g = await openGet(close, sid);
	const d = await exchange(close, { method: "DELETE", headers: { "Mcp-Session-Id": sid } });
	assert.equal(d.status, 200, d.body);
	await g.conn.rest(g.res, { what: "the end of the GET stream" });
	assert.equal(await g.conn.closedByServer(3000), true);
	g.conn.destroy();

	const sid2 = await newSession(close);
	for (let i = 0; i < 2; i++) {
		const r = await exchange(close, {
			method: "GET", headers: { Accept: "text/event-stream", "Mcp-Session-Id": sid2, "Last-Event-ID": `5-${1000 + i}` },
		});
		assert.equal(r.status, 200, r.body);
		assert.deepEqual(r.events, []);
	}
	const alive = await modern(MODES[0], "alive", "server/discover");
	assert.equal(alive.status, 200, alive.body);
});

test("the gateway exits cleanly on SIGTERM, with nothing reported by the sanitizers", async () => {
	assert.ok(!gw.exitStatus(), `the gateway runs${log()}`);
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, `gateway exit${log()}`);
	assert.doesNotMatch(gw.stderrText(), /ERROR: (Address|Leak)Sanitizer|runtime error:/, log());
});
