// Tasks run by the gateway for an upstream that knows nothing of tasks (t/servers/task-tools.mjs
// over stdio), through mcpfed's Streamable HTTP listener, in both revisions' terms: a
// 2025-11-25 call with params.task and a 2026-07-28 call of a tool the provider's tasks table
// names are answered at once with a task handle; the call goes on when the client's
// connection ends, and its result is fetched on a new connection; tasks/cancel cancels the
// upstream call (the upstream sees notifications/cancelled); a question the upstream asks
// is answered through the task (tasks/update in 2026-07-28, on the waiting tasks/result in
// 2025-11-25); another session never reaches a task not its own; a task is forgotten after
// its time to live; the bounds on tasks and result bytes give clear errors; the admin
// socket lists the tasks; a task outlives a hot swap of the http plugin. An upstream that
// runs tasks of its own (t/servers/tasks-server.mjs, 2025-11-25) keeps doing so through mcpfed,
// under ids of mcpfed's, for a 2025-11-25 client and, in 2026-07-28's terms (a flat handle,
// tasks/get with the result inlined, tasks/cancel, notifications/tasks), for a 2026-07-28
// client with the extension; when that upstream goes away mid-task, the task fails. A
// 2026-07-28 upstream that runs tasks of the extension (t/servers/modern-tasks.mjs) keeps
// doing so for a 2025-11-25 client: params.task makes its task, tasks/result waits for
// the result tasks/get inlines, tasks/cancel goes there, and its going away fails the task. tools/list shows execution.taskSupport in both
// revisions; a tool of tasks.after_input answers its input rounds input-required and
// becomes a task once they are answered (and is cancelled as one); a client without the
// extension calling a required tool gets -32021.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/tasks.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { admin, killAll, logTail, nodeBin, scratchDir, serverPath, waitFor, withTimeout } from "../lib/harness.mjs";
import { endpointClient, initMsg, startHttpGateway, startHttpServer } from "../lib/http.mjs";
import { keyHash } from "../lib/jwt.mjs";

const MODERN = "2026-07-28";
const OLD = "2025-11-25";
const EXT = "io.modelcontextprotocol/tasks";
let gw;
let url;
let sock;
const log = () => logTail(gw.stderrText(), 5000);
const bounded = (p, what, ms = 8000) => withTimeout(p, ms, what, log);
const { post, sseOf } = endpointClient(() => url, bounded);

const provider = (extra = {}) => ({
	name: "tt", transport: "stdio", command: [nodeBin(), serverPath("task-tools.mjs")],
	// test_tool_with_task asks a name, then works: a task once the name is given (after_input);
	// seen never asks, so after_input makes it no task at all
	tasks: { tools: ["slow", "conf*", "big", "test_tool_with_task", "seen"], required: ["test_tool_with_task"],
		after_input: ["test_tool_with_task", "seen"], ttl_ms: 60000 }, ...extra,
});

let modernUp, tasksUp, doomedUp;
before(async () => {
	sock = path.join(scratchDir(), "admin.sock");
	modernUp = await startHttpServer("modern-http");
	tasksUp = await startHttpServer("modern-tasks");
	doomedUp = await startHttpServer("modern-tasks");
	({ gw, urls: [url] } = await startHttpGateway({
		log_level: "info", admin: sock, listen: ["http://127.0.0.1:0/mcp"],
		providers: [provider(), { name: "up", transport: "stdio", command: [nodeBin(), serverPath("tasks-server.mjs")] },
			// a 2026-07-28 upstream whose ask_name asks with an input-required result of its own
			{ name: "mh", transport: "http", url: modernUp.url, tasks: { tools: ["ask_name"], after_input: ["ask_name"] } },
			// the same, its ask_name a task from the start
			{ name: "mt", transport: "http", url: modernUp.url, tasks: { tools: ["ask_name"] } },
			// 2026-07-28 upstreams that run tasks of the extension themselves; mz goes away mid-task
			{ name: "mx", transport: "http", url: tasksUp.url },
			{ name: "mz", transport: "http", url: doomedUp.url, timeout_ms: 2000 }],
		tasks: { max_tasks: 50, poll_interval_ms: 50 },
	}, { listed: ["tt", "up", "mh", "mt", "mx", "mz"], timeout: 15000 }));
});

after(() => killAll(gw, modernUp?.proc, tasksUp?.proc, doomedUp?.proc));

// POST msg on a connection of its own, closed after the answer: nothing ties it to the
// connection that made the task. Resolves to { status, headers, json }.
function postFresh(msg, headers = {}) {
	const body = JSON.stringify(msg);
	const u = new URL(url);
	return bounded(new Promise((resolve, reject) => {
		const req = http.request({
			host: u.hostname, port: u.port, path: u.pathname, method: "POST", agent: false,
			headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream",
				Connection: "close", "Content-Length": Buffer.byteLength(body), ...headers },
		}, (res) => {
			let text = "";
			res.setEncoding("utf8");
			res.on("data", (d) => { text += d; });
			res.on("end", () => {
				let json;
				if (/event-stream/.test(res.headers["content-type"] ?? "")) {
					const datas = text.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5)));
					json = datas.find((m) => m.id === msg.id);
				} else {
					try { json = JSON.parse(text); } catch {}
				}
				resolve({ status: res.statusCode, headers: res.headers, json, text });
			});
		});
		req.on("error", reject);
		req.end(body);
	}), `POST ${msg.method}`);
}

// --- the session era ------------------------------------------------------------------------

async function newSession(caps = {}) {
	const init = initMsg(1, OLD, "tasks-test");
	init.params.capabilities = caps;
	const r = await post(init);
	assert.equal(r.status, 200, r.text);
	const sid = r.headers.get("mcp-session-id");
	assert.equal((await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version: OLD })).status, 202);
	return { sid, caps: r.json.result.capabilities };
}

let nextId = 100;
// A request of session sid on a connection of its own: its JSON-RPC answer.
async function call(sid, method, params) {
	const id = nextId++;
	const r = await postFresh({ jsonrpc: "2.0", id, method, params }, { "Mcp-Session-Id": sid, "MCP-Protocol-Version": OLD });
	assert.equal(r.status, 200, r.text);
	assert.ok(r.json, r.text);
	return r.json;
}

const taskCall = (sid, tool, args, task = {}) => call(sid, "tools/call", { name: `tt__${tool}`, arguments: args, task });

async function seenCancelled(sid) {
	const r = await call(sid, "tools/call", { name: "tt__seen", arguments: {} });
	return JSON.parse(r.result.content[0].text).cancelled;
}

