// Interop over WebSocket, upstream: the ws provider reaches t/servers/ws-server.mjs (the
// SDK's server on the `ws` package) over ws:// and over wss:// (certificate verified against
// ca_file; refused without it; accepted with tls_verify = false), federated beside a stdio
// and an HTTP upstream. A client of each transport (stdio, Streamable HTTP, WebSocket) calls
// upstreams of every transport; progress and a sampling round trip cross the ws provider;
// when the upstream drops its connection the provider reconnects, initializes again and
// subscribes again, and a call that was in flight is answered -32011.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/interop/ws-upstream.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import {
	call, faulty, killAll, logTail, luaConfig, nodeBin, recordMessages, scratchDir, serverPath, startProcess, startStdio, textOf,
	waitFor, withTimeout,
} from "../lib/harness.mjs";

let gw, wsServer, wssServer, upHttp, dir;
let httpUrl, wsUrl;
const clients = [];
const log = () => logTail(gw?.stderrText(), 4000);
const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, log);
const texts = (res) => (res?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

async function listening(proc, re, what) {
	const m = await waitFor(() => re.exec(proc.stderrText()) || proc.exitStatus(), { timeout: 10000, what });
	assert.ok(Array.isArray(m), `${what}: ${proc.stderrText()}`);
	return Number(m[1]);
}

before(async () => {
	dir = scratchDir();
	const cert = path.join(dir, "cert.pem"), key = path.join(dir, "key.pem");
	execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
		"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: "ignore" });
	wsServer = startProcess([nodeBin(), serverPath("ws-server.mjs")], { WS_NAME: "ws-plain" });
	wssServer = startProcess([nodeBin(), serverPath("ws-server.mjs")], { WS_NAME: "ws-tls", WS_TLS_CERT: cert, WS_TLS_KEY: key });
	upHttp = startProcess([nodeBin(), serverPath("faulty.mjs")], { FAULTY_HTTP_PORT: "0", FAULTY_NAME: "faulty-http" });
	const wsPort = await listening(wsServer, /ws-server listening port=(\d+)/, "ws-server");
	const wssPort = await listening(wssServer, /ws-server listening port=(\d+)/, "ws-server over TLS");
	const httpPort = await listening(upHttp, /faulty listening port=(\d+)/, "faulty over HTTP");
	const closedPort = await new Promise((resolve) => {
		const s = net.createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
	});
	gw = startStdio({
		config: luaConfig({
			log_level: "debug",
			listen: ["http://127.0.0.1:0/mcp", "ws://127.0.0.1:0/mcp"],
			providers: [
				faulty("f"),
				{ name: "h", transport: "http", url: `http://127.0.0.1:${httpPort}/mcp` },
				{ name: "w", transport: "ws", url: `ws://127.0.0.1:${wsPort}/mcp`, headers: { Authorization: "Bearer w" },
					backoff_min_ms: 50, backoff_max_ms: 200 },
				{ name: "s", transport: "ws", url: `wss://localhost:${wssPort}/mcp`, ca_file: cert },
				{ name: "insecure", transport: "ws", url: `wss://localhost:${wssPort}/mcp`, tls_verify: false },
				{ name: "r", transport: "ws", urls: [`ws://127.0.0.1:${wsPort}/mcp`, `ws://127.0.0.1:${closedPort}/mcp`],
					backoff_min_ms: 50, backoff_max_ms: 200 },
				{ name: "unverified", transport: "ws", url: `wss://localhost:${wssPort}/mcp`, backoff_min_ms: 50, backoff_max_ms: 1000 },
			],
		}),
	});
	await gw.initialize({ capabilities: {}, clientInfo: { name: "S", version: "1" } });
	for (const p of ["f", "h", "w", "s", "insecure", "r"]) {
		await waitFor(() => new RegExp(`registry: listed provider=${p} list=tools `).test(gw.stderrText()),
			{ timeout: 15000, what: `${p} listed${log()}` });
	}
	const urls = [...gw.stderrText().matchAll(/ info http: listening url=(\S+)/g)].map((m) => m[1]);
	httpUrl = urls.find((u) => u.startsWith("http:"));
	wsUrl = urls.find((u) => u.startsWith("ws:"));
});

after(async () => {
	for (const c of clients) await c.close().catch(() => {});
	await killAll(gw, wsServer, wssServer, upHttp);
});

async function sdkClient(transport, name) {
	const c = new Client({ name, version: "1" }, { capabilities: { sampling: {} } });
	c.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
		role: "assistant", model: name, content: { type: "text", text: `${name} says: ${req.params.messages[0].content.text}` },
	}));
	await bounded(c.connect(transport), `connect ${name}`);
	clients.push(c);
	return c;
}

