// The HTTP exchange of a request ends however its answering goes: a JSON-RPC batch whose
// response turned into an SSE stream (one call sent progress) carries every answer on
// that stream and then ends; a request the client cancels (notifications/cancelled) gets
// no JSON-RPC answer, but its POST ends (202 with no body, or its SSE stream ends), alone
// or in a batch whose other members are still answered, and the session, with nothing in
// flight any more, expires as an idle one does.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/http-cancel.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { faulty, killAll, logTail, waitFor, withTimeout } from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg, startHttpGateway } from "../lib/http.mjs";

const IDLE_MS = 800;
let gw;
let url;
const log = () => logTail(gw.stderrText(), 4000);
const bounded = (p, what, ms = 5000) => withTimeout(p, ms, what, log);
const { post, sseOf, answer } = endpointClient(() => url, bounded);

before(async () => {
	({ gw, urls: [url] } = await startHttpGateway({
		log_level: "debug",
		listen: [{ url: "http://127.0.0.1:0/mcp", session_idle_ms: IDLE_MS }],
		providers: [faulty("f", { env: { FAULTY_FEATURES: "1", FAULTY_SWAP_TOOLS: "1" } })],
	}, { timeout: 10000, listed: ["f"] }));
});

after(() => killAll(gw));

async function newSession(version) {
	const r = await post(initMsg(1, version, "http-cancel"));
	assert.equal(r.status, 200, r.text);
	const sid = r.headers.get("mcp-session-id");
	assert.equal((await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version })).status, 202);
	return sid;
}

// POST msg without waiting for its answer: the pending fetch Response.
const start = (msg, session, version) => post(msg, { session, version, signal: new AbortController().signal });

// Resolves once a call of tool block {key} waits upstream: the request is in the kernel's hands.
async function blocked(key, session, version) {
	const r = await post(callMsg(`await-${key}`, "f__await_block", { key }), { session, version });
	assert.equal(r.json?.result?.content?.[0]?.text, `waiting ${key}`, r.text);
}

async function cancel(requestId, session, version) {
	const r = await post({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason: "test" } }, { session, version });
	assert.equal(r.status, 202, r.text);
}

// The session has nothing in flight and no stream: it expires after IDLE_MS.
const expires = (sid) => waitFor(() => gw.stderrText().includes(`session expired session=${sid}`),
	{ timeout: IDLE_MS + 4000, what: `the expiry of session ${sid}${log()}` });

// Every SSE event of res until its stream ends (bounded: a stream that never ends fails).
async function allEvents(res, what) {
	const s = sseOf(res);
	const events = [];
	for (let ev = await s.next(5000, what); ev; ev = await s.next(5000, what)) events.push(ev);
	return events;
}

test("a batch in which one call sends progress: its answers on the SSE stream, which then ends", async () => {
	const V = "2025-03-26";
	const sid = await newSession(V);
	const p = callMsg("p", "f__progress", { steps: 2, label: "b" });
	p.params._meta = { progressToken: "bt" };
	const res = await start([
		{ jsonrpc: "2.0", id: "bad", method: 7 },            // answered at once, before the stream starts
		callMsg("e1", "f__echo", { text: "one" }),
		p,
		{ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "nothing" } },
		callMsg("e2", "f__echo", { text: "two" }),
	], sid, V);
	assert.equal(res.status, 200);
	assert.match(res.headers.get("content-type"), /^text\/event-stream/);
	const msgs = (await allEvents(res, "the batch's answers and the end of its stream")).filter((e) => e.data).map((e) => e.json);
	const progress = msgs.filter((m) => m.method === "notifications/progress");
	assert.deepEqual(progress.map((m) => [m.params.progressToken, m.params.progress]), [["bt", 1], ["bt", 2]]);
	const answers = new Map(msgs.filter((m) => m.id !== undefined).map((m) => [m.id, m]));
	assert.deepEqual([...answers.keys()].sort(), ["bad", "e1", "e2", "p"], JSON.stringify(msgs));
	assert.equal(answers.get("bad").error?.code, -32600);
	assert.equal(answers.get("e1").result.content[0].text, "one");
	assert.equal(answers.get("e2").result.content[0].text, "two");
	assert.equal(JSON.parse(answers.get("p").result.content[0].text).steps, 2);
	assert.equal(msgs.length, 6, "each answer once");
	await expires(sid);
});

test("a cancelled request: its POST ends with 202 and no body; nothing stays in flight", async () => {
	const V = "2025-11-25";
	const sid = await newSession(V);
	const pending = start(callMsg(10, "f__block", { key: "single" }), sid, V);
	await blocked("single", sid, V);
	await cancel(10, sid, V);
	const r = await answer(await bounded(pending, "the end of the cancelled POST"));
	assert.equal(r.status, 202, r.text);
	assert.equal(r.text, "", "no JSON-RPC answer for a cancelled request");
	await expires(sid);
});

test("a cancelled request answered with SSE: its stream ends without an answer", async () => {
	const V = "2025-11-25";
	const sid = await newSession(V);
	const msg = callMsg(20, "f__slow_progress", { steps: 2, ms: 60000 });
	msg.params._meta = { progressToken: "st" };
	const res = await bounded(start(msg, sid, V), "the SSE answer's head");
	assert.match(res.headers.get("content-type"), /^text\/event-stream/);
	const s = sseOf(res);
	let ev;
	do ev = await s.next(5000, "the first progress"); while (ev && !ev.data);
	assert.equal(ev?.json?.method, "notifications/progress", JSON.stringify(ev));
	await cancel(20, sid, V);
	const rest = [];
	for (let e = await s.next(5000, "the end of the stream"); e; e = await s.next(5000, "the end of the stream")) rest.push(e);
	assert.ok(!rest.some((e) => e.json?.id === 20), `no answer on the stream: ${JSON.stringify(rest)}`);
	await expires(sid);
});

test("a cancelled request in a batch: the batch still answers its other members", async () => {
	const V = "2025-03-26";
	const sid = await newSession(V);
	const pending = start([callMsg(30, "f__block", { key: "batch" }), callMsg(31, "f__echo", { text: "kept" })], sid, V);
	await blocked("batch", sid, V);
	await cancel(30, sid, V);
	const r = await answer(await bounded(pending, "the batch's answer"));
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.json, [{ jsonrpc: "2.0", id: 31, result: { content: [{ type: "text", text: "kept" }] } }]);
	await expires(sid);
});

test("the gateway exits cleanly on SIGTERM, with nothing reported by the sanitizers", async () => {
	assert.ok(!gw.exitStatus(), `the gateway runs${log()}`);
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, `gateway exit${log()}`);
	assert.doesNotMatch(gw.stderrText(), /ERROR: (Address|Leak)Sanitizer|runtime error:/, log());
});
