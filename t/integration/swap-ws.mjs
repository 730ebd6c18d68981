// Hot swap with WebSocket connections open: `reload ws` (a ws:// listener) and `reload http`
// (the upgrade on an http:// listener) hand every connection and its session to the next
// generation. Calls in flight at the switch finish with all their progress; an answer being
// written is written whole before the handover; a frame half received at the switch (and a
// fragmented message, with a ping answered inside it) is completed by the successor, neither
// lost nor seen twice.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/swap-ws.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";
import {
	admin, call, killAll, logTail, luaConfig, nodeBin, recordMessages, scratchDir, serverPath, startProcess, startStdio, textOf,
	waitFor, withTimeout,
} from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";
import { rawWsSession } from "../lib/rawws.mjs";

const tail = (gw) => logTail(gw.stderrText(), 5000);
const texts = (res) => (res?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

async function gateway(t) {
	const sock = path.join(scratchDir(), "admin.sock");
	const { gw, urls } = await startHttpGateway({
		log_level: "info", admin: sock, listen: ["ws://127.0.0.1:0/mcp", "http://127.0.0.1:0/mcp"],
		providers: [{ name: "f", transport: "stdio", command: [nodeBin(), serverPath("faulty.mjs")], env: { FAULTY_SWAP_TOOLS: "1" } }],
	}, { listed: ["f"], timeout: 15000 });
	gw.sock = sock;
	t.after(() => killAll(gw));
	await waitFor(() => admin(sock, "plugins").then((r) => r.code === 200), { timeout: 5000, what: "the admin socket" });
	return { gw, wsUrl: urls[0], httpUrl: urls[1] };
}

async function reloadOk(gw, name, want = 1) {
	const r = await admin(gw.sock, `reload ${name}`, { timeout: 15000 });
	assert.equal(r.code, 200, `reload ${name}: ${JSON.stringify(r.body)}${tail(gw)}`);
	assert.equal(r.body.outcome, "swapped", JSON.stringify(r.body));
	assert.equal(r.body.instances.filter((i) => i.result === "swapped").length, want, JSON.stringify(r.body));
}

async function sdkClient(url, bounded) {
	const c = new Client({ name: "swap", version: "1" });
	const transport = new WebSocketClientTransport(new URL(url));
	const rec = recordMessages(transport);
	let closed = false;
	await bounded(c.connect(transport), `connect ${url}`);
	transport.onclose = () => { closed = true; };
	// what came over the socket: the SDK client itself drops progress that arrives in the same
	// read as the answer (it handles notifications a microtask late), as it does after a hold
	const progressSince = (mark) => rec.incoming.slice(mark).filter((m) => m.method === "notifications/progress").map((m) => m.params.progress);
	return { c, rec, progressSince, closed: () => closed };
}

test("reloads with WebSocket connections open lose no call, no progress, no connection", async (t) => {
	const { gw, wsUrl, httpUrl } = await gateway(t);
	const bounded = (p, what, ms = 15000) => withTimeout(p, ms, what, () => tail(gw));
	const A = await sdkClient(wsUrl, bounded);
	const D = await sdkClient(httpUrl, bounded);
	for (let round = 0; round < 3; round++) {
		const marks = { A: A.rec.mark(), D: D.rec.mark() };
		const inflight = [
			A.c.callTool({ name: "f__slow_progress", arguments: { steps: 4, ms: 40 } }, undefined, { onprogress: () => {} }),
			D.c.callTool({ name: "f__slow_progress", arguments: { steps: 4, ms: 40 } }, undefined, { onprogress: () => {} }),
			A.c.callTool({ name: "f__big", arguments: { bytes: 3000000 } }),
		];
		await reloadOk(gw, "ws");
		await reloadOk(gw, "http");
		const [a, d, big] = await bounded(Promise.all(inflight), `round ${round}: the calls in flight`);
		assert.equal(texts(a), "progressed 4");
		assert.equal(texts(d), "progressed 4");
		assert.deepEqual({ A: A.progressSince(marks.A), D: D.progressSince(marks.D) }, { A: [1, 2, 3, 4], D: [1, 2, 3, 4] },
			`round ${round}: every progress notification, once, in order`);
		assert.equal(texts(big), "x".repeat(3000000), "the big answer whole");
		assert.equal(texts(await bounded(A.c.callTool({ name: "f__echo", arguments: { text: `a${round}` } }), "echo A")), `a${round}`);
		assert.equal(texts(await bounded(D.c.callTool({ name: "f__echo", arguments: { text: `d${round}` } }), "echo D")), `d${round}`);
	}
	assert.equal(A.closed() || D.closed(), false, "no connection was closed");
	assert.equal((gw.stderrText().match(/websocket session started/g) || []).length, 2, "two sessions, never started again");
	await A.c.close();
	await D.c.close();
});

test("a frame half received at the switch, and a fragmented message with a ping inside, are completed once", async (t) => {
	const { gw, wsUrl } = await gateway(t);
	const bounded = (p, what, ms = 15000) => withTimeout(p, ms, what, () => tail(gw));
	const R = await rawWsSession(wsUrl, bounded, { autoPong: false });
	const masked = (b0, payload) => {
		const k = crypto.randomBytes(4);
		const p = Buffer.from(payload);
		return Buffer.concat([Buffer.from([b0, 0x80 | p.length]), k, Buffer.from(p.map((x, i) => x ^ k[i % 4]))]);
	};
	const msg = (id, text) => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "f__echo", arguments: { text } } });

	// one whole frame, cut in two by the reload
	const f1 = masked(0x81, msg(1, "half"));
	R.raw(f1.subarray(0, 9));
	await reloadOk(gw, "ws");
	R.raw(f1.subarray(9));
	let f = await R.next();
	assert.equal(f.json.id, 1);
	assert.equal(f.json.result.content[0].text, "half");

	// a fragmented message: its first fragment and a ping before the reload, the rest after
	const whole = msg(2, "fragments");
	R.raw(masked(0x01, whole.slice(0, 20)));
	R.raw(masked(0x89, "p1"));
	f = await R.next();
	assert.equal(f.opcode, 10, "the ping inside the message is answered");
	assert.equal(f.payload.toString(), "p1");
	R.raw(masked(0x00, whole.slice(20, 40)));
	await reloadOk(gw, "ws");
	R.raw(masked(0x80, whole.slice(40)));
	f = await R.next();
	assert.equal(f.opcode, 1, `the answer, not a second pong: ${JSON.stringify(f)}`);
	assert.equal(f.json.id, 2);
	assert.equal(f.json.result.content[0].text, "fragments");

	// exactly one answer each: a probe answered next means nothing came twice
	R.json(JSON.parse(msg(3, "probe")));
	f = await R.next();
	assert.equal(f.json.id, 3, `nothing else came first: ${JSON.stringify(f.json)}`);
	R.destroy();
});