test("2025-11-25: a call with params.task is a task at once; its result is fetched on another connection", async () => {
	const { sid, caps } = await newSession();
	assert.deepEqual(caps.tasks?.requests?.tools?.call, {}, JSON.stringify(caps));
	assert.ok(caps.tasks.list && caps.tasks.cancel, JSON.stringify(caps));
	const stream = await (async () => {
		const ac = new AbortController();
		const res = await bounded(fetch(url, { headers: { Accept: "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": OLD }, signal: ac.signal }), "GET stream");
		assert.equal(res.status, 200);
		return { ...sseOf(res, ac) };
	})();
	const t0 = Date.now();
	const created = await taskCall(sid, "slow", { ms: 700, label: "a" }, { ttl: 60000 });
	assert.ok(Date.now() - t0 < 600, "answered before the call ends");
	const task = created.result?.task;
	assert.match(task?.taskId ?? "", /^[0-9a-f]{32}$/, JSON.stringify(created));
	assert.equal(task.status, "working");
	assert.equal(task.ttl, 60000);
	assert.equal(task.pollInterval, 50);
	assert.match(task.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

	const got = await call(sid, "tasks/get", { taskId: task.taskId });
	assert.equal(got.result.taskId, task.taskId);
	assert.equal(got.result.status, "working");
	// the client's connections all closed meanwhile; the result waits for it
	const res = await call(sid, "tasks/result", { taskId: task.taskId });
	assert.equal(res.result?.content?.[0]?.text, "done a", JSON.stringify(res));
	assert.equal(res.result._meta?.["io.modelcontextprotocol/related-task"]?.taskId, task.taskId);
	assert.equal((await call(sid, "tasks/get", { taskId: task.taskId })).result.status, "completed");

	// the status change reached the session's stream
	for (;;) {
		const ev = await stream.next(5000, "notifications/tasks/status completed");
		if (ev?.json?.method === "notifications/tasks/status" && ev.json.params.status === "completed") {
			assert.equal(ev.json.params.taskId, task.taskId);
			break;
		}
	}
	stream.close();

	const list = await call(sid, "tasks/list", {});
	assert.ok(list.result.tasks.some((x) => x.taskId === task.taskId && x.status === "completed"), JSON.stringify(list));
	const bad = await call(sid, "tasks/list", { cursor: "made-up" });
	assert.equal(bad.error?.code, -32602, JSON.stringify(bad));

	// another session (anonymous, so bound to its own session) reaches none of it
	const other = await newSession();
	for (const m of ["tasks/get", "tasks/result", "tasks/cancel"]) {
		const r = await call(other.sid, m, { taskId: task.taskId });
		assert.equal(r.error?.code, -32602, `${m}: ${JSON.stringify(r)}`);
		assert.match(r.error.message, /unknown task/);
	}
	assert.deepEqual((await call(other.sid, "tasks/list", {})).result.tasks, []);
	const none = await call(sid, "tasks/get", { taskId: "0".repeat(32) });
	assert.equal(none.error?.code, -32602);
});

test("2025-11-25: tasks/cancel cancels the upstream call, which sees notifications/cancelled", async () => {
	const { sid } = await newSession();
	const { result: { task } } = await taskCall(sid, "slow", { ms: 30000, label: "c1" });
	const waiting = call(sid, "tasks/result", { taskId: task.taskId });
	const c = await call(sid, "tasks/cancel", { taskId: task.taskId });
	assert.equal(c.result?.status, "cancelled", JSON.stringify(c));
	const r = await waiting;
	assert.equal(r.error?.code, -32602, JSON.stringify(r));
	assert.match(r.error.message, /cancelled/);
	await waitFor(async () => (await seenCancelled(sid)).includes("c1"), { timeout: 5000, what: "the upstream's cancel of c1" });
	const again = await call(sid, "tasks/cancel", { taskId: task.taskId });
	assert.equal(again.error?.code, -32602, "a task already cancelled");
});

test("2025-11-25: a tasks/result the client cancels gets no answer, and its POST ends", async () => {
	const { sid } = await newSession();
	const { result: { task } } = await taskCall(sid, "slow", { ms: 30000, label: "c2" });
	const waiting = () => admin(sock, "tasks").then((r) => r.body.tasks.find((x) => x.id === task.taskId)?.waiting);
	const res = post({ jsonrpc: "2.0", id: "gone", method: "tasks/result", params: { taskId: task.taskId } }, { session: sid, version: OLD });
	await waitFor(async () => (await waiting()) === 1, { timeout: 3000, what: "the tasks/result waiting" });
	const n = await post({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "gone" } }, { session: sid, version: OLD });
	assert.equal(n.status, 202);
	const r = await res;
	assert.ok(r.status === 202 || !/"id":"gone"/.test(r.text), `no answer to a cancelled request: ${r.status} ${r.text}`);
	assert.equal(await waiting(), 0);
	assert.equal((await call(sid, "tasks/cancel", { taskId: task.taskId })).result.status, "cancelled");
});

// A tasks/result (JSON-RPC id rid) of session sid waiting for task taskId, on a stream of its
// own: resolves to message(what), the next message on it.
async function waitingResult(sid, taskId, rid) {
	const res = await post({ jsonrpc: "2.0", id: rid, method: "tasks/result", params: { taskId } },
		{ session: sid, version: OLD, signal: new AbortController().signal });
	assert.equal(res.status, 200);
	const events = sseOf(res);
	return async (what) => {
		for (;;) {
			const ev = await events.next(8000, what);
			assert.ok(ev, `the stream ended before ${what}`);
			if (ev.json) return ev.json;   // not the priming event
		}
	};
}

test("2025-11-25: a question the upstream asks is put on the waiting tasks/result, and answered there", async () => {
	const { sid } = await newSession({ elicitation: { form: {} } });
	const { result: { task } } = await taskCall(sid, "confirm", { what: "drop" });
	const message = await waitingResult(sid, task.taskId, "res");
	const ask = await message("the elicitation");
	assert.equal(ask.method, "elicitation/create", JSON.stringify(ask));
	assert.equal(ask.params._meta["io.modelcontextprotocol/related-task"].taskId, task.taskId);
	const answered = await post({ jsonrpc: "2.0", id: ask.id, result: { action: "accept", content: { confirm: true } } }, { session: sid, version: OLD });
	assert.equal(answered.status, 202, answered.text);
	const done = await message("the task's result");
	assert.equal(done.id, "res");
	assert.equal(done.result?.content?.[0]?.text, 'drop: accept {"confirm":true}', JSON.stringify(done));
});

