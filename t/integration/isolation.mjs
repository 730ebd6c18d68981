// Clients kept apart: three sessions at once on one mcpfed, S over stdio (raw JSON-RPC, no
// client capabilities, never sets a log level) and A and B over Streamable HTTP (the
// official SDK 1.x client, answering sampling, elicitation and roots each in its own name),
// against two faulty upstreams with FAULTY_FEATURES: "f" over stdio and "h" over HTTP (whose
// POST streams tell the gateway which call a message is about). Subscriptions, log levels,
// progress, requests for clients, answers and cancellation stay with their own session;
// a request for a client that cannot be attributed is refused (-32013), not guessed.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/isolation.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
	CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import {
	call, faulty, killAll, logTail, luaConfig, nodeBin, recordMessages, serverPath, startProcess, startStdio, textOf,
	waitFor, withTimeout,
} from "../lib/harness.mjs";

const FEATURES = { FAULTY_FEATURES: "1" };
let upHttp; // faulty over HTTP
let gw; // mcpfed --stdio, also listening on HTTP: S is its stdio client
let url;
let A, B;
const log = () => logTail(gw?.stderrText(), 4000);
const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, log);
const texts = (res) => (res?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

// S: a tool call over stdio, its text.
const s = async (name, args = {}) => {
	const res = await call(gw, name, args);
	assert.ok(res.result, `S: ${name}: ${JSON.stringify(res)}`);
	return textOf(res);
};
const upstreamSubs = async (p = "f") => JSON.parse(await s(`${p}__subscriptions`));

// An SDK client over HTTP, with everything it received and sent recorded.
async function httpClient(name) {
	const transport = new StreamableHTTPClientTransport(new URL(url));
	const rec = recordMessages(transport, name);
	const client = new Client({ name, version: "1.0.0" }, { capabilities: { sampling: {}, elicitation: {}, roots: {} } });
	const asked = { sampling: [], elicitation: [], roots: 0 };
	client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
		asked.sampling.push(req.params);
		return { role: "assistant", model: name, content: { type: "text", text: `${name} says: ${req.params.messages[0].content.text}` } };
	});
	client.setRequestHandler(ElicitRequestSchema, async (req) => {
		asked.elicitation.push(req.params);
		return { action: "accept", content: { answer: `${name}'s answer` } };
	});
	client.setRequestHandler(ListRootsRequestSchema, async () => {
		asked.roots++;
		return { roots: [{ uri: `file:///roots/${name}`, name }] };
	});
	const errors = [];
	client.onerror = (e) => errors.push(e);
	await bounded(client.connect(transport), `connect ${name}`);
	const c = {
		name, client, transport, rec, asked, errors,
		call: (tool, args = {}) => bounded(client.callTool({ name: tool, arguments: args }), `${name}: ${tool}`),
		// Send a request with an id and _meta of our choosing, past the SDK's own bookkeeping.
		// Not awaited: the POST may answer only with the call's answer.
		raw(id, tool, args = {}, meta) {
			transport.send({
				jsonrpc: "2.0", id, method: "tools/call", params: { name: tool, arguments: args, ...(meta ? { _meta: meta } : {}) },
			}).catch((e) => errors.push(e));
		},
		answers: (id, since = 0) => rec.incoming.slice(since).filter((m) => m.id === id && m.method === undefined),
		answer: (id, since = 0) => rec.when((m) => m.id === id && m.method === undefined, { since, what: `the answer to id ${id}` }),
		of: (method, since = 0) => rec.incoming.slice(since).filter((m) => m.method === method),
		// errors of the SDK client other than about the answers and tokens of raw requests
		ownErrors: () => errors.map(String).filter((e) => !/unknown (message ID|token)/.test(e)),
	};
	return c;
}

// What S received and nobody awaited, by method.
const sGot = (method) => gw.unconsumed().filter((m) => m.method === method);

