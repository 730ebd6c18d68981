// MCP stdio server (SDK 1.x) whose tools misbehave on request, to provoke gateway faults.
// Env: FAULTY_NAME (server name), FAULTY_EXIT_AT_START=1 (exit 1 at once), FAULTY_TOOL_COUNT=N
// (extra tools t0001..), FAULTY_PAGE_SIZE=N (paginate tools/list), FAULTY_ODD_NAMES=1
// (add tool "bad.name with spaces"), FAULTY_FEATURES=1 (besides the tools: logging,
// resources with subscriptions, a template, prompts, and the tools of addFeatures below that
// log, report progress, ask the client and block on request), FAULTY_HTTP_PORT=N (serve
// Streamable HTTP with sessions on 127.0.0.1:N instead of stdio, 0: any port; prints
// "faulty listening port=N" on stderr).
// Opt-in knobs for routing tests (unset, echo answers at once with its text alone):
// FAULTY_SLOW_MS=N (echo waits N ms before answering), FAULTY_SLOW_FILE=PATH (echo waits the
// ms a line "<pid> <ms>" of that file gives for this process, if one does; read at each call,
// so a test makes one replica slow and fast again), FAULTY_ECHO_PID=1 (echo's result carries
// a second text item "pid=<pid>"), FAULTY_ROUTING_TOOLS=1 (adds tool die_once {flag}: the
// first call, of any process, creates the file flag and exits with status 3 while in flight;
// later calls answer with their process id), FAULTY_HOLD_FILE=PATH (while that file exists, a
// process starting does not read its input, so it stays unready: a replica held down).
// FAULTY_CACHE_TOOLS=1 adds, for result cache tests, tools that count their calls: counted
// {a,b,c}, fails (isError), counted_big {bytes}, gate {key} (answers once open {key} is
// called; gated {key} says how many wait), gate_ask {key} (the same, then asks the client
// for a sampling) and calls {tool} (how many calls a tool had).
// FAULTY_TRACE_TOOLS=1 adds, for tracing tests, traced: its text is the JSON of the W3C trace
// context the call came with, {meta: params._meta.traceparent, metaState, header: the
// traceparent HTTP header, headerState} (null where absent).
// FAULTY_SWAP_TOOLS=1 adds, for hot swap tests: session_id (the HTTP session the call came in,
// "none" over stdio), big {bytes} (a text of that many "x"), slow_progress {steps, ms} (a
// progress notification per step when the call has a progressToken, ms apart, then the answer).
// Over HTTP, faulty logs on stderr "faulty session initialized id=ID" for each session it
// starts, "faulty get-stream open session=ID" / "... closed ..." for the GET streams it
// serves and "faulty unknown session=ID" for each request it answers 404; its tool
// forget_sessions forgets every session, as a server that expired them would (answers
// 'forgot <count>').
import fs from "node:fs";
import http from "node:http";
import { randomUUID } from "node:crypto";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
	ErrorCode, ListToolsRequestSchema, McpError, SubscribeRequestSchema, UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const env = process.env;
if (env.FAULTY_EXIT_AT_START === "1") process.exit(1);

const features = env.FAULTY_FEATURES === "1";
const httpSessions = new Map(); // over HTTP: session id -> transport
const text = (s) => ({ content: [{ type: "text", text: String(s) }] });

// echo's delay for this process now (FAULTY_SLOW_MS, or this pid's line of FAULTY_SLOW_FILE)
function slowMs() {
	let ms = Number(env.FAULTY_SLOW_MS || 0);
	if (env.FAULTY_SLOW_FILE) {
		let lines = "";
		try { lines = fs.readFileSync(env.FAULTY_SLOW_FILE, "utf8"); } catch {}
		for (const line of lines.split("\n")) {
			const [pid, n] = line.trim().split(/\s+/);
			if (Number(pid) === process.pid) ms = Number(n) || 0;
		}
	}
	return ms;
}
const echoed = (t) => (env.FAULTY_ECHO_PID === "1"
	? { content: [{ type: "text", text: String(t) }, { type: "text", text: `pid=${process.pid}` }] }
	: text(t));

// calls per tool, and the gate tool's waiting calls (result cache tests), for the process
const counts = new Map();
const count = (name) => { counts.set(name, (counts.get(name) ?? 0) + 1); return counts.get(name); };
const gates = new Map(); // key -> Set of resolve functions