test("2025-11-25: a task's call answered input-required by a 2026-07-28 upstream asks on the waiting tasks/result, and is sent again with the answer", async () => {
	const { sid } = await newSession({ elicitation: { form: {} } });
	const created = await call(sid, "tools/call", { name: "mh__ask_name", arguments: {}, task: {} });
	const task = created.result?.task;
	assert.ok(task?.taskId, JSON.stringify(created));
	const message = await waitingResult(sid, task.taskId, "res2");
	const ask = await message("the elicitation");
	assert.equal(ask.method, "elicitation/create", JSON.stringify(ask));
	assert.equal(ask.params.message, "Your name?");
	assert.equal(ask.params._meta["io.modelcontextprotocol/related-task"].taskId, task.taskId);
	const answered = await post({ jsonrpc: "2.0", id: ask.id, result: { action: "accept", content: { name: "Eve" } } }, { session: sid, version: OLD });
	assert.equal(answered.status, 202, answered.text);
	const done = await message("the task's result");
	assert.equal(done.id, "res2");
	assert.equal(done.result?.content?.[0]?.text, "hello Eve (state asked-once)", JSON.stringify(done));
});

test("2025-11-25: a task is forgotten after its time to live", async () => {
	const { sid } = await newSession();
	const { result: { task } } = await taskCall(sid, "slow", { ms: 10, label: "ttl" }, { ttl: 400 });
	assert.equal(task.ttl, 400);
	await waitFor(async () => (await call(sid, "tasks/get", { taskId: task.taskId })).result?.status === "completed",
		{ timeout: 3000, what: "the task's end" });
	await waitFor(async () => (await call(sid, "tasks/get", { taskId: task.taskId })).error?.code === -32602,
		{ timeout: 3000, interval: 50, what: "the task's expiry" });
	const listed = (await admin(sock, "tasks")).body.tasks;
	assert.ok(!listed.some((x) => x.id === task.taskId), JSON.stringify(listed));
	await waitFor(() => gw.stderrText().includes(`task expired task=${task.taskId}`), { timeout: 3000, what: "the expiry's log line" });

	// a tasks/result waiting for a task that expires before its call ends is answered
	const { result: { task: long } } = await taskCall(sid, "slow", { ms: 20000, label: "outlived" }, { ttl: 300 });
	const waiting = await call(sid, "tasks/result", { taskId: long.taskId });
	assert.equal(waiting.error?.code, -32602, JSON.stringify(waiting));
	assert.match(waiting.error.message, /time to live/);
});

// --- revision 2026-07-28 ------------------------------------------------------------------------

const envelope = (caps) => ({
	"io.modelcontextprotocol/protocolVersion": MODERN,
	"io.modelcontextprotocol/clientCapabilities": caps,
	"io.modelcontextprotocol/clientInfo": { name: "tasks-test", version: "1" },
});
const WITH_EXT = { extensions: { [EXT]: {} }, elicitation: { form: {} } };

// A 2026-07-28 request on a connection of its own.
async function modern(method, params, caps = WITH_EXT) {
	const id = nextId++;
	const name = method === "tools/call" ? params.name : params.taskId;
	const h = { "MCP-Protocol-Version": MODERN, "Mcp-Method": method };
	if (name !== undefined) h["Mcp-Name"] = name;
	const r = await postFresh({ jsonrpc: "2.0", id, method, params: { ...params, _meta: envelope(caps) } }, h);
	assert.ok(r.json, r.text);
	return r.json;
}

async function pollUntil(taskId, want) {
	let last;
	await waitFor(async () => {
		last = (await modern("tasks/get", { taskId })).result;
		return want.includes(last?.status) && last;
	}, { timeout: 8000, interval: 50, what: `task ${taskId} ${want.join("|")}` });
	return last;
}

test("2026-07-28: a tool the tasks table names is a task for a client with the extension, a plain call otherwise", async () => {
	const disc = await modern("server/discover", {});
	assert.deepEqual(disc.result.capabilities.extensions?.[EXT], {}, JSON.stringify(disc));
	assert.equal(disc.result.capabilities.tasks, undefined);

	const plain = await modern("tools/call", { name: "tt__slow", arguments: { ms: 1, label: "sync" } }, {});
	assert.equal(plain.result?.resultType, "complete", JSON.stringify(plain));
	assert.equal(plain.result.content[0].text, "done sync");
	const notNamed = await modern("tools/call", { name: "tt__greet", arguments: { name: "x" } });
	assert.equal(notNamed.result?.resultType, "complete");

	const c = await modern("tools/call", { name: "tt__slow", arguments: { ms: 300, label: "m1" } });
	const h = c.result;
	assert.equal(h?.resultType, "task", JSON.stringify(c));
	assert.match(h.taskId, /^[0-9a-f]{32}$/);
	assert.equal(h.status, "working");
	assert.equal(h.ttlMs, 60000);
	assert.equal(h.pollIntervalMs, 50);
	assert.equal(h.task, undefined);
	const done = await pollUntil(h.taskId, ["completed"]);
	assert.equal(done.result?.content?.[0]?.text, "done m1", JSON.stringify(done));

	const gated = await modern("tasks/get", { taskId: h.taskId }, {});
	assert.equal(gated.error?.code, -32021, JSON.stringify(gated));
	for (const m of ["tasks/list", "tasks/result"]) assert.equal((await modern(m, { taskId: h.taskId })).error?.code, -32601, m);
	assert.equal((await modern("tasks/get", { taskId: "nope" })).error?.code, -32602);
	// a session-era session is another caller
	const { sid } = await newSession();
	assert.equal((await call(sid, "tasks/get", { taskId: h.taskId })).error?.code, -32602);
});

test("2026-07-28: the upstream's question is read with tasks/get and answered with tasks/update", async () => {
	const { result: h } = await modern("tools/call", { name: "tt__confirm", arguments: { what: "wipe" } });
	assert.equal(h.resultType, "task");
	const asked = await pollUntil(h.taskId, ["input_required"]);
	const keys = Object.keys(asked.inputRequests ?? {});
	assert.equal(keys.length, 1, JSON.stringify(asked));
	assert.equal(asked.inputRequests[keys[0]].method, "elicitation/create");
	const ack = await modern("tasks/update", { taskId: h.taskId, inputResponses: { [keys[0]]: { action: "accept", content: { confirm: false } } } });
	assert.deepEqual(Object.keys(ack.result).sort(), ["_meta", "resultType"], JSON.stringify(ack));
	const done = await pollUntil(h.taskId, ["completed"]);
	assert.equal(done.result.content[0].text, 'wipe: accept {"confirm":false}');
});