before(async () => {
	upHttp = startProcess([nodeBin(), serverPath("faulty.mjs")], { ...FEATURES, FAULTY_HTTP_PORT: "0", FAULTY_NAME: "faulty-http" });
	const port = (await waitFor(() => /faulty listening port=(\d+)/.exec(upHttp.stderrText()) || upHttp.exitStatus(),
		{ timeout: 10000, what: "faulty listening on HTTP" }))[1];
	assert.ok(port, `faulty over HTTP runs: ${upHttp.stderrText()}`);
	gw = startStdio({
		config: luaConfig({
			log_level: "debug",
			listen: ["http://127.0.0.1:0/mcp"],
			providers: [
				faulty("f", { env: FEATURES }),
				{ name: "h", transport: "http", url: `http://127.0.0.1:${port}/mcp` },
			],
		}),
	});
	url = (await waitFor(() => / info http: listening url=(\S+)/.exec(gw.stderrText()), { timeout: 10000, what: `the listening line${log()}` }))[1];
	await gw.initialize({ capabilities: {}, clientInfo: { name: "S", version: "1" } });
	for (const p of ["f", "h"]) {
		await waitFor(() => new RegExp(`registry: listed provider=${p} list=tools `).test(gw.stderrText()), { timeout: 10000, what: `${p} listed${log()}` });
	}
	A = await httpClient("A");
	B = await httpClient("B");
});

after(async () => {
	for (const c of [A, B]) await c?.client.close().catch(() => {});
	await killAll(gw, upHttp);
});

test("subscriptions are per session; the upstream stays subscribed while any session is", async () => {
	const X = "f+faulty://static/a", Y = "f+faulty://static/b", F = "f+faulty://static/c", G = "f+faulty://static/blob";
	const up = (u) => u.slice("f+".length);
	for (const u of [X, F, G]) await bounded(A.client.subscribeResource({ uri: u }), `A subscribes ${u}`);
	for (const u of [Y, F, G]) await bounded(B.client.subscribeResource({ uri: u }), `B subscribes ${u}`);
	assert.deepEqual(await upstreamSubs(), [up(X), up(Y), up(G), up(F)].sort());

	// S touches X, Y, F, then G (which both A and B follow): what each got before G is all it gets.
	const round = async (what) => {
		const [a0, b0] = [A.rec.mark(), B.rec.mark()];
		for (const u of [X, Y, F, G]) assert.equal(await s("f__touch", { uri: up(u) }), `touched ${up(u)}`);
		const isG = (m) => m.method === "notifications/resources/updated" && m.params.uri === G;
		await A.rec.when(isG, { since: a0, what: `A: the update of G (${what})` });
		await B.rec.when(isG, { since: b0, what: `B: the update of G (${what})` });
		return [A.of("notifications/resources/updated", a0).map((m) => m.params.uri), B.of("notifications/resources/updated", b0).map((m) => m.params.uri)];
	};
	assert.deepEqual(await round("all subscribed"), [[X, F, G], [Y, F, G]]);

	await bounded(A.client.unsubscribeResource({ uri: F }), "A unsubscribes F");
	assert.ok((await upstreamSubs()).includes(up(F)), "B still follows F: the upstream stays subscribed");
	assert.deepEqual(await round("A left F"), [[X, G], [Y, F, G]]);

	await bounded(B.client.unsubscribeResource({ uri: F }), "B unsubscribes F");
	await bounded(A.client.unsubscribeResource({ uri: X }), "A unsubscribes X");
	assert.deepEqual(await upstreamSubs(), [up(Y), up(G)].sort(), "nobody follows F or X any more");
	assert.deepEqual(await round("A follows G only"), [[G], [Y, G]]);

	for (const c of [A, B]) await bounded(c.client.unsubscribeResource({ uri: G }), `${c.name} unsubscribes G`);
	await bounded(B.client.unsubscribeResource({ uri: Y }), "B unsubscribes Y");
	assert.deepEqual(await upstreamSubs(), []);
	// S subscribed to nothing and got nothing (its own answers came after every update).
	assert.deepEqual(sGot("notifications/resources/updated"), []);
	assert.deepEqual([...A.ownErrors(), ...B.ownErrors()], []);
});