// One server (one per HTTP session).
function build() {
	const server = new McpServer({ name: env.FAULTY_NAME || "faulty", version: "1.0.0" },
		features ? { capabilities: { logging: {}, resources: { subscribe: true, listChanged: true } } } : undefined);
	const tool = (name, description, inputSchema, cb) =>
		server.registerTool(name, { description, inputSchema }, cb);

	tool("echo", "Return text unchanged", { text: z.string() }, ({ text: t }) => {
		const ms = slowMs();
		if (!ms) return echoed(t);
		return new Promise((resolve) => setTimeout(() => resolve(echoed(t)), ms));
	});

	tool("sleep", "Wait ms milliseconds, then answer", { ms: z.number() }, ({ ms }, extra) =>
		new Promise((resolve) => {
			// On cancel drop the timer so the process does not linger; the SDK sends no answer.
			// The signal may already be aborted when the cancel arrived in the same read as the call.
			if (extra.signal.aborted) return resolve(text("cancelled"));
			const timer = setTimeout(() => resolve(text(`slept ${ms}`)), ms);
			extra.signal.addEventListener("abort", () => { clearTimeout(timer); resolve(text("cancelled")); });
		}));

	tool("die", "Exit with status 3 while the call is in flight", {}, () => process.exit(3));

	tool("hang", "Never answer", {}, () => new Promise(() => {}));

	tool("pid", "Return the server process id", {}, () => text(process.pid));

	tool("add_tool", "Register a new tool at runtime (sends tools/list_changed)", { name: z.string() },
		({ name }) => {
			tool(name, `Added at runtime`, {}, () => text(name));
			return text(`added ${name}`);
		});

	tool("crash_after", "Answer ok, then exit with status 4 50 ms later", {}, () => {
		setTimeout(() => process.exit(4), 50);
		return text("ok");
	});

	if (env.FAULTY_HTTP_PORT !== undefined) {
		tool("forget_sessions", "Forget every HTTP session (their requests get 404 from now on)", {}, () => {
			const n = httpSessions.size;
			httpSessions.clear();
			return text(`forgot ${n}`);
		});
	}

	if (env.FAULTY_SWAP_TOOLS === "1") {
		tool("session_id", "The HTTP session this call came in", {}, (_args, extra) => text(extra.sessionId ?? "none"));
		tool("big", "Answer a text of bytes 'x'", { bytes: z.number() }, ({ bytes }) => text("x".repeat(bytes)));
		tool("slow_progress", "Report progress steps times, ms apart (with a progressToken), then answer",
			{ steps: z.number(), ms: z.number() }, async ({ steps, ms }, extra) => {
				const token = extra._meta?.progressToken;
				for (let i = 1; i <= steps; i++) {
					if (token !== undefined) {
						await extra.sendNotification({
							method: "notifications/progress", params: { progressToken: token, progress: i, total: steps },
						});
					}
					await new Promise((resolve) => setTimeout(resolve, ms));
				}
				return text(`progressed ${steps}`);
			});
	}

	if (env.FAULTY_ROUTING_TOOLS === "1") {
		tool("die_once", "The first call (of any process) creates file flag and exits with status 3 in flight; later calls answer the pid",
			{ flag: z.string() }, ({ flag }) => {
				try {
					fs.writeFileSync(flag, String(process.pid), { flag: "wx" });
				} catch {
					return text(process.pid);
				}
				process.exit(3);
			});
	}

	if (env.FAULTY_TRACE_TOOLS === "1") {
		tool("traced", "The trace context this call came with", {}, (_args, extra) => text(JSON.stringify({
			meta: extra._meta?.traceparent ?? null, metaState: extra._meta?.tracestate ?? null,
			header: extra.requestInfo?.headers?.traceparent ?? null, headerState: extra.requestInfo?.headers?.tracestate ?? null,
			expect: extra.requestInfo?.headers?.expect ?? null,
		})));
	}

	if (env.FAULTY_CACHE_TOOLS === "1") {
		// result cache tests: every call of these is counted (calls {tool} tells how many)
		const any = { a: z.any().optional(), b: z.any().optional(), c: z.any().optional() };
		tool("counted", "Answer 'counted <n> <arguments>' (n: this tool's calls so far)", any, (args) =>
			text(`counted ${count("counted")} ${JSON.stringify(args)}`));
		tool("fails", "A tool error (isError), counted", any, () => ({ isError: true, ...text(`failed ${count("fails")}`) }));
		tool("counted_big", "Answer a text of bytes 'x', counted", { bytes: z.number(), a: z.any().optional() },
			({ bytes }) => { count("counted_big"); return text("x".repeat(bytes)); });
		tool("gate", "Counted; answer 'gate <key> <n>' once open {key} is called; a cancel is counted as gate_cancelled",
			{ key: z.string() }, ({ key }, extra) => new Promise((resolve) => {
				const n = count("gate");
				const set = gates.get(key) ?? new Set();
				gates.set(key, set);
				const done = () => resolve(text(`gate ${key} ${n}`));
				set.add(done);
				extra.signal.addEventListener("abort", () => { set.delete(done); count("gate_cancelled"); resolve(text("cancelled")); });
			}));
		tool("gate_ask", "Counted; once open {key} is called, ask the client for a completion (no related request id); answers 'sampled: <text>'",
			{ key: z.string() }, ({ key }) => new Promise((resolve) => {
				count("gate_ask");
				const set = gates.get(key) ?? new Set();
				gates.set(key, set);
				set.add(() => server.server.createMessage({
					messages: [{ role: "user", content: { type: "text", text: key } }], maxTokens: 50,
				}).then((res) => resolve(text(`sampled: ${res.content?.text}`)),
					(e) => resolve({ isError: true, ...text(`error ${e.code}: ${e.message}`) })));
			}));
		tool("open", "Answer every waiting call of gate {key}; answers 'opened <count>'", { key: z.string() }, ({ key }) => {
			const set = gates.get(key) ?? new Set();
			gates.delete(key);
			for (const done of set) done();
			return text(`opened ${set.size}`);
		});
		tool("gated", "How many calls of gate {key} wait", { key: z.string() }, ({ key }) => text(String(gates.get(key)?.size ?? 0)));
		tool("calls", "How many calls of tool there were", { tool: z.string() }, ({ tool: t }) => text(String(counts.get(t) ?? 0)));
	}

	const extra = Number(env.FAULTY_TOOL_COUNT || 0);
	for (let i = 1; i <= extra; i++) {
		const name = "t" + String(i).padStart(4, "0");
		tool(name, `Extra tool ${i}`, {}, () => text(name));
	}

	// The SDK only warns (on stderr) about such names, so McpServer can serve it directly.
	if (env.FAULTY_ODD_NAMES === "1") tool("bad.name with spaces", "Tool with an unsanitized name", {}, () => text("odd"));

	const pageSize = Number(env.FAULTY_PAGE_SIZE || 0);
	if (pageSize > 0) {
		// McpServer never paginates; wrap its own (private) listing so schemas stay identical.
		const listAll = server.server._requestHandlers.get("tools/list");
		server.server.setRequestHandler(ListToolsRequestSchema, async (req, ex) => {
			const { tools } = await listAll({ method: "tools/list", params: {} }, ex);
			let offset = 0;
			const cursor = req.params?.cursor;
			if (cursor !== undefined) {
				const m = /^faulty:(\d+)$/.exec(Buffer.from(String(cursor), "base64url").toString());
				if (!m || Number(m[1]) > tools.length) throw new McpError(ErrorCode.InvalidParams, "invalid cursor");
				offset = Number(m[1]);
			}
			const end = offset + pageSize;
			const page = { tools: tools.slice(offset, end) };
			if (end < tools.length) page.nextCursor = Buffer.from(`faulty:${end}`).toString("base64url");
			return page;
		});
	}

	if (features) addFeatures(server, tool);
	return server;
}

