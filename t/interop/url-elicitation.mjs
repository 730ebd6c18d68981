// The 2025-11-25 client capabilities across the federation: mcpfed offers upstreams
// elicitation in form and URL mode and sampling with tools, and checks each request an
// upstream makes against the one client it goes to. Official SDK 1.x clients over
// Streamable HTTP; upstreams: server-everything (trigger-url-elicitation, listed only to
// clients that offer URL mode) and t/servers/asks.mjs (URL elicitation with its completion
// notification, URLElicitationRequiredError, sampling with tools).
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/interop/url-elicitation.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
	CreateMessageRequestSchema, ElicitationCompleteNotificationSchema, ElicitRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { binPath, killAll, logTail, nodeBin, serverPath, waitFor, withTimeout } from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";

const texts = (res) => (res?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

// A client with the capabilities given, recording what it is asked and told.
async function connect(url, name, capabilities, log) {
	const client = new Client({ name, version: "1.0.0" }, { capabilities });
	const seen = { elicit: [], sample: [], complete: [], errors: [] };
	if (capabilities.elicitation) {
		client.setRequestHandler(ElicitRequestSchema, async (req) => {
			seen.elicit.push(req.params);
			return { action: "accept" };
		});
	}
	if (capabilities.sampling) {
		client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
			seen.sample.push(req.params);
			return {
				role: "assistant", model: "m1", stopReason: "toolUse",
				content: [{ type: "tool_use", id: "call-1", name: "get_weather", input: { city: "Paris" } }],
			};
		});
	}
	client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => { seen.complete.push(n.params.elicitationId); });
	client.onerror = (e) => seen.errors.push(e);
	await withTimeout(client.connect(new StreamableHTTPClientTransport(new URL(url))), 10000, `connect ${name}`, () => logTail(log()));
	return { client, seen };
}

test("URL-mode elicitation and sampling with tools through the gateway", async (t) => {
	const { gw, urls } = await startHttpGateway({
		log_level: "debug", listen: ["http://127.0.0.1:0/mcp"],
		providers: [
			{ name: "everything", prefix: "ev", transport: "stdio", command: [nodeBin(), binPath("mcp-server-everything")] },
			{ name: "asks", transport: "stdio", command: [nodeBin(), serverPath("asks.mjs")] },
		],
	}, { listed: ["everything", "asks"], listedTimeout: 15000 });
	t.after(() => killAll(gw));
	const log = () => gw.stderrText();
	const bounded = (p, what) => withTimeout(p, 10000, what, () => logTail(log(), 4000));

	const full = await connect(urls[0], "full", { elicitation: { form: {}, url: {} }, sampling: { tools: {} } }, log);
	const plain = await connect(urls[0], "plain", { elicitation: {}, sampling: {} }, log);
	t.after(() => Promise.all([full.client.close(), plain.client.close()]).catch(() => {}));
	const call = (c, name, args = {}) => bounded(c.client.callTool({ name, arguments: args }), name);

	await t.test("the gateway tells upstreams it supports URL mode: server-everything lists trigger-url-elicitation", async () => {
		const names = await waitFor(async () => {
			const n = (await bounded(full.client.listTools(), "tools/list")).tools.map((x) => x.name);
			return n.includes("ev__trigger-url-elicitation") && n;
		}, { timeout: 10000, what: `ev__trigger-url-elicitation in tools/list${logTail(log())}` });
		assert.ok(names.includes("asks__url-elicit"));
	});

	await t.test("a client that declares URL mode is asked, and its answer reaches the tool", async () => {
		const res = await call(full, "ev__trigger-url-elicitation", { url: "https://example.com/consent", elicitationId: "ev-1" });
		assert.equal(full.seen.elicit.length, 1);
		assert.deepEqual(
			{ mode: full.seen.elicit[0].mode, url: full.seen.elicit[0].url, id: full.seen.elicit[0].elicitationId },
			{ mode: "url", url: "https://example.com/consent", id: "ev-1" });
		assert.match(texts(res), /User completed the URL elicitation flow/);
	});

	await t.test("a client without URL mode is never asked: the upstream gets the SDK's refusal", async () => {
		const res = await call(plain, "ev__trigger-url-elicitation", { url: "https://example.com/consent" });
		assert.equal(plain.seen.elicit.length, 0);
		assert.equal(res.isError, true, JSON.stringify(res));
		assert.match(texts(res), /Client does not support URL-mode elicitation requests/);
	});

	await t.test("the completion notification reaches the client the elicitation was for, and no other", async () => {
		const res = await call(full, "asks__url-elicit", { id: "flow-7" });
		assert.equal(texts(res), "url elicitation flow-7: accept");
		await waitFor(() => full.seen.complete.includes("flow-7"), { timeout: 5000, what: "notifications/elicitation/complete" });
		assert.equal(full.seen.elicit.at(-1).url, "https://auth.example/flow/flow-7");
		assert.deepEqual(plain.seen.complete, []);
	});

	await t.test("URLElicitationRequiredError passes through, and its completion comes after the call", async () => {
		const err = await full.client.callTool({ name: "asks__url-required", arguments: { id: "pre-3" } }).then(
			(r) => assert.fail(`expected -32042, got ${JSON.stringify(r)}`), (e) => e);
		assert.equal(err.code, -32042, String(err));
		assert.deepEqual(err.data.elicitations.map((e) => [e.mode, e.elicitationId]), [["url", "pre-3"]]);
		await waitFor(() => full.seen.complete.includes("pre-3"), { timeout: 5000, what: "the completion of pre-3" });
		assert.deepEqual(plain.seen.complete, []);
	});

	await t.test("sampling with tools reaches a client that declared sampling.tools, its tool use comes back", async () => {
		const res = await call(full, "asks__sample-tools");
		const asked = full.seen.sample.at(-1);
		assert.deepEqual(asked.tools.map((x) => x.name), ["get_weather"]);
		assert.deepEqual(asked.toolChoice, { mode: "auto" });
		const got = JSON.parse(texts(res));
		assert.deepEqual(got.content, [{ type: "tool_use", id: "call-1", name: "get_weather", input: { city: "Paris" } }]);
		assert.equal(got.stopReason, "toolUse");
	});

	await t.test("sampling with tools is refused for a client without sampling.tools", async () => {
		const res = await call(plain, "asks__sample-tools");
		assert.equal(plain.seen.sample.length, 0);
		assert.equal(res.isError, true, JSON.stringify(res));
		assert.match(texts(res), /Client does not support sampling tools capability/);
	});

	assert.deepEqual([...full.seen.errors, ...plain.seen.errors].map(String), []);
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, logTail(log()));
});