test("2026-07-28: tasks/cancel acks and cancels the upstream call; the admin socket lists tasks", async () => {
	const { result: h } = await modern("tools/call", { name: "tt__slow", arguments: { ms: 30000, label: "m-cancel" } });
	const listed = (await admin(sock, "tasks")).body.tasks.find((x) => x.id === h.taskId);
	assert.equal(listed?.state, "working", JSON.stringify(listed));
	assert.equal(listed.provider, "tt");
	assert.equal(listed.tool, "tt__slow");
	assert.equal(listed.owner, "anonymous");
	assert.ok(listed.age_ms >= 0);
	const ack = await modern("tasks/cancel", { taskId: h.taskId });
	assert.equal(ack.result?.resultType, "complete", JSON.stringify(ack));
	assert.equal(ack.result.taskId, undefined);
	assert.equal((await modern("tasks/get", { taskId: h.taskId })).result.status, "cancelled");
	assert.equal((await modern("tasks/cancel", { taskId: h.taskId })).result?.resultType, "complete", "idempotent");
	const { sid } = await newSession();
	await waitFor(async () => (await seenCancelled(sid)).includes("m-cancel"), { timeout: 5000, what: "the upstream's cancel" });
});

test("a task outlives a hot swap of the http plugin", async () => {
	const { sid } = await newSession();
	const { result: { task } } = await taskCall(sid, "slow", { ms: 1500, label: "swap" });
	const r = await admin(sock, "reload http", { timeout: 15000 });
	assert.equal(r.code, 200, JSON.stringify(r.body));
	const res = await call(sid, "tasks/result", { taskId: task.taskId });
	assert.equal(res.result?.content?.[0]?.text, "done swap", JSON.stringify(res));
});

test("the bounds: max_tasks refuses a task with -32012, max_result_bytes fails one that does not fit", async (t) => {
	const s2 = path.join(scratchDir(), "admin.sock");
	const { gw: g2, urls: [u2] } = await startHttpGateway({
		log_level: "info", admin: s2, listen: ["http://127.0.0.1:0/mcp"], providers: [provider()],
		tasks: { max_tasks: 2, max_result_bytes: 4096 },
	}, { listed: ["tt"], timeout: 15000 });
	t.after(() => killAll(g2));
	const saved = url;
	url = u2;
	t.after(() => { url = saved; });
	const { sid } = await newSession();
	const big = (await taskCall(sid, "big", { bytes: 8000 })).result.task;
	const one = (await taskCall(sid, "slow", { ms: 30000, label: "b1" })).result.task;
	const over = await taskCall(sid, "slow", { ms: 10, label: "b3" });
	assert.equal(over.error?.code, -32012, JSON.stringify(over));
	assert.match(over.error.message, /at most 2 tasks \(tasks\.max_tasks\)/);
	await waitFor(async () => (await call(sid, "tasks/get", { taskId: big.taskId })).result?.status === "failed",
		{ timeout: 5000, what: "the big result's failure" });
	const failed = await call(sid, "tasks/result", { taskId: big.taskId });
	assert.equal(failed.error?.code, -32014, JSON.stringify(failed));
	assert.match(failed.error.message, /max_result_bytes/);
	// a plain call is no task and still goes through
	assert.equal((await call(sid, "tools/call", { name: "tt__slow", arguments: { ms: 1, label: "p" } })).result.content[0].text, "done p");
	assert.equal((await call(sid, "tasks/cancel", { taskId: one.taskId })).result.status, "cancelled");
});

test("2025-11-25: an upstream's own task is followed under an id of mcpfed's, for its creator only", async () => {
	const { sid } = await newSession();
	const created = await call(sid, "tools/call", { name: "up__job", arguments: { ms: 300, label: "u1" }, task: { ttl: 30000 } });
	const task = created.result?.task;
	assert.match(task?.taskId ?? "", /^[0-9a-f]{32}$/, JSON.stringify(created));
	assert.equal(task.status, "working");
	const followed = new RegExp(`upstream task followed task=${task.taskId} provider=up upstream_task="(?!${task.taskId})`);
	await waitFor(() => followed.test(gw.stderrText()), { timeout: 3000, what: `${followed}${log()}` });
	const got = await call(sid, "tasks/get", { taskId: task.taskId });
	assert.equal(got.result?.taskId, task.taskId, JSON.stringify(got));
	const res = await call(sid, "tasks/result", { taskId: task.taskId });
	assert.equal(res.result?.content?.[0]?.text, "job u1 done", JSON.stringify(res));
	assert.equal(res.result._meta?.["io.modelcontextprotocol/related-task"]?.taskId, task.taskId);
	await waitFor(async () => (await call(sid, "tasks/list", {})).result.tasks.some((x) => x.taskId === task.taskId && x.status === "completed"),
		{ timeout: 3000, what: "the upstream's status in tasks/list" });
	const listed = (await admin(sock, "tasks")).body.tasks.find((x) => x.id === task.taskId);
	assert.equal(listed?.provider, "up", JSON.stringify(listed));

	const other = await newSession();
	assert.equal((await call(other.sid, "tasks/get", { taskId: task.taskId })).error?.code, -32602);
	assert.equal((await call(other.sid, "tasks/result", { taskId: task.taskId })).error?.code, -32602);

	const long = (await call(sid, "tools/call", { name: "up__job", arguments: { ms: 30000, label: "u2" }, task: {} })).result.task;
	const c = await call(sid, "tasks/cancel", { taskId: long.taskId });
	assert.equal(c.result?.status, "cancelled", JSON.stringify(c));
	assert.equal(c.result.taskId, long.taskId);
	// a 2026-07-28 client without the extension: a plain call
	const plain = await modern("tools/call", { name: "up__job", arguments: { ms: 10, label: "u3" } }, {});
	assert.equal(plain.result?.content?.[0]?.text, "job u3 done", JSON.stringify(plain));
});