test("log levels are per session; messages about a call go to its client only", async () => {
	await bounded(A.client.setLoggingLevel("debug"), "A: setLevel debug");
	await bounded(B.client.setLoggingLevel("error"), "B: setLevel error");
	assert.equal(await s("f__log_level"), "debug", "the upstream is asked for the most verbose level");
	assert.equal(await s("h__log_level"), "debug");

	const logs = (c, since) => c.of("notifications/message", since).map((m) => `${m.params.level}:${m.params.data}`);
	// A broadcast every client with a level admits: the fence of what came before.
	const fence = async (text) => {
		const [a0, b0] = [A.rec.mark(), B.rec.mark()];
		assert.equal(await s("f__log", { level: "emergency", text, related: false }), "logged emergency");
		const is = (m) => m.method === "notifications/message" && m.params.data === text;
		await A.rec.when(is, { since: a0, what: `A: ${text}` });
		await B.rec.when(is, { since: b0, what: `B: ${text}` });
	};

	// Over stdio nothing says which call a message is about: every client whose level admits it.
	let [a0, b0] = [A.rec.mark(), B.rec.mark()];
	assert.equal(await s("f__log", { level: "debug", text: "f-debug", related: false }), "logged debug");
	assert.equal(await s("f__log", { level: "error", text: "f-error", related: false }), "logged error");
	// (a message the upstream says is about the call, but over stdio the gateway cannot know)
	assert.equal(await s("f__log", { level: "warning", text: "f-warning" }), "logged warning");
	await fence("fence-1");
	assert.deepEqual(logs(A, a0), ["debug:f-debug", "error:f-error", "warning:f-warning", "emergency:fence-1"]);
	assert.deepEqual(logs(B, b0), ["error:f-error", "emergency:fence-1"]);

	// Over HTTP a message on a call's stream is about that call: its client only, at its level.
	[a0, b0] = [A.rec.mark(), B.rec.mark()];
	assert.equal(texts(await B.call("h__log", { level: "debug", text: "h-B-debug" })), "logged debug");
	assert.equal(texts(await B.call("h__log", { level: "error", text: "h-B-error" })), "logged error");
	assert.equal(texts(await A.call("h__log", { level: "info", text: "h-A-info" })), "logged info");
	assert.equal(await s("h__log", { level: "critical", text: "h-S-critical" }), "logged critical");
	await fence("fence-2");
	assert.deepEqual(logs(A, a0), ["info:h-A-info", "emergency:fence-2"]);
	assert.deepEqual(logs(B, b0), ["error:h-B-error", "emergency:fence-2"]);

	// S never set a level: none of the messages about nothing in particular (its own answers
	// to the calls above came after them).
	assert.equal(await s("f__echo", { text: "fence" }), "fence");
	assert.deepEqual(sGot("notifications/message").map((m) => m.params.data).filter((d) => !d.startsWith("h-S-")), []);
	assert.deepEqual([...A.ownErrors(), ...B.ownErrors()], []);
});

test("progress: each client gets its own, with its own token, even when ids and tokens coincide", async () => {
	const [a0, b0] = [A.rec.mark(), B.rec.mark()];
	A.raw(5001, "f__progress", { steps: 3, label: "A" }, { progressToken: 77 });
	B.raw(5001, "f__progress", { steps: 5, label: "B" }, { progressToken: 77 });
	gw.send({ jsonrpc: "2.0", id: 5001, method: "tools/call", params: { name: "f__progress", arguments: { steps: 2, label: "S" }, _meta: { progressToken: "tok-S" } } });
	const [ra, rb, rs] = await Promise.all([
		A.answer(5001, a0), B.answer(5001, b0),
		gw.next((m) => m.id === 5001 && m.method === undefined, { what: "S: the answer to 5001" }),
	]);
	const seenUp = [ra, rb, rs].map((r) => JSON.parse(textOf(r)));
	assert.deepEqual(seenUp.map((x) => x.steps), [3, 5, 2], "each got the answer to its own call");
	const tokens = seenUp.map((x) => x.token);
	assert.ok(tokens.every(Number.isInteger), `the upstream saw the gateway's tokens: ${tokens}`);
	assert.equal(new Set(tokens).size, 3, `one token per call upstream: ${tokens}`);

	const progress = (list) => list.map((m) => [m.params.progressToken, m.params.message, m.params.progress, m.params.total]);
	// on the call's own stream, before its answer
	const before = (c, since, answer) => c.rec.incoming.slice(since, c.rec.incoming.indexOf(answer));
	assert.deepEqual(progress(before(A, a0, ra).filter((m) => m.method === "notifications/progress")),
		[[77, "A 1/3", 1, 3], [77, "A 2/3", 2, 3], [77, "A 3/3", 3, 3]]);
	assert.deepEqual(progress(before(B, b0, rb).filter((m) => m.method === "notifications/progress")),
		[[77, "B 1/5", 1, 5], [77, "B 2/5", 2, 5], [77, "B 3/5", 3, 5], [77, "B 4/5", 4, 5], [77, "B 5/5", 5, 5]]);
	assert.deepEqual(progress(sGot("notifications/progress")), [["tok-S", "S 1/2", 1, 2], ["tok-S", "S 2/2", 2, 2]]);
	// and nothing else anywhere: a broadcast fences A and B, an answer S
	assert.equal(await s("f__log", { level: "emergency", text: "fence-p", related: false }), "logged emergency");
	for (const [c, since] of [[A, a0], [B, b0]]) await c.rec.when((m) => m.params?.data === "fence-p", { since, what: `${c.name}: fence-p` });
	assert.equal(A.of("notifications/progress", a0).length, 3);
	assert.equal(B.of("notifications/progress", b0).length, 5);
	assert.equal(sGot("notifications/progress").length, 2);
	assert.equal(A.answers(5001, a0).length, 1);
	assert.equal(B.answers(5001, b0).length, 1);
	assert.deepEqual([...A.ownErrors(), ...B.ownErrors()], []);
});

