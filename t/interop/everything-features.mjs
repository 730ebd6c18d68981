// Interop beyond tools: the official TypeScript SDK 1.x client (declaring sampling,
// elicitation and roots, and answering them) uses mcpfed, over stdio and over Streamable
// HTTP, federating the official server-everything (prefix "ev") and server-memory (prefix
// "mem"): resources (text and blob, bytes checked), templates, subscriptions with updates,
// prompts with arguments and embedded resources, completion, progress with the client's own
// token, cancellation, sampling, elicitation, roots and logging.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/interop/everything-features.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
	CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, McpError,
} from "@modelcontextprotocol/sdk/types.js";
import {
	binPath, killAll, logTail, luaConfig, mcpfedBin, nodeBin, recordMessages, scratchDir, serverPath, waitFor, withTimeout,
} from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";

const everythingDist = path.resolve(serverPath("."), "..", "node_modules", "@modelcontextprotocol", "server-everything", "dist");
const texts = (res) => (res?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

const DOC = "ev+demo://resource/static/document/architecture.md";
const ROOT = { uri: "file:///tmp/mcpfed-interop-root", name: "interop-root" };
// 256 bytes, every value once: the payload gzip-file-as-resource compresses
const PAYLOAD = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff));

const providers = (memFile) => [
	{ name: "everything", prefix: "ev", transport: "stdio", command: [nodeBin(), binPath("mcp-server-everything")] },
	{
		name: "memory", prefix: "mem", transport: "stdio", command: [nodeBin(), binPath("mcp-server-memory")],
		env: { MEMORY_FILE_PATH: memFile },
	},
];

// A client with handlers for the three server-to-client requests; each records what it got.
function newClient() {
	const client = new Client({ name: "mcpfed-features", version: "1.0.0" },
		{ capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } });
	const asked = { sampling: [], elicitation: [], roots: 0 };
	client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
		asked.sampling.push(req.params);
		return { role: "assistant", model: "interop-model", content: { type: "text", text: "sampled answer 42" }, stopReason: "endTurn" };
	});
	client.setRequestHandler(ElicitRequestSchema, async (req) => {
		asked.elicitation.push(req.params);
		return { action: "accept", content: { name: "Ada Lovelace", check: true, email: "ada@example.com", integer: 7 } };
	});
	client.setRequestHandler(ListRootsRequestSchema, async () => {
		asked.roots++;
		return { roots: [ROOT] };
	});
	const errors = [];
	client.onerror = (e) => errors.push(e);
	return { client, asked, errors };
}

