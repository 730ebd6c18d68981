// A 2026-07-28 MCP server over HTTP on 127.0.0.1 that runs tasks of its own by the tasks
// extension (io.modelcontextprotocol/tasks, SEP-2663), written by hand after the
// specification (no SDK speaks it): stateless JSON-RPC over POST, answered in JSON.
// server/discover declares the extension. tools/call of work {ms, label}, from a request
// whose clientCapabilities declare the extension, is answered with a flat CreateTaskResult
// (resultType "task") and the work goes on: after ms milliseconds the task is completed
// with "work LABEL done", or, for label "fail", failed with a JSON-RPC error, or, for label
// "ask", input_required with inputRequests. Without the extension the call is answered when
// the work is done. tasks/get gives the task, its result or error inlined once it ended;
// tasks/cancel cancels it. Env: PORT (default 0). Prints "modern-tasks listening port=N"
// on stderr, then "modern-tasks call ext=BOOL", "modern-tasks get ID" and
// "modern-tasks cancel ID" for those requests.
import http from "node:http";
import { randomUUID } from "node:crypto";

const EXT = "io.modelcontextprotocol/tasks";
const POLL_MS = 40;
const tasks = new Map();

const now = () => new Date().toISOString();
const view = (t) => {
	const v = { taskId: t.taskId, status: t.status, ttlMs: 60000, pollIntervalMs: POLL_MS, createdAt: t.createdAt,
		lastUpdatedAt: t.lastUpdatedAt };
	if (t.status === "completed") v.result = t.result;
	if (t.status === "failed") v.error = t.error;
	if (t.status === "input_required") v.inputRequests = t.inputRequests;
	return v;
};
const outcome = (label) => label === "fail" ? { error: { code: -32050, message: `work ${label} failed` } }
	: { result: { content: [{ type: "text", text: `work ${label} done` }] } };

function call(params) {
	const { name, arguments: args = {}, _meta = {} } = params ?? {};
	if (name !== "work") return { error: { code: -32602, message: `Unknown tool: ${name}` } };
	const ext = Boolean(_meta["io.modelcontextprotocol/clientCapabilities"]?.extensions?.[EXT]);
	process.stderr.write(`modern-tasks call ext=${ext}\n`);
	const { ms = 0, label = "" } = args;
	if (!ext) return new Promise((resolve) => setTimeout(() => resolve(outcome(label)), ms));
	const t = { taskId: randomUUID(), status: "working", createdAt: now() };
	t.lastUpdatedAt = t.createdAt;
	tasks.set(t.taskId, t);
	t.timer = setTimeout(() => {
		if (label === "ask") {
			t.status = "input_required";
			t.inputRequests = { who: { method: "elicitation/create", params: { message: "Your name?",
				requestedSchema: { type: "object", properties: { name: { type: "string" } } } } } };
		} else {
			const o = outcome(label);
			t.status = o.error ? "failed" : "completed";
			Object.assign(t, o);
		}
		t.lastUpdatedAt = now();
	}, ms);
	return { result: { resultType: "task", ...view(t) } };
}

function handle(msg) {
	const p = msg.params ?? {};
	switch (msg.method) {
	case "server/discover":
		return { result: { resultType: "complete", supportedVersions: ["2026-07-28"],
			capabilities: { tools: {}, extensions: { [EXT]: {} } },
			_meta: { "io.modelcontextprotocol/serverInfo": { name: "modern-tasks", version: "1.0.0" } } } };
	case "tools/list":
		return { result: { resultType: "complete", tools: [{ name: "work", description: "Work for ms milliseconds",
			inputSchema: { type: "object", properties: { ms: { type: "number" }, label: { type: "string" } } } }] } };
	case "tools/call":
		return call(p);
	case "tasks/get":
	case "tasks/cancel": {
		process.stderr.write(`modern-tasks ${msg.method.slice(6)} ${p.taskId}\n`);
		const t = tasks.get(p.taskId);
		if (!t) return { error: { code: -32602, message: `unknown task: ${p.taskId}` } };
		if (msg.method === "tasks/get") return { result: { resultType: "complete", ...view(t) } };
		if (t.status === "working" || t.status === "input_required") {
			clearTimeout(t.timer);
			t.status = "cancelled";
			t.lastUpdatedAt = now();
		}
		return { result: { resultType: "complete" } };
	}
	default:
		return { error: { code: -32601, message: `Method not found: ${msg.method}` } };
	}
}

const server = http.createServer((req, res) => {
	if (req.method !== "POST") {   // no GET stream: nothing is sent unasked
		res.writeHead(405);
		res.end();
		return;
	}
	let body = "";
	req.setEncoding("utf8");
	req.on("data", (d) => { body += d; });
	req.on("end", async () => {
		let msg;
		try { msg = JSON.parse(body); } catch {
			res.writeHead(400, { "Content-Type": "application/json" });
			res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
			return;
		}
		if (msg.id === undefined) {   // a notification: nothing to say
			res.writeHead(202);
			res.end();
			return;
		}
		const answer = await handle(msg);
		res.writeHead(200, { "Content-Type": "application/json" });
		res.end(JSON.stringify({ jsonrpc: "2.0", id: msg.id, ...answer }));
	});
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
	process.stderr.write(`modern-tasks listening port=${server.address().port}\n`);
});
