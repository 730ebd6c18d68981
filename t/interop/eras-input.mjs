// Interop: what a server asks of a client, across the two eras. A session-era client
// (1.x SDK) calls a tool of a 2026-07-28 upstream (2.x SDK server) that answers
// input-required: mcpfed asks the client with elicitation/create and calls again with its
// answer. A 2026-07-28 client (2.x SDK, pinned) calls a tool of a session-era upstream
// (stdio, 1.x SDK) that asks for elicitation mid-call: mcpfed answers input-required and
// the client's retry carries the answer to the still-running call. And the refusals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { killAll, logTail, nodeBin, serverPath, startProcess, waitFor, withTimeout } from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";

test("input asked across eras, both ways", async (t) => {
	const modern = startProcess([nodeBin(), serverPath("modern-http.mjs")]);
	t.after(() => killAll(modern));
	const m = await waitFor(() => /modern-http listening port=(\d+)/.exec(modern.stderrText()),
		{ timeout: 10000, what: "modern-http listening" });
	const { gw, urls: [url] } = await startHttpGateway({
		listen: ["http://127.0.0.1:0/mcp"],
		providers: [
			{ name: "m", transport: "http", url: `http://127.0.0.1:${m[1]}/mcp` },
			{ name: "conf", transport: "stdio", command: [nodeBin(), serverPath("conformance.mjs")], prefix: false },
		],
	}, { listed: ["m", "conf"] });
	t.after(() => killAll(gw));
	const bounded = (p, what) => withTimeout(p, 15000, what, () => logTail(gw.stderrText()));

	// a session-era client, an upstream of 2026-07-28
	const asked = [];
	const legacy = new Client({ name: "legacy", version: "1" }, { capabilities: { elicitation: {} } });
	legacy.setRequestHandler(ElicitRequestSchema, async (req) => {
		asked.push(req.params.message);
		return { action: "accept", content: { name: "Ada" } };
	});
	await bounded(legacy.connect(new StreamableHTTPClientTransport(new URL(url))), "legacy connect");
	const r1 = await bounded(legacy.callTool({ name: "m__ask_name", arguments: {} }), "m__ask_name");
	assert.equal(r1.content[0].text, "hello Ada (state asked-once)", "the answer and the upstream's requestState went back");
	assert.deepEqual(asked, ["Your name?"], "the client was asked once, with the upstream's question");
	await legacy.close();

	// the same call from a client that cannot answer: the upstream is told the client's
	// capabilities, and its own clear error comes back, not a hang
	const mute = new Client({ name: "mute", version: "1" });
	await bounded(mute.connect(new StreamableHTTPClientTransport(new URL(url))), "mute connect");
	await assert.rejects(bounded(mute.callTool({ name: "m__ask_name", arguments: {} }), "m__ask_name without elicitation"),
		(e) => e instanceof McpError && e.code === -32021 && /do not declare the required capability/.test(e.message));
	await mute.close();

	// a 2026-07-28 client, a session-era upstream asking mid-call
	const answered = [];
	const c2 = new ModernClient({ name: "modern", version: "1" },
		{ versionNegotiation: { mode: { pin: "2026-07-28" } }, capabilities: { elicitation: { form: {} } } });
	c2.setRequestHandler("elicitation/create", async (req) => {
		answered.push(req.params.message);
		return { action: "accept", content: { username: "u", email: "e@example.com" } };
	});
	await bounded(c2.connect(new ModernTransport(new URL(url))), "modern connect");
	assert.equal(c2.getProtocolEra(), "modern");
	const r2 = await bounded(c2.callTool({ name: "test_elicitation", arguments: { message: "who are you?" } }), "test_elicitation");
	assert.match(r2.content[0].text, /action=accept, content=\{"username":"u","email":"e@example.com"\}/);
	assert.deepEqual(answered, ["who are you?"]);
	await c2.close();

	// a 2026-07-28 client without elicitation is never asked: the upstream hears why
	const c3 = new ModernClient({ name: "modern-mute", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
	await bounded(c3.connect(new ModernTransport(new URL(url))), "modern-mute connect");
	const r3 = await bounded(c3.callTool({ name: "test_elicitation", arguments: { message: "who?" } }), "test_elicitation, mute");
	assert.equal(r3.isError, true, JSON.stringify(r3));
	await c3.close();
	assert.match(gw.stderrText(), /http: upstream ready provider=m .*era=stateless/);
});

test("a made-up requestState is refused", async (t) => {
	const { gw, urls: [url] } = await startHttpGateway({
		listen: ["http://127.0.0.1:0/mcp"],
		providers: [{ name: "conf", transport: "stdio", command: [nodeBin(), serverPath("conformance.mjs")], prefix: false }],
	}, { listed: ["conf"] });
	t.after(() => killAll(gw));
	const envelope = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} };
	const res = await fetch(url, {
		method: "POST",
		headers: { "content-type": "application/json", accept: "application/json, text/event-stream",
			"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "test_simple_text" },
		body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call",
			params: { name: "test_simple_text", arguments: {}, requestState: "mfr1.99.0000000000000000", inputResponses: {}, _meta: envelope } }),
	});
	const body = await res.json();
	assert.equal(body.error?.code, -32602, JSON.stringify(body));
	assert.match(body.error.message, /requestState is unknown or expired/);
});