test("requests for a client go to the client whose call raised them", async () => {
	// stdio upstream, only A has a call under way on it: A is asked
	const sampled = await A.call("f__ask_sampling", { prompt: "for A" });
	assert.equal(texts(sampled), "sampled: A says: for A");
	const elicited = await B.call("f__ask_elicit", { message: "for B" });
	assert.equal(texts(elicited), `elicited: accept {"answer":"B's answer"}`);
	assert.equal(texts(await A.call("f__ask_roots")), `roots: [{"uri":"file:///roots/A","name":"A"}]`);
	assert.deepEqual([A.asked.sampling.length, A.asked.elicitation.length, A.asked.roots], [1, 0, 1]);
	assert.deepEqual([B.asked.sampling.length, B.asked.elicitation.length, B.asked.roots], [0, 1, 0]);
	assert.equal(A.asked.sampling[0].messages[0].content.text, "for A");
	assert.equal(B.asked.elicitation[0].message, "for B");

	// HTTP upstream, A and B both with calls under way on it: the call's stream says whose it is
	const blockA = A.call("h__block", { key: "hA" });
	const blockB = B.call("h__block", { key: "hB" });
	for (const k of ["hA", "hB"]) assert.equal(await s("h__await_block", { key: k }), `waiting ${k}`);
	assert.equal(texts(await B.call("h__ask_sampling", { prompt: "for B over HTTP" })), "sampled: B says: for B over HTTP");
	assert.equal(texts(await A.call("h__ask_elicit", { message: "for A over HTTP" })), `elicited: accept {"answer":"A's answer"}`);
	assert.deepEqual([A.asked.sampling.length, A.asked.elicitation.length], [1, 1]);
	assert.deepEqual([B.asked.sampling.length, B.asked.elicitation.length], [1, 1]);
	assert.equal(B.asked.sampling[0].messages[0].content.text, "for B over HTTP");
	assert.equal(A.asked.elicitation[0].message, "for A over HTTP");
	assert.equal(await s("h__release", { key: "hB" }), "released 1");
	assert.equal(await s("h__release", { key: "hA" }), "released 1");
	assert.equal(texts(await blockA), "unblocked hA");
	assert.equal(texts(await blockB), "unblocked hB");

	// S declared no capabilities: not asked; the upstream is told the client cannot
	const refused = await call(gw, "f__ask_sampling", { prompt: "for S" });
	assert.equal(refused.result?.isError, true, JSON.stringify(refused));
	assert.match(textOf(refused), /^error -32601: .*the client does not support sampling\/createMessage/);
	assert.match(textOf(await call(gw, "f__ask_roots")), /^error -32601: .*the client does not support roots\/list/);
	assert.match(textOf(await call(gw, "h__ask_elicit", { message: "for S" })), /^error -32601: .*the client does not support elicitation\/create/);
	assert.deepEqual(gw.unconsumed().filter((m) => m.method !== undefined && m.id !== undefined), [], "no request reached S");
	assert.deepEqual([A.asked.sampling.length, B.asked.sampling.length, A.asked.roots, B.asked.roots], [1, 1, 1, 0]);
	assert.deepEqual([...A.ownErrors(), ...B.ownErrors()], []);
});