// What FAULTY_FEATURES=1 adds. Tools without arguments declare inputSchema {} so that
// McpServer passes (args, extra) to their handlers.
function addFeatures(server, tool) {
	const low = server.server;
	const fail = (e) => ({ isError: true, content: [{ type: "text", text: `error ${e.code}: ${e.message}` }] });
	const related = (extra) => ({ relatedRequestId: extra.requestId });

	// logging: the levels the upstream was asked for, in order
	const levels = [];
	const setLevel = low._requestHandlers.get("logging/setLevel");
	low._requestHandlers.set("logging/setLevel", (req, extra) => {
		levels.push(req.params?.level);
		return setLevel(req, extra);
	});
	tool("log", "Send a log message: about this call (related, the default) or not (then honouring logging/setLevel)",
		{ level: z.string(), text: z.string(), related: z.boolean().optional() },
		async ({ level, text: data, related: rel = true }, extra) => {
			const params = { level, logger: "faulty", data };
			if (rel) await extra.sendNotification({ method: "notifications/message", params });
			else await server.sendLoggingMessage(params, extra.sessionId);
			return text(`logged ${level}`);
		});
	tool("log_level", "The last level logging/setLevel asked for (none: never asked)", {},
		() => text(levels.length ? levels[levels.length - 1] : "none"));

	// progress with the request's token; the answer says which token the server saw
	tool("progress", "Report progress steps times (message '<label> i/steps') when the call has a progressToken",
		{ steps: z.number(), label: z.string().optional() }, async ({ steps, label = "" }, extra) => {
			const token = extra._meta?.progressToken;
			for (let i = 1; token !== undefined && i <= steps; i++) {
				await extra.sendNotification({
					method: "notifications/progress",
					params: { progressToken: token, progress: i, total: steps, message: `${label} ${i}/${steps}` },
				});
			}
			return text(JSON.stringify({ token: token ?? null, steps }));
		});

	// requests for the client, made for this call
	tool("ask_sampling", "Ask the client for a completion of prompt; answers 'sampled: <text>'",
		{ prompt: z.string() }, async ({ prompt }, extra) => {
			try {
				const res = await low.createMessage({
					messages: [{ role: "user", content: { type: "text", text: prompt } }], maxTokens: 50,
				}, related(extra));
				return text(`sampled: ${res.content?.type === "text" ? res.content.text : JSON.stringify(res.content)}`);
			} catch (e) {
				return fail(e);
			}
		});
	tool("ask_elicit", "Ask the user (elicitation/create) for a string 'answer'", { message: z.string() },
		async ({ message }, extra) => {
			try {
				const res = await low.elicitInput({
					message,
					requestedSchema: { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] },
				}, related(extra));
				return text(`elicited: ${res.action} ${JSON.stringify(res.content ?? null)}`);
			} catch (e) {
				return fail(e);
			}
		});
	tool("ask_roots", "Ask the client for its roots", {}, async (_args, extra) => {
		try {
			const res = await low.listRoots(undefined, related(extra));
			return text(`roots: ${JSON.stringify(res.roots)}`);
		} catch (e) {
			return fail(e);
		}
	});

	// calls that wait until released (or cancelled)
	const blocked = new Map(); // key -> Set of resolve functions
	const arrivals = new Set(); // {key, resolve} of await_block calls
	tool("block", "Answer 'unblocked <key>' once release {key} is called; drop the wait when cancelled",
		{ key: z.string() }, ({ key }, extra) => new Promise((resolve) => {
			if (extra.signal.aborted) return resolve(text("cancelled"));
			const set = blocked.get(key) ?? new Set();
			blocked.set(key, set);
			const done = () => resolve(text(`unblocked ${key}`));
			set.add(done);
			extra.signal.addEventListener("abort", () => { set.delete(done); resolve(text("cancelled")); });
			for (const a of [...arrivals]) if (a.key === key) { arrivals.delete(a); a.resolve(); }
		}));
	tool("await_block", "Answer once a call of block {key} is waiting (at most 5 s)", { key: z.string() },
		({ key }) => new Promise((resolve) => {
			if (blocked.get(key)?.size) return resolve(text(`waiting ${key}`));
			const a = { key, resolve: () => { clearTimeout(timer); resolve(text(`waiting ${key}`)); } };
			const timer = setTimeout(() => { arrivals.delete(a); resolve({ isError: true, ...text(`no block ${key}`) }); }, 5000);
			arrivals.add(a);
		}));
	tool("release", "Release every call of block {key}; answers 'released <count>'", { key: z.string() }, ({ key }) => {
		const set = blocked.get(key) ?? new Set();
		blocked.delete(key);
		for (const done of set) done();
		return text(`released ${set.size}`);
	});

	// resources, a template, subscriptions
	const BLOB = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString("base64");
	for (const n of ["a", "b", "c"]) {
		server.registerResource(`static-${n}`, `faulty://static/${n}`, { mimeType: "text/plain", description: `Static ${n}` },
			async (uri) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: `static ${n}` }] }));
	}
	server.registerResource("static-blob", "faulty://static/blob", { mimeType: "application/octet-stream" },
		async (uri) => ({ contents: [{ uri: uri.href, mimeType: "application/octet-stream", blob: BLOB }] }));
	server.registerResource("item", new ResourceTemplate("faulty://item/{id}", { list: undefined }), { mimeType: "text/plain" },
		async (uri, { id }) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: `item ${id}` }] }));
	const subscriptions = new Set();
	low.setRequestHandler(SubscribeRequestSchema, async (req) => { subscriptions.add(req.params.uri); return {}; });
	low.setRequestHandler(UnsubscribeRequestSchema, async (req) => { subscriptions.delete(req.params.uri); return {}; });
	tool("subscriptions", "The URIs this server was subscribed to, sorted, as JSON", {},
		() => text(JSON.stringify([...subscriptions].sort())));
	tool("touch", "Send notifications/resources/updated for uri (subscribed or not)", { uri: z.string() },
		async ({ uri }) => {
			await low.sendResourceUpdated({ uri });
			return text(`touched ${uri}`);
		});

	// lists that change, or say they did
	tool("add_prompt", "Register a prompt at runtime (sends prompts/list_changed)", { name: z.string() }, ({ name }) => {
		server.registerPrompt(name, { description: "Added at runtime" },
			() => ({ messages: [{ role: "user", content: { type: "text", text: name } }] }));
		return text(`added ${name}`);
	});
	tool("add_resource", "Register faulty://added/<name> at runtime (sends resources/list_changed)", { name: z.string() },
		({ name }) => {
			server.registerResource(name, `faulty://added/${name}`, { mimeType: "text/plain" },
				async (uri) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: name }] }));
			return text(`added faulty://added/${name}`);
		});
	const announcers = { tools: "sendToolListChanged", prompts: "sendPromptListChanged", resources: "sendResourceListChanged" };
	tool("announce", "Send <list>/list_changed without changing anything", { list: z.enum(["tools", "prompts", "resources"]) },
		({ list }) => {
			server[announcers[list]]();
			return text(`announced ${list}`);
		});

	// prompts
	server.registerPrompt("greet", { description: "Greet someone", argsSchema: { name: z.string() } },
		({ name }) => ({ messages: [{ role: "user", content: { type: "text", text: `Hello, ${name}` } }] }));
	server.registerPrompt("plain", { description: "A prompt without arguments" },
		() => ({ messages: [{ role: "user", content: { type: "text", text: "plain prompt" } }] }));
}