test("2026-07-28: an upstream's own 2025-11-25 task is a flat handle under mcpfed's id; tasks/get inlines its result, a listen hears it end", async (t) => {
	const created = await modern("tools/call", { name: "up__job", arguments: { ms: 400, label: "m1" } });
	const h = created.result;
	assert.equal(h?.resultType, "task", JSON.stringify(created));
	assert.match(h.taskId, /^[0-9a-f]{32}$/);
	assert.equal(h.status, "working");
	assert.equal(typeof h.ttlMs, "number");
	assert.equal(h.task, undefined, "no 2025-11-25 wrapper");
	const followed = new RegExp(`upstream task followed task=${h.taskId} provider=up upstream_task="(?!${h.taskId})`);
	await waitFor(() => followed.test(gw.stderrText()), { timeout: 3000, what: `${followed}${log()}` });
	const l = await openListen({ taskIds: [h.taskId] });
	t.after(() => l.stream.close());
	assert.deepEqual(l.honoured, { taskIds: [h.taskId] });
	const working = await modern("tasks/get", { taskId: h.taskId });
	assert.equal(working.result?.taskId, h.taskId, JSON.stringify(working));
	assert.ok(["working", "completed"].includes(working.result.status), JSON.stringify(working));
	let note;
	do note = (await l.stream.next(8000, "notifications/tasks")).json;
	while (note.params?.status === "working");
	assert.deepEqual([note.method, note.params.taskId, note.params.status], ["notifications/tasks", h.taskId, "completed"], JSON.stringify(note));
	assert.equal(note.params.result?.content?.[0]?.text, "job m1 done", JSON.stringify(note));
	const done = (await modern("tasks/get", { taskId: h.taskId })).result;
	assert.equal(done.status, "completed");
	assert.equal(done.result?.content?.[0]?.text, "job m1 done", JSON.stringify(done));
	assert.equal(done.result._meta?.["io.modelcontextprotocol/related-task"]?.taskId, h.taskId, "the result names mcpfed's id");
	// another session (of the other revision) does not reach it
	const { sid } = await newSession();
	assert.equal((await call(sid, "tasks/get", { taskId: h.taskId })).error?.code, -32602);
	assert.equal((await call(sid, "tasks/cancel", { taskId: h.taskId })).error?.code, -32602);
	// a tool the upstream runs only as a task: -32021 without the extension, a task with it
	const refused = await modern("tools/call", { name: "up__must", arguments: { ms: 10, label: "r" } }, {});
	assert.equal(refused.error?.code, -32021, JSON.stringify(refused));
	assert.ok(refused.error.data?.requiredCapabilities?.extensions?.[EXT]);
	const must = (await modern("tools/call", { name: "up__must", arguments: { ms: 10, label: "r2" } })).result;
	assert.equal(must?.resultType, "task", JSON.stringify(must));
	assert.equal((await pollUntil(must.taskId, ["completed"])).result?.content?.[0]?.text, "job r2 done");
});

test("2026-07-28: what an upstream's own task asks on its tasks/result is read in tasks/get and answered with tasks/update", async () => {
	// another client's call under way on the same stdio upstream meanwhile: the question is
	// the task's by the related-task id it carries, not by being the only one
	const { sid } = await newSession();
	const busy = call(sid, "tools/call", { name: "up__job", arguments: { ms: 1500, label: "busy" } });
	const upInflight = async () => (await admin(sock, "targets")).body.targets.find((x) => x.provider === "up")?.inflight;
	await waitFor(async () => (await upInflight()) === 1, { timeout: 3000, what: "the other call under way" });
	const { result: h } = await modern("tools/call", { name: "up__ask", arguments: {} });
	assert.equal(h?.resultType, "task", JSON.stringify(h));
	const asked = await pollUntil(h.taskId, ["input_required"]);
	const keys = Object.keys(asked.inputRequests ?? {});
	assert.equal(keys.length, 1, JSON.stringify(asked));
	const q = asked.inputRequests[keys[0]];
	assert.equal(q.method, "elicitation/create", JSON.stringify(q));
	assert.equal(q.params.message, "Your name?");
	assert.equal(q.params._meta?.["io.modelcontextprotocol/related-task"]?.taskId, h.taskId, "the question names mcpfed's id");
	const ack = await modern("tasks/update", { taskId: h.taskId, inputResponses: { [keys[0]]: { action: "accept", content: { name: "Ada" } } } });
	assert.equal(ack.result?.resultType, "complete", JSON.stringify(ack));
	const done = await pollUntil(h.taskId, ["completed", "failed"]);
	assert.equal(done.result?.content?.[0]?.text, "hello Ada", JSON.stringify(done));
	assert.equal((await busy).result?.content?.[0]?.text, "job busy done");
});

test("2026-07-28: tasks/cancel of an upstream's own task cancels it upstream; the client gets its ack", async () => {
	const { result: h } = await modern("tools/call", { name: "up__job", arguments: { ms: 30000, label: "m-cancel" } });
	assert.equal(h?.resultType, "task", JSON.stringify(h));
	// the first ack is the upstream's: were its tasks/cancel refused, the client would get that error
	const ack = await modern("tasks/cancel", { taskId: h.taskId });
	assert.equal(ack.result?.resultType, "complete", JSON.stringify(ack));
	const got = (await modern("tasks/get", { taskId: h.taskId })).result;
	assert.equal(got.status, "cancelled", JSON.stringify(got));
	assert.equal((await modern("tasks/cancel", { taskId: h.taskId })).result?.resultType, "complete", "idempotent");
});

test("2026-07-28: an upstream that goes away mid-task fails the task, and tasks/get says so", async () => {
	const { result: h } = await modern("tools/call", { name: "up__job", arguments: { ms: 200, label: "crash" } });
	assert.equal(h?.resultType, "task", JSON.stringify(h));
	const failed = await pollUntil(h.taskId, ["failed", "completed"]);
	assert.equal(failed.status, "failed", JSON.stringify(failed));
	assert.equal(typeof failed.error?.code, "number", JSON.stringify(failed));
	// the provider comes back, and runs tasks again
	await waitFor(async () => (await modern("tools/call", { name: "up__job", arguments: { ms: 1, label: "back" } }, {})).result?.content?.[0]?.text === "job back done",
		{ timeout: 10000, interval: 200, what: "the upstream back" });
});

// --- a 2026-07-28 upstream's own tasks (t/servers/modern-tasks.mjs), for a 2025-11-25 client --------

const upstreamSaid = (proc, re) => (proc.stderrText().match(re) ?? []).length;