// Everything the test does once connected; log() is the gateway's log so far.
async function exercise(t, { client, asked, errors }, rec, log) {
	const tail = () => logTail(log(), 4000);
	const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, tail);
	const call = (name, args = {}, opts) => bounded(client.callTool({ name, arguments: args }, undefined, opts), name);

	assert.equal(client.getServerVersion()?.name, "mcpfed");
	const caps = client.getServerCapabilities();
	assert.equal(caps?.resources?.subscribe, true, JSON.stringify(caps));
	assert.ok(caps?.prompts && caps?.logging && caps?.completions, JSON.stringify(caps));

	// server-everything registers its sampling, elicitation and roots tools once the gateway
	// (its client) has said it offers those capabilities; they may come with a list_changed.
	const wanted = ["ev__trigger-sampling-request", "ev__trigger-elicitation-request", "ev__get-roots-list"];
	const names = await waitFor(async () => {
		const n = (await bounded(client.listTools(), "tools/list")).tools.map((x) => x.name);
		return wanted.every((w) => n.includes(w)) && n;
	}, { timeout: 10000, what: `the tools ${wanted} in tools/list${tail()}` });
	for (const n of ["ev__echo", "ev__trigger-long-running-operation", "ev__toggle-subscriber-updates", "mem__read_graph"]) {
		assert.ok(names.includes(n), `${n} in ${names}`);
	}

	// No log messages before the client asked for some, whatever the upstreams log.
	assert.deepEqual(rec.incoming.filter((m) => m.method === "notifications/message"), []);

	await t.test("resources: list and read text, under the public URI and the upstream's", async () => {
		const { resources } = await bounded(client.listResources(), "resources/list");
		const uris = resources.map((r) => r.uri);
		assert.ok(uris.includes(DOC), uris.join(","));
		assert.ok(uris.every((u) => u.startsWith("ev+demo://") || u.startsWith("mem+")), `every resource prefixed: ${uris}`);
		assert.ok(uris.includes("mem+memory://knowledge-graph"), "server-memory's resource, prefixed");
		assert.equal(resources.find((r) => r.uri === DOC).mimeType, "text/markdown");
		const want = fs.readFileSync(path.join(everythingDist, "docs", "architecture.md"), "utf8");
		const read = await bounded(client.readResource({ uri: DOC }), "read architecture.md");
		assert.equal(read.contents.length, 1);
		assert.equal(read.contents[0].uri, DOC, "contents[].uri made public");
		assert.equal(read.contents[0].mimeType, "text/markdown");
		assert.equal(read.contents[0].text, want, "the document, unchanged");
		// the upstream's own URI is accepted too; the answer names the public one
		const byUpstream = await bounded(client.readResource({ uri: "demo://resource/static/document/architecture.md" }), "read by upstream URI");
		assert.equal(byUpstream.contents[0].uri, DOC);
		assert.equal(byUpstream.contents[0].text, want);
		// a URI nobody serves: -32002 with the URI in data
		const err = await bounded(client.readResource({ uri: "nowhere://nothing/here" }).then(() => null, (e) => e), "unknown resource");
		assert.ok(err instanceof McpError, String(err));
		assert.equal(err.code, -32002, err.message);
		assert.equal(err.data?.uri, "nowhere://nothing/here");
	});

	await t.test("templates: listed with the prefix, a templated URI read (text and blob)", async () => {
		const { resourceTemplates } = await bounded(client.listResourceTemplates(), "resources/templates/list");
		const ts = resourceTemplates.map((x) => x.uriTemplate);
		assert.ok(ts.includes("ev+demo://resource/dynamic/text/{resourceId}"), ts.join(","));
		assert.ok(ts.includes("ev+demo://resource/dynamic/blob/{resourceId}"), ts.join(","));
		const txt = await bounded(client.readResource({ uri: "ev+demo://resource/dynamic/text/7" }), "read text/7");
		assert.equal(txt.contents[0].uri, "ev+demo://resource/dynamic/text/7");
		assert.match(txt.contents[0].text, /^Resource 7: This is a plaintext resource created at /);
		// the upstream's own URI, matching the upstream's template, is accepted too
		const byUpstream = await bounded(client.readResource({ uri: "demo://resource/dynamic/text/9" }), "read text/9 by upstream URI");
		assert.equal(byUpstream.contents[0].uri, "ev+demo://resource/dynamic/text/9");
		assert.match(byUpstream.contents[0].text, /^Resource 9: /);
		const blob = await bounded(client.readResource({ uri: "ev+demo://resource/dynamic/blob/4" }), "read blob/4");
		assert.equal(blob.contents[0].uri, "ev+demo://resource/dynamic/blob/4");
		assert.equal(blob.contents[0].text, undefined);
		assert.match(Buffer.from(blob.contents[0].blob, "base64").toString(), /^Resource 4: This is a base64 blob created at /);
	});

	await t.test("a binary resource: the blob's bytes pass through untouched", async () => {
		const since = rec.mark();
		const dataUri = `data:application/octet-stream;base64,${PAYLOAD.toString("base64")}`;
		const link = await call("ev__gzip-file-as-resource", { name: "payload.bin.gz", data: dataUri, outputType: "resourceLink" });
		assert.ok(!link.isError, JSON.stringify(link));
		const uri = "ev+demo://resource/session/payload.bin.gz";
		assert.deepEqual(link.content.map((c) => [c.type, c.uri]), [["resource_link", uri]], "resource_link uri made public");
		const read = await bounded(client.readResource({ uri }), "read the gzip");
		assert.equal(read.contents[0].uri, uri);
		assert.equal(read.contents[0].mimeType, "application/gzip");
		// the upstream gzips with the same Node.js (zlib), so the very same bytes are expected
		assert.equal(read.contents[0].blob, zlib.gzipSync(PAYLOAD).toString("base64"));
		assert.ok(zlib.gunzipSync(Buffer.from(read.contents[0].blob, "base64")).equals(PAYLOAD));
		// the new resource reaches the catalog: list_changed, then it is listed
		await rec.when("notifications/resources/list_changed", { since, what: "resources/list_changed after a new session resource" });
		const { resources } = await bounded(client.listResources(), "resources/list");
		assert.equal(resources.filter((r) => r.uri === uri).length, 1, resources.map((r) => r.uri).join(","));
		// embedded in a tool result: the resource's uri made public, blob untouched
		const embedded = await call("ev__gzip-file-as-resource", { name: "payload2.bin.gz", data: dataUri, outputType: "resource" });
		assert.equal(embedded.content[0].type, "resource");
		assert.equal(embedded.content[0].resource.uri, "ev+demo://resource/session/payload2.bin.gz");
		assert.equal(embedded.content[0].resource.blob, read.contents[0].blob);
	});

	await t.test("resource links in a tool result carry public URIs that can be read", async () => {
		const res = await call("ev__get-resource-links", { count: 2 });
		const links = res.content.filter((c) => c.type === "resource_link");
		assert.deepEqual(links.map((l) => l.uri), ["ev+demo://resource/dynamic/blob/1", "ev+demo://resource/dynamic/text/2"]);
		const r = await bounded(client.readResource({ uri: links[1].uri }), "read a link");
		assert.match(r.contents[0].text, /^Resource 2: /);
	});

	await t.test("logging: nothing before setLevel; after it, the simulated log messages", async () => {
		const since = rec.mark();
		await bounded(client.setLoggingLevel("debug"), "logging/setLevel");
		const on = await call("ev__toggle-simulated-logging");
		assert.match(texts(on), /^Started simulated, random-leveled logging/);
		// one message is sent at once, at a random level, all of which debug admits (other log
		// messages may come too: server-everything logs when it gets the client's roots)
		const simulated = /^(Debug|Info|Notice|Warning|Error|Critical|Emergency)-level message|^Alert level-message/;
		const msg = await rec.when((m) => m.method === "notifications/message" && simulated.test(String(m.params.data)),
			{ since, what: "a simulated log message" });
		const level = String(msg.params.data).split(/[- ]/)[0].toLowerCase();
		assert.equal(msg.params.level, level, JSON.stringify(msg));
		const off = await call("ev__toggle-simulated-logging");
		assert.match(texts(off), /^Stopped simulated logging/);
	});

	await t.test("subscription: notifications/resources/updated under the public URI", async () => {
		const since = rec.mark();
		await bounded(client.subscribeResource({ uri: DOC }), "resources/subscribe");
		// server-everything acknowledges a subscription with a log message (info, and the client is at debug)
		const ack = await rec.when((m) => m.method === "notifications/message" && /Received Subscribe Resource request/.test(m.params.data),
			{ since, what: "the subscribe acknowledgement log" });
		assert.match(ack.params.data, /demo:\/\/resource\/static\/document\/architecture\.md/);
		// toggling updates on sends one update at once for every subscribed URI, then one every 5 s
		const on = await call("ev__toggle-subscriber-updates");
		assert.match(texts(on), /^Started simulated resource updated notifications/);
		const upd = await rec.when("notifications/resources/updated", { since, what: "resources/updated" });
		assert.deepEqual(upd.params, { uri: DOC });
		const off = await call("ev__toggle-subscriber-updates");
		assert.match(texts(off), /^Stopped simulated resource updates/);
		await bounded(client.unsubscribeResource({ uri: DOC }), "resources/unsubscribe");
		const updates = rec.incoming.slice(since).filter((m) => m.method === "notifications/resources/updated");
		assert.ok(updates.every((m) => m.params.uri === DOC), JSON.stringify(updates));
	});

	await t.test("prompts: arguments, an embedded resource with its URI made public", async () => {
		const { prompts } = await bounded(client.listPrompts(), "prompts/list");
		const pn = prompts.map((p) => p.name);
		for (const n of ["ev__simple-prompt", "ev__args-prompt", "ev__completable-prompt", "ev__resource-prompt"]) assert.ok(pn.includes(n), pn.join(","));
		assert.deepEqual(prompts.find((p) => p.name === "ev__args-prompt").arguments.map((a) => [a.name, a.required]),
			[["city", true], ["state", false]]);
		const got = await bounded(client.getPrompt({ name: "ev__args-prompt", arguments: { city: "Paris", state: "Texas" } }), "prompts/get");
		assert.deepEqual(got.messages, [{ role: "user", content: { type: "text", text: "What's weather in Paris, Texas?" } }]);
		const res = await bounded(client.getPrompt({ name: "ev__resource-prompt", arguments: { resourceType: "Text", resourceId: "3" } }), "resource-prompt");
		assert.equal(res.messages[1].content.type, "resource");
		assert.equal(res.messages[1].content.resource.uri, "ev+demo://resource/dynamic/text/3");
		assert.match(res.messages[1].content.resource.text, /^Resource 3: /);
		const unknown = await bounded(client.getPrompt({ name: "ev__no-such-prompt" }).then(() => null, (e) => e), "unknown prompt");
		assert.equal(unknown?.code, -32602, String(unknown));
	});

	await t.test("completion: prompt arguments (with context) and a template variable", async () => {
		const ref = { type: "ref/prompt", name: "ev__completable-prompt" };
		const dept = await bounded(client.complete({ ref, argument: { name: "department", value: "E" } }), "complete department");
		assert.deepEqual(dept.completion.values, ["Engineering"]);
		const who = await bounded(client.complete({ ref, argument: { name: "name", value: "" }, context: { arguments: { department: "Sales" } } }), "complete name");
		assert.deepEqual(who.completion.values, ["David", "Eve", "Frank"]);
		const tref = { type: "ref/resource", uri: "ev+demo://resource/dynamic/text/{resourceId}" };
		assert.deepEqual((await bounded(client.complete({ ref: tref, argument: { name: "resourceId", value: "12" } }), "complete id")).completion.values, ["12"]);
		assert.deepEqual((await bounded(client.complete({ ref: tref, argument: { name: "resourceId", value: "x" } }), "complete bad id")).completion.values, []);
	});

	await t.test("progress: the client's own token on every notification", async () => {
		const seen = [];
		const res = await call("ev__trigger-long-running-operation", { duration: 0.3, steps: 3 }, { onprogress: (p) => seen.push(p) });
		assert.match(texts(res), /^Long running operation completed\. Duration: 0\.3 seconds, Steps: 3\./);
		const req = rec.outgoing.findLast((m) => m.method === "tools/call" && m.params.name === "ev__trigger-long-running-operation");
		assert.equal(req.params._meta.progressToken, req.id, "the SDK uses its request id as token");
		// On the wire: three notifications with the client's token, all before the answer. (The
		// SDK client runs notification handlers a tick later than it settles answers, so the
		// last one, right before the answer, may reach onprogress too late: it then reports an
		// unknown token, which is the SDK's own doing.)
		const i = rec.incoming.findIndex((m) => m.id === req.id && m.method === undefined);
		const notes = rec.incoming.filter((m) => m.method === "notifications/progress" && m.params.progressToken === req.id);
		assert.deepEqual(notes.map((m) => [m.params.progress, m.params.total]), [[1, 3], [2, 3], [3, 3]]);
		assert.ok(notes.every((m) => rec.incoming.indexOf(m) < i), "progress before the answer");
		assert.deepEqual(seen.map((p) => [p.progress, p.total]), [[1, 3], [2, 3], [3, 3]].slice(0, seen.length));
		assert.ok(seen.length >= 2, `onprogress called ${seen.length} times`);
	});

	await t.test("cancellation: no answer, no more progress; the upstream suppressed its answer", async () => {
		const ac = new AbortController();
		const seen = [];
		let firstProgress;
		const gotFirst = new Promise((r) => { firstProgress = r; });
		const p = client.callTool({ name: "ev__trigger-long-running-operation", arguments: { duration: 0.8, steps: 4 } },
			undefined, { signal: ac.signal, onprogress: (x) => { seen.push(x); firstProgress(); } });
		const outcome = p.then(() => "answered", (e) => e);
		await bounded(gotFirst, "the first progress notification");
		const req = rec.outgoing.findLast((m) => m.method === "tools/call" && m.params.name === "ev__trigger-long-running-operation");
		ac.abort("changed my mind");
		const err = await bounded(outcome, "the aborted call to settle");
		assert.notEqual(err, "answered");
		const cancelAt = rec.mark();
		const cancel = rec.outgoing.find((m) => m.method === "notifications/cancelled" && m.params.requestId === req.id);
		assert.ok(cancel, "the SDK sent notifications/cancelled");
		// The fence: the same operation started after the cancel ends after the first would have.
		const fence = await call("ev__trigger-long-running-operation", { duration: 0.8, steps: 4 });
		assert.match(texts(fence), /^Long running operation completed/);
		assert.deepEqual(rec.incoming.filter((m) => m.id === req.id && m.method === undefined), [], "no answer to the cancelled call");
		assert.deepEqual(rec.incoming.slice(cancelAt).filter((m) => m.method === "notifications/progress" && m.params.progressToken === req.id), [],
			"no progress for the cancelled call after the cancel");
		assert.deepEqual(errors.map(String).filter((e) => /unknown message ID/.test(e) || e.includes(`"progressToken":${req.id}}`)), []);
		// server-everything ignores the abort and keeps reporting progress (which the gateway
		// drops), but the SDK under it answers nothing once cancelled: the gateway never saw an
		// answer for a call it no longer had.
		await waitFor(() => /relay: progress for no call provider=everything/.test(log()), { timeout: 5000, what: `the dropped progress in the log${tail()}` });
		assert.doesNotMatch(log(), /stdio: answer for no call provider=everything/, tail());
	});

	await t.test("sampling: the client's answer reaches the tool's result", async () => {
		const before = asked.sampling.length;
		const res = await call("ev__trigger-sampling-request", { prompt: "hello gateway", maxTokens: 20 });
		assert.ok(!res.isError, JSON.stringify(res));
		assert.equal(asked.sampling.length, before + 1);
		const params = asked.sampling.at(-1);
		assert.equal(params.messages[0].content.text, "Resource trigger-sampling-request context: hello gateway");
		assert.equal(params.maxTokens, 20);
		assert.equal(params.systemPrompt, "You are a helpful test server.");
		const result = JSON.parse(texts(res).replace(/^LLM sampling result: \n/, ""));
		assert.deepEqual(result, { model: "interop-model", role: "assistant", content: { type: "text", text: "sampled answer 42" }, stopReason: "endTurn" });
	});

	await t.test("elicitation: the client's answer reaches the tool's result", async () => {
		const before = asked.elicitation.length;
		const res = await call("ev__trigger-elicitation-request");
		assert.equal(asked.elicitation.length, before + 1);
		assert.equal(asked.elicitation.at(-1).message, "Please provide inputs for the following fields:");
		assert.deepEqual(asked.elicitation.at(-1).requestedSchema.required, ["name"]);
		const out = texts(res);
		assert.match(out, /User provided the requested information/);
		assert.match(out, /- Name: Ada Lovelace/);
		assert.match(out, /- Email: ada@example\.com/);
		assert.match(out, /- Favorite Integer: 7/);
	});

	await t.test("roots: the client's roots reach the tool's result", async () => {
		const res = await call("ev__get-roots-list");
		assert.match(texts(res), /^Current MCP Roots \(1 total\):/, texts(res));
		assert.ok(texts(res).includes(`URI: ${ROOT.uri}`), texts(res));
		assert.ok(texts(res).includes(ROOT.name));
		assert.ok(asked.roots >= 1, "the client was asked for its roots");
	});

	await t.test("the second provider: server-memory", async () => {
		const created = await call("mem__create_entities", { entities: [{ name: "mcpfed", entityType: "gateway", observations: ["federates"] }] });
		assert.ok(!created.isError, JSON.stringify(created));
		const graph = JSON.parse(texts(await call("mem__read_graph")));
		assert.deepEqual(graph.entities.map((e) => e.name), ["mcpfed"]);
	});

	// Nothing the gateway sent confused the SDK client (unknown ids, bad messages), apart from
	// the SDK's own late progress handling (see the progress test).
	assert.deepEqual(errors.map(String).filter((e) => !/^Error: Received a progress notification for an unknown token: .*"progress":3,"total":3,/.test(e)), []);
	// Every answer the client got was to a request it made.
	const sentIds = new Set(rec.outgoing.filter((m) => m.method !== undefined && m.id !== undefined).map((m) => m.id));
	const answers = rec.incoming.filter((m) => m.method === undefined && m.id !== undefined);
	assert.deepEqual(answers.filter((m) => !sentIds.has(m.id)), []);
}

