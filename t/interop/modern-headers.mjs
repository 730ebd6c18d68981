// Interop: revision 2026-07-28 over HTTP through the federation, on both sides, with a 2.x SDK
// upstream (t/servers/conformance-modern.mjs, whose every answer is an SSE stream) federated
// with its prefix: HTTP statuses of refusals the upstream makes (SEP-2575), the optional
// whitespace around header values (RFC 9110 §5.5), input-required results read from the
// upstream's stream, and the custom headers of SEP-2243 (Mcp-Param-*), which mcpfed checks
// as a server and sends as a client, for a tool renamed by the prefix.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { killAll, logTail, withTimeout } from "../lib/harness.mjs";
import { parseSseEvent, startHttpGateway, startHttpServer } from "../lib/http.mjs";

const V = "2026-07-28";
const envelope = (caps = {}) => ({
	"io.modelcontextprotocol/protocolVersion": V,
	"io.modelcontextprotocol/clientCapabilities": caps,
	"io.modelcontextprotocol/clientInfo": { name: "modern-headers", version: "1" },
});

let up, gw, url;
const log = () => logTail(gw.stderrText());
let id = 0;
// POST one request; headers default to the standard ones, undefined drops one. The answer
// is read whole: {status, json, events (when it was a stream)}.
const post = async (method, params, { caps, headers = {} } = {}) => {
	const body = { jsonrpc: "2.0", id: ++id, method, params: { ...params, _meta: envelope(caps) } };
	const h = {
		"Content-Type": "application/json", Accept: "application/json, text/event-stream",
		"MCP-Protocol-Version": V, "Mcp-Method": method,
		...(params.name !== undefined && { "Mcp-Name": params.name }), ...headers,
	};
	for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
	// node:http, not fetch: fetch strips the whitespace around header values itself
	const res = await withTimeout(new Promise((resolve, reject) => {
		const req = http.request(url, { method: "POST", headers: h }, (r) => {
			let text = "";
			r.setEncoding("utf8");
			r.on("data", (c) => { text += c; });
			r.on("end", () => resolve({ status: r.statusCode, type: r.headers["content-type"] ?? "", text }));
			r.on("error", reject);
		});
		req.on("error", reject);
		req.end(JSON.stringify(body));
	}), 15000, `${method} ${params.name ?? ""}`, log);
	const text = res.text;
	if (!res.type.startsWith("text/event-stream"))
		return { status: res.status, json: JSON.parse(text) };
	const events = text.replace(/\r\n?/g, "\n").split("\n\n").map(parseSseEvent).filter((e) => e.data).map((e) => JSON.parse(e.data));
	return { status: res.status, json: events.find((e) => e.id === body.id), events };
};
const call = (name, args, opts) => post("tools/call", { name, arguments: args }, opts);
const upstreamParams = (tool) => [...up.stderrText().matchAll(new RegExp(`conformance-modern params ${tool} (.*)`, "g"))].map((x) => JSON.parse(x[1]));

before(async () => {
	const s = await startHttpServer("conformance-modern");
	up = s.proc;
	({ gw, urls: [url] } = await startHttpGateway({
		listen: ["http://127.0.0.1:0/mcp"],
		providers: [{ name: "cm", transport: "http", url: s.url }],
	}, { listed: ["cm"] }));
});
after(() => killAll(gw, up));

test("an upstream's -32021 is answered with HTTP 400 (SEP-2575)", async () => {
	// SEP-2575: the upstream refuses a client without sampling with -32021; mcpfed's answer
	// says so with 400, as a refusal of its own would
	const refused = await call("cm__test_missing_capability", {});
	assert.equal(refused.json?.error?.code, -32021, JSON.stringify(refused.json) + log());
	assert.deepEqual(refused.json.error.data?.requiredCapabilities, { sampling: {} });
	assert.equal(refused.status, 400, "MissingRequiredClientCapabilityError is a bad request");
	const served = await call("cm__test_missing_capability", {}, { caps: { sampling: {} } });
	assert.equal(served.status, 200);
	assert.equal(served.json.result?.resultType, "input_required", JSON.stringify(served.json));
});

test("whitespace around header values is not part of them (RFC 9110 §5.5)", async () => {
	const spaced = await call("cm__test_logging_tool", {},
		{ headers: { "Mcp-Name": " \tcm__test_logging_tool  ", "Mcp-Method": " tools/call " } });
	assert.equal(spaced.status, 200, JSON.stringify(spaced.json) + log());
	assert.equal(spaced.json.result?.content?.[0]?.text, "logged");
	const wrongName = await call("cm__test_logging_tool", {}, { headers: { "Mcp-Name": " cm__test_simple " } });
	assert.equal(wrongName.status, 400);
	assert.equal(wrongName.json.error?.code, -32020);

});

