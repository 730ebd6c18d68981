// The WebSocket listener under broken and hostile clients, with raw frames (t/lib/rawws.mjs):
// each case gets the RFC's close code, then the TCP close, while a second session on the
// same listener keeps working throughout. Also the handshake's refusals (subprotocol,
// version, Origin, Host) and a client that stops reading.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/ws-bad-input.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { faulty, killAll, logTail, waitFor, withTimeout } from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";
import { rawWs, rawWsSession } from "../lib/rawws.mjs";

const LIMITS = { ws_max_frame_bytes: 4096, ws_max_message_bytes: 8192, max_write_queue_bytes: 65536 };

let gw, url, quietUrl, fewUrl, pingsUrl, B;
let nextId = 100;
const log = () => logTail(gw?.stderrText(), 3000);
const bounded = (p, what, ms = 5000) => withTimeout(p, ms, what, log);

before(async () => {
	const started = await startHttpGateway({
		log_level: "debug",
		listen: [
			{ url: "ws://127.0.0.1:0/mcp", ...LIMITS },
			// no pings: a client that stops reading is dropped for its queue, not for silence
			{ url: "ws://127.0.0.1:0/quiet", max_write_queue_bytes: 65536, ws_ping_interval_ms: 0, ws_idle_timeout_ms: 0 },
			{ url: "http://127.0.0.1:0/few", max_sessions: 1 },
			// pings often, silence short: on a listener of its own, so that a gateway slowed down
			// (sanitizers, a loaded machine) never takes B's late pong for silence
			{ url: "ws://127.0.0.1:0/pings", ws_ping_interval_ms: 100, ws_idle_timeout_ms: 600 },
		],
		providers: [faulty("f", { env: { FAULTY_SWAP_TOOLS: "1" } })],
	}, { listed: ["f"] });
	gw = started.gw;
	url = started.urls[0];
	quietUrl = started.urls[1];
	fewUrl = started.urls[2];
	pingsUrl = started.urls[3];
	B = await rawWsSession(url, bounded);
});

after(() => killAll(gw));

// The second session answers, after every case.
async function bStillServes(what) {
	const id = nextId++;
	const res = await B.request({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "f__echo", arguments: { text: what } } });
	assert.equal(res.result?.content?.[0]?.text, what, `B after ${what}: ${JSON.stringify(res)}${log()}`);
}

async function fresh() {
	const ws = await rawWs(url, bounded);
	assert.equal((await ws.handshake()).status, 101);
	return ws;
}

const cases = [
	["an unmasked client frame", 1002, (ws) => ws.frame({ payload: "{}", mask: false })],
	["a 64-bit length beyond the limit", 1009, (ws) => ws.frame({ payload: "x", length: 2 ** 40 })],
	["a 64-bit length with its top bit set", 1002, (ws) => ws.raw(Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1]))],
	["a frame over ws_max_frame_bytes", 1009, (ws) => ws.frame({ payload: "x".repeat(5000) })],
	["a message over ws_max_message_bytes in fragments", 1009, (ws) => {
		for (let i = 0; i < 3; i++) ws.frame({ fin: false, opcode: i ? 0 : 1, payload: "x".repeat(4000) });
	}],
	["invalid UTF-8 in a text frame", 1007, (ws) => ws.frame({ payload: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]) })],
	["invalid UTF-8 split across fragments", 1007, (ws) => {
		ws.frame({ fin: false, payload: Buffer.from([0x22, 0xe2, 0x82]) });
		ws.frame({ opcode: 0, payload: Buffer.from([0x22]) });
	}],
	["a surrogate encoded in UTF-8", 1007, (ws) => ws.frame({ payload: Buffer.from([0xed, 0xa0, 0x80]) })],
	["invalid UTF-8 in a close reason", 1007, (ws) => ws.frame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0xff, 0xfe]) })],
	["a close payload of one byte", 1002, (ws) => ws.frame({ opcode: 8, payload: Buffer.from([0x03]) })],
	["a control frame over 125 bytes", 1002, (ws) => ws.frame({ opcode: 9, payload: "p".repeat(126) })],
	["a fragmented control frame", 1002, (ws) => ws.frame({ opcode: 9, fin: false, payload: "p" })],
	["a continuation with no start", 1002, (ws) => ws.frame({ opcode: 0, payload: "x" })],
	["a new message inside a fragmented one", 1002, (ws) => {
		ws.frame({ fin: false, payload: "{\"a\":" });
		ws.frame({ payload: "{}" });
	}],
	["a reserved bit", 1002, (ws) => ws.frame({ rsv: 4, payload: "{}" })],
	["a reserved data opcode", 1002, (ws) => ws.frame({ opcode: 3, payload: "{}" })],
	["a reserved control opcode", 1002, (ws) => ws.frame({ opcode: 11, payload: "" })],
	["a binary frame", 1003, (ws) => ws.frame({ opcode: 2, payload: "{}" })],
];

for (const [what, code, send] of cases) {
	test(`${what}: close ${code}, then the TCP close`, async () => {
		const ws = await fresh();
		send(ws);
		await ws.expectClose(code);
		await bStillServes(what);
	});
}

test("a close in the middle of a fragmented message is answered, then the TCP close", async () => {
	const ws = await fresh();
	ws.frame({ fin: false, payload: "{\"jsonrpc\":" });
	ws.frame({ opcode: 8, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from("bye ☃")]) });
	const f = await ws.expectClose(1000);
	assert.equal(f.reason, "bye ☃");
	await bStillServes("close mid-message");
});