test("ambiguity: two clients with calls under way on a stdio upstream that asks: refused with -32013", async () => {
	const blockA = A.call("f__block", { key: "kA" });
	const blockB = B.call("f__block", { key: "kB" });
	for (const k of ["kA", "kB"]) assert.equal(await s("f__await_block", { key: k }), `waiting ${k}`);
	const asked = [A.asked.sampling.length, B.asked.sampling.length];
	const res = await A.call("f__ask_sampling", { prompt: "whose?" });
	assert.equal(res.isError, true, JSON.stringify(res));
	assert.match(texts(res), /^error -32013: .*several clients have calls under way/);
	assert.deepEqual([A.asked.sampling.length, B.asked.sampling.length], asked, "neither client was asked");
	assert.match(gw.stderrText(), /relay: upstream request refused provider=f method=sampling\/createMessage/);
	assert.equal(await s("f__release", { key: "kA" }), "released 1");
	assert.equal(await s("f__release", { key: "kB" }), "released 1");
	assert.equal(texts(await blockA), "unblocked kA");
	assert.equal(texts(await blockB), "unblocked kB");
	// with B's call done, A alone is busy on f again: A is asked
	assert.equal(texts(await A.call("f__ask_sampling", { prompt: "now?" })), "sampled: A says: now?");
});

test("identical ids: each answer goes to its own session; a cancel by one leaves the others' calls alone", async () => {
	const [a0, b0] = [A.rec.mark(), B.rec.mark()];
	A.raw(9001, "f__block", { key: "iA" });
	B.raw(9001, "f__block", { key: "iB" });
	gw.send({ jsonrpc: "2.0", id: 9001, method: "tools/call", params: { name: "f__block", arguments: { key: "iS" } } });
	for (const k of ["iA", "iB", "iS"]) assert.equal(await s("f__await_block", { key: k }), `waiting ${k}`);

	gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 9001, reason: "S changed its mind" } });
	// the upstream got S's cancel (it dropped S's wait) and only S's
	assert.equal(await s("f__release", { key: "iS" }), "released 0");
	assert.equal(await s("f__release", { key: "iB" }), "released 1");
	assert.equal(textOf(await B.answer(9001, b0)), "unblocked iB");
	assert.equal(await s("f__release", { key: "iA" }), "released 1");
	assert.equal(textOf(await A.answer(9001, a0)), "unblocked iA");
	// S: no answer to its cancelled call (its later answers are the fence)
	assert.equal(await s("f__echo", { text: "after" }), "after");
	assert.deepEqual(gw.unconsumed().filter((m) => m.id === 9001), []);
	assert.deepEqual(A.answers(9001, a0).map(textOf), ["unblocked iA"]);
	assert.deepEqual(B.answers(9001, b0).map(textOf), ["unblocked iB"]);

	// the same the other way: A cancels, B's and S's identical ids go on
	const [a1, b1] = [A.rec.mark(), B.rec.mark()];
	A.raw(9002, "f__block", { key: "jA" });
	B.raw(9002, "f__block", { key: "jB" });
	gw.send({ jsonrpc: "2.0", id: 9002, method: "tools/call", params: { name: "f__block", arguments: { key: "jS" } } });
	for (const k of ["jA", "jB", "jS"]) assert.equal(await s("f__await_block", { key: k }), `waiting ${k}`);
	await bounded(A.transport.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 9002, reason: "A changed its mind" } }),
		"A: the cancel posted");
	// A's cancel reached the upstream before A's next call (its messages go out in order)
	assert.equal(texts(await A.call("f__release", { key: "jA" })), "released 0");
	assert.equal(await s("f__release", { key: "jS" }), "released 1");
	assert.equal(textOf(await gw.next((m) => m.id === 9002, { what: "S: the answer to 9002" })), "unblocked jS");
	assert.equal(await s("f__release", { key: "jB" }), "released 1");
	assert.equal(textOf(await B.answer(9002, b1)), "unblocked jB");
	// A: nothing for 9002, fenced by an answer it got later on a call made after B's ended
	assert.equal(texts(await A.call("f__echo", { text: "after" })), "after");
	assert.deepEqual(A.answers(9002, a1), []);
	assert.deepEqual([...A.ownErrors(), ...B.ownErrors()], []);
});

test("list_changed reaches every session", async () => {
	for (const [tool, list] of [["f__add_tool", "tools"], ["h__add_prompt", "prompts"], ["f__add_resource", "resources"]]) {
		const [a0, b0] = [A.rec.mark(), B.rec.mark()];
		assert.match(await s(tool, { name: `iso_${list}` }), /^added /);
		const method = `notifications/${list}/list_changed`;
		await gw.next(method, { timeout: 5000, what: `S: ${method}${log()}` });
		await A.rec.when(method, { since: a0 });
		await B.rec.when(method, { since: b0 });
	}
	assert.ok((await gw.request("tools/list", {})).result.tools.some((x) => x.name === "f__iso_tools"));
	assert.ok((await gw.request("prompts/list", {})).result.prompts.some((x) => x.name === "h__iso_prompts"));
	assert.ok((await gw.request("resources/list", {})).result.resources.some((x) => x.uri === "f+faulty://added/iso_resources"));
});