test("2025-11-25: a 2026-07-28 upstream's own task is followed under mcpfed's id; tasks/result waits for its inlined result", async () => {
	const { sid } = await newSession();
	const calls = upstreamSaid(tasksUp.proc, /modern-tasks call ext=true/g);
	const created = await call(sid, "tools/call", { name: "mx__work", arguments: { ms: 300, label: "a" }, task: { ttl: 30000 } });
	const task = created.result?.task;
	assert.match(task?.taskId ?? "", /^[0-9a-f]{32}$/, JSON.stringify(created));
	assert.equal(task.status, "working");
	assert.equal(task.pollInterval, 40, "the upstream's poll interval");
	await waitFor(() => upstreamSaid(tasksUp.proc, /modern-tasks call ext=true/g) === calls + 1,
		{ timeout: 5000, what: "the call asked of the upstream by the extension" });
	const followedLine = new RegExp(`upstream task followed task=${task.taskId} provider=mx upstream_task="[0-9a-f-]{36}"`);
	await waitFor(() => followedLine.test(gw.stderrText()), { timeout: 3000, what: `${followedLine}${log()}` });
	const got = await call(sid, "tasks/get", { taskId: task.taskId });
	assert.equal(got.result?.taskId, task.taskId, JSON.stringify(got));
	assert.ok(["working", "completed"].includes(got.result.status), JSON.stringify(got));
	assert.equal(got.result.result, undefined, "the 2025-11-25 shape: no inlined result");
	const res = await call(sid, "tasks/result", { taskId: task.taskId });
	assert.equal(res.result?.content?.[0]?.text, "work a done", JSON.stringify(res));
	assert.equal(res.result._meta?.["io.modelcontextprotocol/related-task"]?.taskId, task.taskId);
	assert.ok((await call(sid, "tasks/list", {})).result.tasks.some((x) => x.taskId === task.taskId && x.status === "completed"));
	const other = await newSession();
	assert.equal((await call(other.sid, "tasks/get", { taskId: task.taskId })).error?.code, -32602);
	assert.equal((await call(other.sid, "tasks/result", { taskId: task.taskId })).error?.code, -32602);
	assert.equal((await call(other.sid, "tasks/cancel", { taskId: task.taskId })).error?.code, -32602);
	// an upstream task that fails: tasks/result gives its error
	const bad = (await call(sid, "tools/call", { name: "mx__work", arguments: { ms: 50, label: "fail" }, task: {} })).result.task;
	const err = await call(sid, "tasks/result", { taskId: bad.taskId });
	assert.deepEqual([err.error?.code, err.error?.message], [-32050, "work fail failed"], JSON.stringify(err));
	// without params.task the call is a plain one, and the upstream is not offered the extension
	const plain = await call(sid, "tools/call", { name: "mx__work", arguments: { ms: 1, label: "p" } });
	assert.equal(plain.result?.content?.[0]?.text, "work p done", JSON.stringify(plain));
	await waitFor(() => /modern-tasks call ext=false/.test(tasksUp.proc.stderrText()),
		{ timeout: 5000, what: "the plain call asked without the extension" });
});

test("2025-11-25: tasks/cancel of a 2026-07-28 upstream's task cancels it there; a waiting tasks/result is answered", async () => {
	const { sid } = await newSession();
	const task = (await call(sid, "tools/call", { name: "mx__work", arguments: { ms: 30000, label: "c" }, task: {} })).result?.task;
	assert.ok(task?.taskId, JSON.stringify(task));
	const waiting = call(sid, "tasks/result", { taskId: task.taskId });
	const cancels = upstreamSaid(tasksUp.proc, /modern-tasks cancel /g);
	const c = await call(sid, "tasks/cancel", { taskId: task.taskId });
	assert.equal(c.result?.status, "cancelled", JSON.stringify(c));
	assert.equal(c.result.taskId, task.taskId);
	// the upstream's log line comes on its own pipe, after the answer it gave perhaps
	await waitFor(() => upstreamSaid(tasksUp.proc, /modern-tasks cancel /g) === cancels + 1,
		{ timeout: 5000, what: "tasks/cancel going upstream" });
	const w = await waiting;
	assert.equal(w.error?.code, -32602, JSON.stringify(w));
	assert.match(w.error.message, /cancelled/);
	// an upstream task that asks for input: not relayed to a 2025-11-25 client, and it says so
	const asks = (await call(sid, "tools/call", { name: "mx__work", arguments: { ms: 50, label: "ask" }, task: {} })).result.task;
	const refused = await call(sid, "tasks/result", { taskId: asks.taskId });
	assert.equal(refused.error?.code, -32013, JSON.stringify(refused));
	assert.match(refused.error.message, /asks for input/);
});

test("2025-11-25: a 2026-07-28 upstream that goes away mid-task fails the task; the waiting tasks/result is answered", async () => {
	const { sid } = await newSession();
	const task = (await call(sid, "tools/call", { name: "mz__work", arguments: { ms: 30000, label: "z" }, task: {} })).result?.task;
	assert.ok(task?.taskId, JSON.stringify(task));
	await waitFor(() => /modern-tasks get /.test(doomedUp.proc.stderrText()), { timeout: 3000, what: "the upstream polled" });
	const waiting = call(sid, "tasks/result", { taskId: task.taskId });
	doomedUp.proc.kill("SIGKILL");
	const w = await waiting;
	assert.equal(typeof w.error?.code, "number", JSON.stringify(w));
	assert.equal((await call(sid, "tasks/get", { taskId: task.taskId })).result?.status, "failed");
});

// A 2026-07-28 subscriptions/listen with filter (on url u): its stream, id and acknowledged filter.
async function openListen(filter, { u = url, headers = {} } = {}) {
	const id = nextId++;
	const ac = new AbortController();
	const res = await post({ jsonrpc: "2.0", id, method: "subscriptions/listen", params: { notifications: filter, _meta: envelope(WITH_EXT) } },
		{ to: u, signal: ac.signal, headers: { "MCP-Protocol-Version": MODERN, "Mcp-Method": "subscriptions/listen", ...headers } });
	assert.equal(res.status, 200);
	const stream = sseOf(res, ac);
	const ack = (await stream.next(8000, "the listen's acknowledgement")).json;
	assert.equal(ack.method, "notifications/subscriptions/acknowledged", JSON.stringify(ack));
	return { stream, id, honoured: ack.params.notifications };
}

test("2026-07-28: a listen naming the caller's task gets notifications/tasks as its status changes", async (t) => {
	const { result: h } = await modern("tools/call", { name: "tt__confirm", arguments: { what: "watched" } });
	const asked = await pollUntil(h.taskId, ["input_required"]);
	const bad = await modern("subscriptions/listen", { notifications: { taskIds: "all" } });
	assert.equal(bad.error?.code, -32602, JSON.stringify(bad));
	const l = await openListen({ taskIds: [h.taskId, "0123456789abcdef0123456789abcdef"] });
	t.after(() => l.stream.close());
	assert.deepEqual(l.honoured, { taskIds: [h.taskId] });
	const key = Object.keys(asked.inputRequests)[0];
	await modern("tasks/update", { taskId: h.taskId, inputResponses: { [key]: { action: "accept", content: { confirm: true } } } });
	const notes = [];
	while (notes.at(-1)?.params.status !== "completed") {
		const ev = await l.stream.next(8000, "notifications/tasks");
		notes.push(ev.json);
	}
	assert.deepEqual(notes.map((n) => [n.method, n.params.taskId, n.params.status]),
		[["notifications/tasks", h.taskId, "working"], ["notifications/tasks", h.taskId, "completed"]], JSON.stringify(notes));
	for (const n of notes) assert.deepEqual(n.params._meta, { "io.modelcontextprotocol/subscriptionId": l.id });
	assert.equal(notes[1].params.result.content[0].text, 'watched: accept {"confirm":true}');
});