test("a client that never answers pings is closed with 1008 after ws_idle_timeout_ms", async () => {
	const ws = await rawWs(pingsUrl, bounded, { autoPong: false });
	assert.equal((await ws.handshake()).status, 101);
	const started = Date.now();
	let pings = 0;
	for (;;) {
		const f = await ws.next(3000);
		assert.ok(f, "a close before the TCP close");
		if (f.opcode === 9) { pings++; continue; }
		assert.equal(f.opcode, 8);
		assert.equal(f.code, 1008, f.reason);
		break;
	}
	assert.ok(pings >= 2, `pinged (${pings})`);
	assert.ok(Date.now() - started >= 500, "not before the idle timeout");
	assert.equal(await ws.next(), null, "then the TCP close");
	await bStillServes("after a silent client");
});

test("a message split across TCP writes byte by byte is reassembled", async () => {
	const ws = await rawWsSession(url, bounded);
	const msg = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "f__echo", arguments: { text: "Grüße" } } }));
	const half = msg.length >> 1;
	// two fragments with a ping between them, every byte its own write
	const k = Buffer.from([1, 2, 3, 4]);
	const frames = [
		Buffer.concat([Buffer.from([0x01, 0x80 | half]), k, Buffer.from(msg.subarray(0, half).map((x, i) => x ^ k[i % 4]))]),
		Buffer.concat([Buffer.from([0x89, 0x80]), k]),
		Buffer.concat([Buffer.from([0x80, 0x80 | (msg.length - half)]), k, Buffer.from(msg.subarray(half).map((x, i) => x ^ k[i % 4]))]),
	];
	for (const b of Buffer.concat(frames)) { ws.raw(Buffer.from([b])); await new Promise((r) => setImmediate(r)); }
	let pong = false;
	for (;;) {
		const f = await ws.next();
		assert.ok(f);
		if (f.opcode === 10) { pong = true; continue; }
		assert.equal(f.json.id, 7);
		assert.equal(f.json.result.content[0].text, "Grüße");
		break;
	}
	assert.ok(pong, "the ping inside the message was answered");
	ws.destroy();
});

test("JSON that is not JSON-RPC gets a JSON-RPC error, and the connection goes on", async () => {
	const ws = await rawWsSession(url, bounded);
	ws.text("{not json");
	const f = await ws.next();
	assert.equal(f.json.error.code, -32700);
	ws.text("[]");
	assert.equal((await ws.next()).json.error.code, -32600);
	const res = await ws.request({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "f__echo", arguments: { text: "ok" } } });
	assert.equal(res.result.content[0].text, "ok");
	ws.destroy();
});

test("the handshake: a subprotocol list without mcp is refused with 400 naming it", async () => {
	const ws = await rawWs(url, bounded, { protocols: ["graphql-ws", "chat"] });
	const res = await ws.handshake();
	assert.equal(res.status, 400);
	assert.match(res.body, /graphql-ws, chat/);
	assert.match(res.body, /mcp/);
});

test("the handshake: no subprotocol is accepted; mcp is echoed when offered", async () => {
	const none = await rawWs(url, bounded, { protocols: [] });
	const a = await none.handshake();
	assert.equal(a.status, 101);
	assert.equal(a.headers["sec-websocket-protocol"], undefined);
	none.destroy();
	const both = await rawWs(url, bounded, { protocols: ["chat", "mcp"] });
	assert.equal((await both.handshake()).headers["sec-websocket-protocol"], "mcp");
	both.destroy();
});

test("the handshake: another version gets 426 with Sec-WebSocket-Version: 13; a bad key 400", async () => {
	const v = await rawWs(url, bounded, { headers: { "Sec-WebSocket-Version": "8" } });
	const r = await v.handshake();
	assert.equal(r.status, 426);
	assert.equal(r.headers["sec-websocket-version"], "13");
	const k = await rawWs(url, bounded, { headers: { "Sec-WebSocket-Key": "short" } });
	assert.equal((await k.handshake()).status, 400);
});

test("the handshake: a foreign Origin or Host is refused with 403 (cross-site WebSocket hijacking)", async () => {
	const o = await rawWs(url, bounded, { headers: { Origin: "https://evil.example" } });
	assert.equal((await o.handshake()).status, 403);
	const h = await rawWs(url, bounded, { headers: { Host: "evil.example" } });
	assert.equal((await h.handshake()).status, 403);
	const ok = await rawWs(url, bounded, { headers: { Origin: "http://localhost:3000" } });
	assert.equal((await ok.handshake()).status, 101);
	ok.destroy();
	await bStillServes("after refused handshakes");
});

test("a client that stops reading is dropped past max_write_queue_bytes; B is not disturbed", async () => {
	const ws = await rawWsSession(quietUrl, bounded);
	ws.pause();
	for (let i = 0; i < 24; i++) {
		ws.json({ jsonrpc: "2.0", id: 50 + i, method: "tools/call", params: { name: "f__big", arguments: { bytes: 1000000 } } });
	}
	await waitFor(() => /client not reading; connection dropped/.test(gw.stderrText()), { timeout: 10000, what: `the drop${log()}` });
	await bStillServes("after a client that stopped reading");
	ws.destroy();
});

test("max_sessions counts WebSocket and HTTP sessions together: beyond, 503", async () => {
	const first = await rawWsSession(fewUrl, bounded);
	const second = await rawWs(fewUrl, bounded);
	assert.equal((await second.handshake()).status, 503);
	const init = await fetch(fewUrl, {
		method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
		body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize",
			params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "h", version: "1" } } }),
	});
	assert.equal(init.status, 503, "an HTTP initialize too");
	first.destroy();
	// the session ends with its connection: the place is free again
	await waitFor(async () => {
		const again = await rawWs(fewUrl, bounded);
		const ok = (await again.handshake()).status === 101;
		again.destroy();
		return ok;
	}, { timeout: 5000, what: "a place once the first session closed" });
});