test("SDK client over stdio: resources, prompts, completion, progress, cancel, sampling, elicitation, roots, logging", async (t) => {
	const memFile = path.join(scratchDir(), "memory.jsonl");
	const cfg = luaConfig({ log_level: "debug", providers: providers(memFile) });
	const env = { PATH: process.env.PATH, HOME: process.env.HOME || "/tmp" };
	for (const k of ["MCPFED_PLUGIN_PATH", "MCPFED_LUA_PATH"]) if (process.env[k]) env[k] = process.env[k];
	const transport = new StdioClientTransport({ command: mcpfedBin(), args: ["--stdio", "-c", cfg], env, stderr: "pipe" });
	let log = "";
	transport.stderr.setEncoding("utf8").on("data", (d) => { log += d; });
	const rec = recordMessages(transport, "stdio client");
	const c = newClient();
	t.after(() => c.client.close().catch(() => {}));
	await withTimeout(c.client.connect(transport), 10000, "connect", () => logTail(log));
	await exercise(t, c, rec, () => log);
	// the gateway ends on its own when stdin closes (the SDK would SIGTERM it after 2 s)
	const proc = transport._process; // the SDK keeps the ChildProcess here (1.x)
	const closing = Date.now();
	await withTimeout(c.client.close(), 10000, "close", () => logTail(log));
	assert.ok(Date.now() - closing < 1900, `gateway exited ${Date.now() - closing} ms after stdin closed${logTail(log)}`);
	if (proc) assert.deepEqual({ code: proc.exitCode, signal: proc.signalCode }, { code: 0, signal: null }, logTail(log));
});

