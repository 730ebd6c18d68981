// Interop over WebSocket, downstream: the official SDK's WebSocket client transport
// (subprotocol "mcp") talks to mcpfed on a ws:// listener and on an http:// listener's MCP
// path (the upgrade there), with a faulty upstream with every feature: tools, resources and
// subscriptions, prompts, progress, a sampling round trip, list-changed notifications, a
// cancelled call. The same port keeps serving Streamable HTTP beside its WebSocket clients.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/interop/sdk-ws.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
	CreateMessageRequestSchema, ResourceUpdatedNotificationSchema,
	ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { faulty, killAll, logTail, recordMessages, withTimeout } from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";
import { rawWs } from "../lib/rawws.mjs";

let gw, wsUrl, httpUrl;
const log = () => logTail(gw?.stderrText(), 4000);
const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, log);
const texts = (res) => (res?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
const clients = [];

before(async () => {
	const started = await startHttpGateway({
		log_level: "debug",
		listen: ["ws://127.0.0.1:0/mcp", "http://127.0.0.1:0/mcp"],
		providers: [faulty("f", { env: { FAULTY_FEATURES: "1", FAULTY_SWAP_TOOLS: "1" } })],
	}, { listed: ["f"] });
	gw = started.gw;
	wsUrl = started.urls[0];
	httpUrl = started.urls[1];
});

after(async () => {
	for (const c of clients) await c.close().catch(() => {});
	await killAll(gw);
});

async function wsClient(url, name) {
	const client = new Client({ name, version: "1.0.0" }, { capabilities: { sampling: {} } });
	client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
		role: "assistant", model: name, content: { type: "text", text: `${name} says: ${req.params.messages[0].content.text}` },
	}));
	const transport = new WebSocketClientTransport(new URL(url));
	client.rec = recordMessages(transport);
	await bounded(client.connect(transport), `connect ${name} to ${url}`);
	clients.push(client);
	return client;
}

test("tools, resources and prompts over a ws:// listener", async () => {
	const c = await wsClient(wsUrl, "A");
	assert.equal(c.getServerVersion()?.name, "mcpfed");
	const tools = await bounded(c.listTools(), "tools/list");
	assert.ok(tools.tools.some((t) => t.name === "f__echo"), JSON.stringify(tools.tools.map((t) => t.name)));
	assert.equal(texts(await bounded(c.callTool({ name: "f__echo", arguments: { text: "über ☃" } }), "echo")), "über ☃");
	const res = await bounded(c.listResources(), "resources/list");
	assert.ok(res.resources.length > 0);
	const read = await bounded(c.readResource({ uri: res.resources[0].uri }), "resources/read");
	assert.ok(read.contents.length > 0);
	const prompts = await bounded(c.listPrompts(), "prompts/list");
	const greet = prompts.prompts.find((p) => /greet/.test(p.name));
	assert.ok(greet, JSON.stringify(prompts));
	const got = await bounded(c.getPrompt({ name: greet.name, arguments: { name: "Ada" } }), "prompts/get");
	assert.match(JSON.stringify(got.messages), /Ada/);
});

test("progress, a sampling round trip, logging, notifications and subscriptions", async () => {
	const c = await wsClient(wsUrl, "B");
	// counted on the wire: the SDK client handles notifications a microtask late, so it drops
	// progress that arrives in the same read as the answer
	const res = await bounded(c.callTool({ name: "f__slow_progress", arguments: { steps: 3, ms: 30 } }, undefined,
		{ onprogress: () => {} }), "progress");
	assert.equal(texts(res), "progressed 3");
	assert.deepEqual(c.rec.incoming.filter((m) => m.method === "notifications/progress").map((m) => m.params.progress), [1, 2, 3]);
	assert.equal(texts(await bounded(c.callTool({ name: "f__ask_sampling", arguments: { prompt: "hi" } }), "sampling")),
		"sampled: B says: hi");

	const changed = new Promise((resolve) => c.setNotificationHandler(ToolListChangedNotificationSchema, resolve));
	await bounded(c.callTool({ name: "f__add_tool", arguments: { name: "late" } }), "add_tool");
	await bounded(changed, "notifications/tools/list_changed");

	const updated = new Promise((resolve) => c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)));
	await bounded(c.subscribeResource({ uri: "f+faulty://static/a" }), "resources/subscribe");
	assert.equal(texts(await bounded(c.callTool({ name: "f__touch", arguments: { uri: "faulty://static/a" } }), "touch")),
		"touched faulty://static/a");
	assert.equal(await bounded(updated, "notifications/resources/updated"), "f+faulty://static/a");

	await bounded(c.setLoggingLevel("debug"), "logging/setLevel");
});

test("a call cancelled over WebSocket ends upstream; the session goes on", async () => {
	const c = await wsClient(wsUrl, "C");
	const ac = new AbortController();
	const pending = c.callTool({ name: "f__block", arguments: { key: "k1" } }, undefined, { signal: ac.signal });
	await bounded(c.callTool({ name: "f__await_block", arguments: { key: "k1" } }), "await_block");
	ac.abort();
	await assert.rejects(pending);
	assert.equal(texts(await bounded(c.callTool({ name: "f__echo", arguments: { text: "after" } }), "echo")), "after");
});

test("the upgrade on an http:// listener's MCP path: one port serves both", async () => {
	const c = await wsClient(httpUrl, "D");
	assert.equal(texts(await bounded(c.callTool({ name: "f__echo", arguments: { text: "ws on http" } }), "echo")), "ws on http");
	const h = new Client({ name: "H", version: "1.0.0" });
	await bounded(h.connect(new StreamableHTTPClientTransport(new URL(httpUrl))), "HTTP client");
	clients.push(h);
	assert.equal(texts(await bounded(h.callTool({ name: "f__echo", arguments: { text: "http" } }), "echo over HTTP")), "http");
	assert.equal(texts(await bounded(c.callTool({ name: "f__echo", arguments: { text: "still" } }), "echo")), "still");
});

test("a ws:// listener answers plain HTTP with 426", async () => {
	const res = await bounded(fetch(wsUrl.replace(/^ws:/, "http:"), { method: "POST", body: "{}" }), "POST to ws://");
	assert.equal(res.status, 426);
	assert.equal(res.headers.get("upgrade"), "websocket");
});

test("2026-07-28 requests carry their envelope over WebSocket, with no initialize", async () => {
	const ws = await rawWs(wsUrl, bounded);
	assert.equal((await ws.handshake()).status, 101);
	const _meta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} };
	const d = await ws.request({ jsonrpc: "2.0", id: 1, method: "server/discover", params: { _meta } });
	assert.ok(d.result, JSON.stringify(d));
	const r = await ws.request({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "f__echo", arguments: { text: "modern" }, _meta } });
	assert.equal(r.result?.content?.[0]?.text, "modern", JSON.stringify(r));
	const bad = await ws.request({ jsonrpc: "2.0", id: 3, method: "tools/call",
		params: { name: "f__echo", arguments: { text: "x" }, _meta: { "io.modelcontextprotocol/protocolVersion": 7 } } });
	assert.equal(bad.error?.code, -32602, JSON.stringify(bad));
	ws.destroy();
});