test("unsubscribing by the upstream URI undoes a subscription made by the public URI, and the reverse", async () => {
	const pub = "f+faulty://static/c", upUri = "faulty://static/c";
	try {
		await bounded(A.client.subscribeResource({ uri: pub }), "A subscribes by the public URI");
		assert.deepEqual(await upstreamSubs(), [upUri]);
		await bounded(A.client.unsubscribeResource({ uri: upUri }), "A unsubscribes by the upstream URI");
		assert.deepEqual(await upstreamSubs(), [], "the upstream was unsubscribed");
		const a0 = A.rec.mark();
		assert.equal(await s("f__touch", { uri: upUri }), `touched ${upUri}`);
		assert.equal(await s("f__log", { level: "emergency", text: "fence-u", related: false }), "logged emergency");
		await A.rec.when((m) => m.params?.data === "fence-u", { since: a0, what: "A: fence-u" });
		assert.deepEqual(A.of("notifications/resources/updated", a0), [], "A no longer gets updates of it");
		await bounded(B.client.subscribeResource({ uri: upUri }), "B subscribes by the upstream URI");
		assert.deepEqual(await upstreamSubs(), [upUri]);
		await bounded(B.client.unsubscribeResource({ uri: pub }), "B unsubscribes by the public URI");
		assert.deepEqual(await upstreamSubs(), [], "the upstream was unsubscribed");
	} finally { // leave nothing subscribed for the next test, whatever happened
		await A.client.unsubscribeResource({ uri: pub }).catch(() => {});
		await B.client.unsubscribeResource({ uri: upUri }).catch(() => {});
	}
});

test("an upstream restarted is subscribed again and told the level again", async () => {
	const X = "f+faulty://static/a";
	await bounded(A.client.subscribeResource({ uri: X }), "A subscribes X");
	try {
		const pid = await s("f__pid");
		const died = await call(gw, "f__die");
		assert.equal(died.error?.code, -32011, JSON.stringify(died));
		await waitFor(async () => (await s("f__pid")) !== pid, { timeout: 10000, what: `f restarted${log()}` });
		await waitFor(async () => (await upstreamSubs()).includes("faulty://static/a"), { timeout: 5000, what: `f subscribed again${log()}` });
		await waitFor(async () => (await s("f__log_level")) === "debug", { timeout: 5000, what: `f told the level again${log()}` });
		const a0 = A.rec.mark();
		assert.equal(await s("f__touch", { uri: "faulty://static/a" }), "touched faulty://static/a");
		await A.rec.when((m) => m.method === "notifications/resources/updated" && m.params.uri === X, { since: a0, what: "A: the update of X" });
	} finally {
		await A.client.unsubscribeResource({ uri: X }).catch(() => {});
	}
	assert.deepEqual(await upstreamSubs(), []);
});

test("a session's end takes its subscriptions and its log level with it", async () => {
	const Y = "f+faulty://static/b";
	await bounded(A.client.subscribeResource({ uri: Y }), "A subscribes Y");
	await bounded(B.client.subscribeResource({ uri: Y }), "B subscribes Y");
	assert.deepEqual(await upstreamSubs(), ["faulty://static/b"]);
	assert.equal(await s("f__log_level"), "debug");
	await bounded(A.transport.terminateSession(), "A ends its session");
	await A.client.close();
	await waitFor(async () => (await s("f__log_level")) === "error", { timeout: 5000, what: `the upstream back at B's level${log()}` });
	assert.deepEqual(await upstreamSubs(), ["faulty://static/b"], "B still follows Y");
	const b0 = B.rec.mark();
	assert.equal(await s("f__touch", { uri: "faulty://static/b" }), "touched faulty://static/b");
	await B.rec.when((m) => m.method === "notifications/resources/updated" && m.params.uri === Y, { since: b0, what: "B: the update of Y" });
	await bounded(B.transport.terminateSession(), "B ends its session");
	await B.client.close();
	await waitFor(async () => (await upstreamSubs()).length === 0, { timeout: 5000, what: `the upstream unsubscribed${log()}` });
	assert.deepEqual(sGot("notifications/resources/updated"), []);
	// S still works; the gateway ends cleanly with the stdio client's end of input
	assert.equal(await s("h__echo", { text: "still here" }), "still here");
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, log());
});