test("an authenticated caller's task is its identity's: another session of it fetches the result, another identity gets not-found", async (t) => {
	const KEYS = { ci: "ci-key-tasks-0123456789abcdef", other: "other-key-tasks-0123456789ab" };
	const { gw: g, urls: [u] } = await startHttpGateway({
		log_level: "info",
		listen: [{ url: "http://127.0.0.1:0/mcp", auth: { keys: Object.entries(KEYS).map(([id, k]) => ({ id, hash: keyHash(k) })) } }],
		providers: [provider(), { name: "up", transport: "stdio", command: [nodeBin(), serverPath("tasks-server.mjs")] }],
	}, { listed: ["tt", "up"], timeout: 15000 });
	t.after(() => killAll(g));
	const { post: p2 } = endpointClient(() => u, (p, what) => withTimeout(p, 8000, what, () => logTail(g.stderrText())));
	let id = 1;
	const session = async (key) => {
		const headers = { "X-API-Key": key };
		const r = await p2(initMsg(id++, OLD, "tasks-auth"), { headers });
		assert.equal(r.status, 200, r.text);
		const sid = r.headers.get("mcp-session-id");
		assert.equal((await p2({ jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version: OLD, headers })).status, 202);
		return async (method, params) => {
			const res = await p2({ jsonrpc: "2.0", id: id++, method, params }, { session: sid, version: OLD, headers });
			assert.equal(res.status, 200, res.text);
			return res.json;
		};
	};
	const first = await session(KEYS.ci);
	const created = await first("tools/call", { name: "tt__slow", arguments: { ms: 200, label: "ci" }, task: {} });
	const taskId = created.result?.task?.taskId;
	assert.ok(taskId, JSON.stringify(created));
	const again = await session(KEYS.ci);
	const res = await again("tasks/result", { taskId });
	assert.equal(res.result?.content?.[0]?.text, "done ci", JSON.stringify(res));
	assert.ok((await again("tasks/list", {})).result.tasks.some((x) => x.taskId === taskId));
	const other = await session(KEYS.other);
	assert.equal((await other("tasks/get", { taskId })).error?.code, -32602);
	assert.deepEqual((await other("tasks/list", {})).result.tasks, []);

	// a 2026-07-28 handle on an upstream's own task is the identity's too
	const modernAs = async (key, method, params) => {
		const h = { "MCP-Protocol-Version": MODERN, "Mcp-Method": method, "X-API-Key": key };
		h["Mcp-Name"] = method === "tools/call" ? params.name : params.taskId;
		const r = await p2({ jsonrpc: "2.0", id: id++, method, params: { ...params, _meta: envelope(WITH_EXT) } }, { headers: h });
		assert.ok(r.json, r.text);
		return r.json;
	};
	const up = (await modernAs(KEYS.ci, "tools/call", { name: "up__job", arguments: { ms: 100, label: "id" } })).result;
	assert.equal(up?.resultType, "task", JSON.stringify(up));
	assert.equal((await modernAs(KEYS.other, "tasks/get", { taskId: up.taskId })).error?.code, -32602);
	assert.equal((await modernAs(KEYS.other, "tasks/cancel", { taskId: up.taskId })).error?.code, -32602);
	assert.equal((await modernAs(KEYS.ci, "tasks/get", { taskId: up.taskId })).result?.taskId, up.taskId);

	// task status on listen streams: the identity's own follows it, another's naming it is refused
	const slow = (await first("tools/call", { name: "tt__slow", arguments: { ms: 1500, label: "cl" }, task: {} })).result.task.taskId;
	const mine = await openListen({ taskIds: [slow] }, { u, headers: { "X-API-Key": KEYS.ci } });
	const theirs = await openListen({ taskIds: [slow] }, { u, headers: { "X-API-Key": KEYS.other } });
	t.after(() => { mine.stream.close(); theirs.stream.close(); });
	assert.deepEqual(mine.honoured, { taskIds: [slow] });
	assert.deepEqual(theirs.honoured, {});
	const done = (await mine.stream.next(8000, "the task's completion")).json;
	assert.deepEqual([done.method, done.params.taskId, done.params.status], ["notifications/tasks", slow, "completed"], JSON.stringify(done));
	// at shutdown each listen ends with its result: the other stream carried nothing else
	g.kill("SIGTERM");
	const rest = [];
	for (let ev; (ev = await theirs.stream.next(8000, "the end of the other listen")); ) rest.push(ev.json);
	assert.deepEqual(rest.map((m) => m.method ?? `result of ${m.id}`), [`result of ${theirs.id}`], JSON.stringify(rest));
});

// --- tasks.after_input, and what tools/list says of tasks -------------------------------------

test("tools/list shows execution.taskSupport in both revisions: the tasks table's, and an upstream's own passed on", async () => {
	const { sid } = await newSession();
	const support = (tools) => Object.fromEntries(tools.filter((x) => /^(tt|up)__/.test(x.name))
		.map((x) => [x.name, x.execution?.taskSupport ?? null]));
	const want = {
		tt__slow: "optional", tt__confirm: "optional", tt__confirm_delete: "optional", tt__big: "optional",
		tt__test_tool_with_task: "required", tt__seen: "optional",
		// the upstream's own, passed on (the SDK's McpServer says forbidden unless told)
		tt__greet: "forbidden", tt__multi_input: "forbidden", up__job: "optional", up__must: "required",
	};
	const old = support((await call(sid, "tools/list", {})).result.tools);
	const now = support((await modern("tools/list", {})).result.tools);
	for (const [name, value] of Object.entries(want)) {
		assert.equal(old[name], value, `2025-11-25 ${name}: ${JSON.stringify(old)}`);
		assert.equal(now[name], value, `2026-07-28 ${name}: ${JSON.stringify(now)}`);
	}
});

// The first round of a tool of tasks.after_input: the upstream's question, answered input-required.
async function firstRound(args) {
	const r1 = await modern("tools/call", { name: "tt__test_tool_with_task", arguments: args });
	const res = r1.result;
	assert.equal(res?.resultType, "input_required", JSON.stringify(r1));
	assert.equal("taskId" in res, false, JSON.stringify(res));
	const keys = Object.keys(res.inputRequests ?? {});
	assert.equal(keys.length, 1, JSON.stringify(res));
	assert.equal(res.inputRequests[keys[0]].method, "elicitation/create");
	assert.equal(typeof res.requestState, "string");
	return { key: keys[0], state: res.requestState };
}