test("SDK client over Streamable HTTP: the same features, server-to-client requests on the call's stream", async (t) => {
	const memFile = path.join(scratchDir(), "memory.jsonl");
	const { gw, urls } = await startHttpGateway({
		log_level: "debug", listen: ["http://127.0.0.1:0/mcp"], providers: providers(memFile),
	}, { listed: ["everything", "memory"], listedTimeout: 15000 });
	t.after(() => killAll(gw));
	const transport = new StreamableHTTPClientTransport(new URL(urls[0]));
	const rec = recordMessages(transport, "http client");
	const c = newClient();
	t.after(() => c.client.close().catch(() => {}));
	await withTimeout(c.client.connect(transport), 10000, "connect", () => logTail(gw.stderrText()));
	await exercise(t, c, rec, () => gw.stderrText());

	await t.test("a client without a GET stream: requests for it and its progress ride the call's POST stream", async () => {
		let refusedGets = 0;
		const postOnly = new StreamableHTTPClientTransport(new URL(urls[0]), {
			fetch: (url, init) => {
				if ((init?.method ?? "GET") === "GET") {
					refusedGets++;
					return Promise.resolve(new Response(null, { status: 405 }));
				}
				return fetch(url, init);
			},
		});
		const rec2 = recordMessages(postOnly, "POST-only client");
		const c2 = newClient();
		t.after(() => c2.client.close().catch(() => {}));
		await withTimeout(c2.client.connect(postOnly), 10000, "connect", () => logTail(gw.stderrText()));
		const call2 = (name, args = {}, opts) => withTimeout(c2.client.callTool({ name, arguments: args }, undefined, opts), 10000, name,
			() => logTail(gw.stderrText()));
		// the other client is idle: the request goes to the one with a call under way
		const sampled = await call2("ev__trigger-sampling-request", { prompt: "over POST" });
		assert.match(texts(sampled), /"text": "sampled answer 42"/);
		assert.equal(c2.asked.sampling.length, 1);
		assert.equal(c2.asked.sampling[0].messages[0].content.text, "Resource trigger-sampling-request context: over POST");
		const elicited = await call2("ev__trigger-elicitation-request");
		assert.match(texts(elicited), /- Name: Ada Lovelace/);
		assert.equal(c2.asked.elicitation.length, 1);
		const long = await call2("ev__trigger-long-running-operation", { duration: 0.2, steps: 2 }, { onprogress: () => {} });
		assert.match(texts(long), /^Long running operation completed/);
		const req = rec2.outgoing.findLast((m) => m.method === "tools/call");
		assert.equal(rec2.incoming.filter((m) => m.method === "notifications/progress" && m.params.progressToken === req.id).length, 2);
		assert.ok(refusedGets >= 1, "the client tried to open a GET stream");
		assert.equal(c.asked.sampling.length, 1, "the idle client was not asked again");
		assert.equal(c.asked.elicitation.length, 1);
		await withTimeout(postOnly.terminateSession(), 5000, "DELETE the session", () => logTail(gw.stderrText()));
		await c2.client.close();
	});

	await withTimeout(transport.terminateSession(), 5000, "DELETE the session", () => logTail(gw.stderrText()));
	await c.client.close();
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, logTail(gw.stderrText()));
});
