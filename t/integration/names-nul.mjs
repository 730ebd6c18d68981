// Names and URIs holding a NUL character. The gateway looks names up as C strings, which
// would take "up__echo\u0000-anything" for "up__echo": such a request is refused with -32602
// wherever a name or URI is looked up (tools/call, prompts/get, resources/read, completion
// refs, subscriptions of either era), and over HTTP the Mcp-Name header is compared with the
// body's name whole, NUL and all.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/names-nul.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeAfter, faulty, killAll, startStdio, textOf, withTimeout, logTail, luaConfig } from "../lib/harness.mjs";
import { endpointClient, startHttpGateway } from "../lib/http.mjs";

const NUL = "\u0000";
const up = faulty("up", { env: { FAULTY_FEATURES: "1" } });

function assertRefused(res, what) {
	assert.equal(res.error?.code, -32602, `${what}: ${JSON.stringify(res)}`);
	assert.match(res.error.message, /NUL/, what);
	assert.equal(res.result, undefined, what);
}

test("stdio: a name or URI with a NUL is refused with -32602 wherever one is looked up; the name without it still works", async (t) => {
	const gw = closeAfter(t, startStdio({ config: luaConfig({ providers: [up] }) }));
	await gw.initialize();
	const ok = await gw.request("tools/call", { name: "up__echo", arguments: { text: "x" } });
	assert.equal(textOf(ok), "x", JSON.stringify(ok));
	const { resources } = (await gw.request("resources/list")).result;
	const uri = resources.find((r) => r.uri.endsWith("static/a"))?.uri;
	assert.ok(uri, JSON.stringify(resources));
	const { resourceTemplates } = (await gw.request("resources/templates/list")).result;
	const template = resourceTemplates[0]?.uriTemplate;
	assert.ok(template, JSON.stringify(resourceTemplates));

	const cases = [
		["tools/call", { name: `up__echo${NUL}-anything`, arguments: { text: "x" } }],
		["tools/call", { name: `up__echo${NUL}`, arguments: { text: "x" } }],
		["prompts/get", { name: `up__greet${NUL}x`, arguments: { name: "n" } }],
		["resources/read", { uri: `${uri}${NUL}/../secret` }],
		["resources/subscribe", { uri: `${uri}${NUL}x` }],
		["completion/complete", { ref: { type: "ref/prompt", name: `up__greet${NUL}x` }, argument: { name: "name", value: "a" } }],
		["completion/complete", { ref: { type: "ref/resource", uri: `${template}${NUL}x` }, argument: { name: "id", value: "1" } }],
	];
	for (const [method, params] of cases) assertRefused(await gw.request(method, params), `${method} ${JSON.stringify(params)}`);

	// the same requests without the NUL and what follows it are served
	assert.equal((await gw.request("prompts/get", { name: "up__greet", arguments: { name: "n" } })).result?.messages?.length, 1);
	assert.ok((await gw.request("resources/read", { uri })).result?.contents, "resources/read");
});

test("2026-07-28 over HTTP: the Mcp-Name header is compared with the whole name; a name with a NUL is refused", async (t) => {
	const { gw, urls: [url] } = await startHttpGateway({ listen: ["http://127.0.0.1:0/mcp"], providers: [up] },
		{ listed: ["up"] });
	t.after(() => killAll(gw));
	const bounded = (p, what) => withTimeout(p, 5000, what, () => logTail(gw.stderrText()));
	const { post } = endpointClient(() => url, bounded);
	const meta = {
		"io.modelcontextprotocol/protocolVersion": "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": {},
		"io.modelcontextprotocol/clientInfo": { name: "names-nul", version: "1" },
	};
	const callAs = (id, name, mcpName) => post({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: { text: "x" }, _meta: meta } },
		{ headers: { "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": mcpName } });

	const ok = await callAs(1, "up__echo", "up__echo");
	assert.equal(ok.status, 200, ok.text);
	assert.equal(ok.json.result?.content?.[0]?.text, "x", ok.text);

	// the header names what comes before the NUL only: not the body's name
	const cut = await callAs(2, `up__echo${NUL}-anything`, "up__echo");
	assert.equal(cut.status, 400, cut.text);
	assert.equal(cut.json?.error?.code, -32020, cut.text);

	// the header carries the same bytes (base64, as a value with a control character must):
	// the headers agree, and the kernel refuses the name
	const whole = `=?base64?${Buffer.from(`up__echo${NUL}-anything`).toString("base64")}?=`;
	const refused = await callAs(3, `up__echo${NUL}-anything`, whole);
	assert.equal(refused.status, 200, refused.text);
	assertRefused(refused.json, "tools/call over HTTP");
});