const answerName = (args, key, state, name) => modern("tools/call", {
	name: "tt__test_tool_with_task", arguments: args, requestState: state,
	inputResponses: name === undefined ? {} : { [key]: { action: "accept", content: { name } } },
});

test("2026-07-28: a tool of tasks.after_input answers its question input-required, then becomes a task once it is answered", async () => {
	const args = { ms: 200, label: "ai1" };
	const { key, state } = await firstRound(args);
	// a retry that leaves the question unanswered is asked again, still without a task
	const again = (await answerName(args, key, state)).result;
	assert.equal(again?.resultType, "input_required", JSON.stringify(again));
	assert.deepEqual(Object.keys(again.inputRequests), [key]);
	assert.equal("taskId" in again, false);
	assert.notEqual(again.requestState, state);

	const r2 = await answerName(args, key, again.requestState, "Alice");
	const h = r2.result;
	assert.equal(h?.resultType, "task", JSON.stringify(r2));
	assert.match(h.taskId, /^[0-9a-f]{32}$/);
	assert.equal(h.status, "working");
	assert.equal(h.ttlMs, 60000);
	for (const k of ["requestState", "inputRequests", "task"]) assert.equal(k in h, false, `${k} in ${JSON.stringify(h)}`);
	const done = await pollUntil(h.taskId, ["completed"]);
	assert.equal(done.result?.content?.[0]?.text, "Hello, Alice! (accept)", JSON.stringify(done));
	const createdLine = new RegExp(`task created after its input task=${h.taskId} tool=tt__test_tool_with_task provider=tt`);
	await waitFor(() => createdLine.test(gw.stderrText()), { timeout: 3000, what: `${createdLine}${log()}` });
	// the requestState was spent by the call that became the task
	const stale = await answerName(args, key, again.requestState, "Bob");
	assert.equal(stale.error?.code, -32602, JSON.stringify(stale));

	// a tool of after_input whose upstream never asks is answered at once, with no task
	const plain = await modern("tools/call", { name: "tt__seen", arguments: {} });
	assert.equal(plain.result?.resultType, "complete", JSON.stringify(plain));
	assert.ok(JSON.parse(plain.result.content[0].text).cancelled);
});

test("2026-07-28: a 2026-07-28 upstream's own input-required round reaches the client as it is; the call with the answers is the task", async () => {
	const r1 = (await modern("tools/call", { name: "mh__ask_name", arguments: {} })).result;
	assert.equal(r1?.resultType, "input_required", JSON.stringify(r1));
	assert.equal(r1.requestState, "asked-once");
	assert.equal("taskId" in r1, false);
	const { result: h } = await modern("tools/call", { name: "mh__ask_name", arguments: {}, requestState: r1.requestState,
		inputResponses: { who: { action: "accept", content: { name: "Dora" } } } });
	assert.equal(h?.resultType, "task", JSON.stringify(h));
	assert.equal("requestState" in h, false);
	const done = await pollUntil(h.taskId, ["completed"]);
	assert.equal(done.result?.content?.[0]?.text, "hello Dora (state asked-once)", JSON.stringify(done));
});

test("2026-07-28: a task's call answered input-required by its upstream makes the task input_required; tasks/update sends it again with the answer", async () => {
	const { result: h } = await modern("tools/call", { name: "mt__ask_name", arguments: {} });
	assert.equal(h?.resultType, "task", JSON.stringify(h));
	const asked = await pollUntil(h.taskId, ["input_required", "completed", "failed"]);
	assert.equal(asked.status, "input_required", JSON.stringify(asked));
	const keys = Object.keys(asked.inputRequests ?? {});
	assert.equal(keys.length, 1, JSON.stringify(asked));
	assert.equal(asked.inputRequests[keys[0]].method, "elicitation/create");
	assert.equal(asked.inputRequests[keys[0]].params?.message, "Your name?");
	assert.equal("requestState" in asked, false);
	const ack = await modern("tasks/update", { taskId: h.taskId, inputResponses: { [keys[0]]: { action: "accept", content: { name: "Frank" } } } });
	assert.equal(ack.result?.resultType, "complete", JSON.stringify(ack));
	const done = await pollUntil(h.taskId, ["completed", "failed"]);
	assert.equal(done.result?.content?.[0]?.text, "hello Frank (state asked-once)", JSON.stringify(done));
});

test("2026-07-28: a task made after its input is cancelled like any: the upstream call sees notifications/cancelled", async () => {
	const args = { ms: 30000, label: "ai-cancel" };
	const { key, state } = await firstRound(args);
	const { result: h } = await answerName(args, key, state, "Carol");
	assert.equal(h?.resultType, "task", JSON.stringify(h));
	assert.equal((await modern("tasks/get", { taskId: h.taskId })).result?.status, "working");
	const ack = await modern("tasks/cancel", { taskId: h.taskId });
	assert.equal(ack.result?.resultType, "complete", JSON.stringify(ack));
	assert.equal((await modern("tasks/get", { taskId: h.taskId })).result.status, "cancelled");
	const { sid } = await newSession();
	await waitFor(async () => (await seenCancelled(sid)).includes("ai-cancel"), { timeout: 5000, what: "the upstream's cancel" });
});

test("a required tool: -32021 naming the extension for a 2026-07-28 client without it, -32601 for a 2025-11-25 call without params.task", async () => {
	const refused = await modern("tools/call", { name: "tt__test_tool_with_task", arguments: {} }, { elicitation: { form: {} } });
	assert.equal(refused.error?.code, -32021, JSON.stringify(refused));
	assert.deepEqual(refused.error.data?.requiredCapabilities?.extensions?.[EXT], {}, JSON.stringify(refused));
	const { sid } = await newSession({ elicitation: {} });
	const plain = await call(sid, "tools/call", { name: "tt__test_tool_with_task", arguments: {} });
	assert.equal(plain.error?.code, -32601, JSON.stringify(plain));
	// asked with params.task, the session era's client gets its task at once
	const created = await taskCall(sid, "test_tool_with_task", { ms: 1 });
	assert.match(created.result?.task?.taskId ?? "", /^[0-9a-f]{32}$/, JSON.stringify(created));
	assert.equal((await call(sid, "tasks/cancel", { taskId: created.result.task.taskId })).result?.status, "cancelled");
});