if (env.FAULTY_HTTP_PORT === undefined) {
	if (env.FAULTY_HOLD_FILE)
		while (fs.existsSync(env.FAULTY_HOLD_FILE)) await new Promise((resolve) => setTimeout(resolve, 20));
	await build().connect(new StdioServerTransport());
} else {
	const sessions = httpSessions;
	const web = http.createServer(async (req, res) => {
		try {
			const sid = req.headers["mcp-session-id"];
			let t = sid === undefined ? undefined : sessions.get(sid);
			if (!t) {
				if (sid !== undefined || req.method !== "POST") {
					if (sid !== undefined) process.stderr.write(`faulty unknown session=${sid}\n`);
					res.writeHead(sid === undefined ? 400 : 404).end();
					return;
				}
				t = new StreamableHTTPServerTransport({
					sessionIdGenerator: () => randomUUID(),
					onsessioninitialized: (id) => {
						sessions.set(id, t);
						process.stderr.write(`faulty session initialized id=${id}\n`);
					},
				});
				t.onclose = () => { if (t.sessionId) sessions.delete(t.sessionId); };
				await build().connect(t);
			}
			if (req.method === "GET") {
				const writeHead = res.writeHead.bind(res);
				res.writeHead = (status, ...rest) => {
					if (status === 200) {
						process.stderr.write(`faulty get-stream open session=${sid}\n`);
						res.on("close", () => process.stderr.write(`faulty get-stream closed session=${sid}\n`));
					}
					return writeHead(status, ...rest);
				};
			}
			await t.handleRequest(req, res);
		} catch (e) {
			process.stderr.write(`faulty: ${e.stack || e}\n`);
			if (!res.headersSent) res.writeHead(500);
			res.end();
		}
	});
	web.listen(Number(env.FAULTY_HTTP_PORT), "127.0.0.1", () => {
		process.stderr.write(`faulty listening port=${web.address().port}\n`);
	});
}