test("an input-required result streamed by the upstream reaches the client alone", async () => {
	// an input-required result the upstream streams, after a progress notification, goes
	// through; the client's stream carries nothing but notifications and that result
	const asked = await call("cm__test_streaming_elicitation", {}, { caps: { elicitation: {} } });
	assert.equal(asked.status, 200, JSON.stringify(asked) + log());
	assert.equal(asked.json?.result?.resultType, "input_required", JSON.stringify(asked) + log());
	assert.equal(asked.json.result.inputRequests.user_name.method, "elicitation/create");
	assert.ok((asked.events ?? []).every((e) => e.id === asked.json.id || (e.method?.startsWith("notifications/") && e.id === undefined)),
		`only notifications and the result on the stream: ${JSON.stringify(asked.events)}`);
	const done = await call("cm__test_streaming_elicitation", {}, { caps: { elicitation: {} } });
	assert.equal(done.json?.result?.resultType, "input_required");
	const answered = await post("tools/call", { name: "cm__test_streaming_elicitation", arguments: {},
		inputResponses: { user_name: { action: "accept", content: { name: "Ada" } } } }, { caps: { elicitation: {} } });
	assert.equal(answered.json?.result?.content?.[0]?.text, "Hello, Ada!", JSON.stringify(answered) + log());

});

test("Mcp-Param headers: annotations kept under the prefix, checked as a server, sent as a client (SEP-2243)", async () => {
	const before = upstreamParams("test_custom_headers").length;
	// the annotations reach the client unchanged under the prefixed name
	const listed = await post("tools/list", {});
	const tool = listed.json.result.tools.find((x) => x.name === "cm__test_custom_headers");
	assert.ok(tool, "the prefixed tool is listed");
	assert.equal(tool.inputSchema.properties.region["x-mcp-header"], "Region");
	assert.equal(tool.inputSchema.properties.priority["x-mcp-header"], "Priority");

	// as a server: the headers must mirror the arguments, decoded where base64-wrapped
	const ok = async (args, headers, what) => {
		const r = await call("cm__test_custom_headers", args, { headers });
		assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.json)}${log()}`);
		assert.equal(r.json.error, undefined, what);
		return r;
	};
	const bad = async (args, headers, what, re) => {
		const r = await call("cm__test_custom_headers", args, { headers });
		assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.json)}`);
		assert.equal(r.json.error?.code, -32020, what);
		assert.match(r.json.error.message, re, what);
	};
	await ok({ region: "Hello" }, { "Mcp-Param-Region": "=?base64?SGVsbG8=?=" }, "valid base64");
	await ok({ region: "SGVsbG8=" }, { "Mcp-Param-Region": "SGVsbG8=" }, "no wrapper: literal");
	await ok({ region: "=?base64?SGVsbG8=" }, { "mcp-param-REGION": "=?base64?SGVsbG8=" }, "no suffix: literal; any case of the name");
	await ok({ region: "Zürich", priority: 3 }, { "Mcp-Param-Region": `=?base64?${Buffer.from("Zürich").toString("base64")}?=`, "Mcp-Param-Priority": "3" }, "non-ASCII, integer");
	await ok({ region: "eu", note: "not mirrored" }, { "Mcp-Param-Region": "  eu ", "Mcp-Param-Other": "ignored" },
		"whitespace around the value; an undeclared header ignored");
	await bad({ region: "Hello" }, { "Mcp-Param-Region": "=?base64?SGVsbG8?=" }, "bad padding", /malformed base64/);
	await bad({ region: "Hello" }, { "Mcp-Param-Region": "=?base64?SGVs!!!bG8=?=" }, "bad characters", /malformed base64/);
	await bad({ region: "Hello" }, {}, "header missing", /Mcp-Param-Region header is absent|absent/);
	await bad({ region: "Hello" }, { "Mcp-Param-Region": "Goodbye" }, "mismatch", /does not match/);
	await bad({ region: "eu", priority: 3 }, { "Mcp-Param-Region": "eu", "Mcp-Param-Priority": "4" }, "integer mismatch", /Priority/);

	// as a client: the upstream (which checks them too) was sent the headers, encoded
	const sent = upstreamParams("test_custom_headers").slice(before);
	assert.deepEqual(sent.find((p) => p["mcp-param-priority"] === "3"),
		{ "mcp-param-region": `=?base64?${Buffer.from("Zürich").toString("base64")}?=`, "mcp-param-priority": "3" });
	assert.ok(sent.some((p) => p["mcp-param-region"] === "=?base64?PT9iYXNlNjQ/U0dWc2JHOD0=?="),
		`a value shaped like the wrapper goes wrapped: ${JSON.stringify(sent)}`);
	assert.equal(sent.length, 5, "refused calls never went upstream");
});