test("the ws provider: calls in flight finish on the old generation, subscriptions move to the new one", async (t) => {
	const up = startProcess([nodeBin(), serverPath("ws-server.mjs")]);
	t.after(() => killAll(up));
	const port = (await waitFor(() => /ws-server listening port=(\d+)/.exec(up.stderrText()), { timeout: 10000, what: "ws-server" }))[1];
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({
		config: luaConfig({
			log_level: "info", admin: sock,
			providers: [{ name: "w", transport: "ws", url: `ws://127.0.0.1:${port}/mcp` }],
		}),
	});
	gw.sock = sock;
	t.after(() => killAll(gw));
	await gw.initialize({ capabilities: {}, clientInfo: { name: "S", version: "1" } });
	await waitFor(() => /registry: listed provider=w list=tools /.test(gw.stderrText()), { timeout: 10000, what: "w listed" });
	assert.deepEqual((await gw.request("resources/subscribe", { uri: "w+ws://res/b" })).result, {});
	for (let round = 0; round < 2; round++) {
		const slow = call(gw, "w__sleep", { ms: 300 }, { timeout: 10000 });
		await reloadOk(gw, "ws");
		assert.equal(textOf(await slow), "slept 300", `round ${round}: the call in flight finished`);
		await waitFor(() => (gw.stderrText().match(/ws: upstream ready provider=w .*subscriptions=1/g) || []).length === round + 1,
			{ timeout: 10000, what: `the successor's connection, subscribed${tail(gw)}` });
		assert.equal(textOf(await call(gw, "w__echo", { text: `after ${round}` })), `after ${round}`);
		assert.equal(textOf(await call(gw, "w__subscriptions")), JSON.stringify(["ws://res/b"]));
	}
});