test("wss:// is verified: with ca_file it serves, without it the certificate is refused", async () => {
	await waitFor(() => /provider=unverified .*certificate verify failed/.test(gw.stderrText()),
		{ timeout: 10000, what: `the refusal${log()}` });
	assert.doesNotMatch(gw.stderrText(), /registry: listed provider=unverified /);
	assert.equal(textOf(await call(gw, "s__echo", { text: "over TLS" })), "over TLS");
	assert.equal(textOf(await call(gw, "insecure__echo", { text: "unverified TLS" })), "unverified TLS");
});

test("a client of each transport calls upstreams of every transport", async () => {
	const H = await sdkClient(new StreamableHTTPClientTransport(new URL(httpUrl)), "H");
	const W = await sdkClient(new WebSocketClientTransport(new URL(wsUrl)), "W");
	for (const p of ["f", "h", "w", "s"]) {
		assert.equal(textOf(await call(gw, `${p}__echo`, { text: `S to ${p}` })), `S to ${p}`);
		assert.equal(texts(await bounded(H.callTool({ name: `${p}__echo`, arguments: { text: `H to ${p}` } }), `H ${p}`)), `H to ${p}`);
		assert.equal(texts(await bounded(W.callTool({ name: `${p}__echo`, arguments: { text: `W to ${p}` } }), `W ${p}`)), `W to ${p}`);
	}
});

test("progress and a sampling round trip through the ws provider", async () => {
	const transport = new WebSocketClientTransport(new URL(wsUrl));
	const rec = recordMessages(transport);
	const W = await sdkClient(transport, "W2");
	const res = await bounded(W.callTool({ name: "w__progress", arguments: { steps: 3 } }, undefined, { onprogress: () => {} }), "progress");
	assert.equal(texts(res), "progressed 3");
	// counted on the wire: the SDK client drops progress that shares a read with the answer
	assert.deepEqual(rec.incoming.filter((m) => m.method === "notifications/progress").map((m) => m.params.progress), [1, 2, 3]);
	assert.equal(texts(await bounded(W.callTool({ name: "w__ask_sampling", arguments: { prompt: "hi" } }), "sampling")),
		"sampled: W2 says: hi");
});

test("a dropped upstream connection: the call in flight is -32011, then reconnect, initialize and subscribe again", async () => {
	const W = await sdkClient(new WebSocketClientTransport(new URL(wsUrl)), "W3");
	const updated = [];
	W.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated.push(n.params.uri));
	await bounded(W.subscribeResource({ uri: "w+ws://res/a" }), "subscribe");
	assert.equal(textOf(await call(gw, "w__subscriptions")), JSON.stringify(["ws://res/a"]));
	const before = Number(textOf(await call(gw, "w__connections")));

	const inflight = call(gw, "w__sleep", { ms: 3000 }, { timeout: 10000 });
	// both go out in order on the one connection: the sleep is under way when the drop comes
	assert.equal(textOf(await call(gw, "w__drop")), "dropping");
	const lost = await inflight;
	assert.equal(lost.error?.code, -32011, JSON.stringify(lost));

	// the drop ends every connection to that server: w's, and r's first replica's
	for (const p of ["w", "r"]) {
		await waitFor(() => new RegExp(`ws: upstream ready provider=${p} .* reconnected`).test(gw.stderrText()),
			{ timeout: 10000, what: `the reconnection of ${p}${log()}` });
	}
	assert.equal(Number(textOf(await call(gw, "w__connections"))), before + 2, "a new session each was initialized");
	assert.equal(textOf(await call(gw, "w__subscriptions")), JSON.stringify(["ws://res/a"]), "subscribed again");
	assert.equal(textOf(await call(gw, "w__touch", { uri: "ws://res/a" })), "touched ws://res/a");
	await waitFor(() => updated.includes("w+ws://res/a"), { timeout: 5000, what: "the update after the reconnect" });
});

test("replicas: urls make targets; the one that cannot be reached is retried while the other serves", async () => {
	for (let i = 0; i < 6; i++) assert.equal(textOf(await call(gw, "r__echo", { text: `r${i}` })), `r${i}`);
	assert.match(gw.stderrText(), /ws: cannot reach the upstream provider=r url=ws:\/\/127\.0\.0\.1:\d+\/mcp reason="cannot connect/);
	assert.match(gw.stderrText(), /ws: upstream ready provider=r .* target=1/);
});
