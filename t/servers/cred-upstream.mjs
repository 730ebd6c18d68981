// An MCP server of the session era over HTTP, for the credentials tests: it records the
// Authorization header of every request, and binds each session to the Authorization that
// opened it (a request naming the session with another one is refused 403, as a server
// that ties sessions to tokens does). Several providers share it, told apart by the query
// string (?p=NAME). Its tool whoami answers with the Authorization it received; askroots
// asks the client roots/list on the call's stream and answers with the Authorization of the
// call and of the client's answer. An initialize whose token holds "refused-" is answered 401.
// Side channels: GET /seen lists the records {p, method, tool, auth, session}; POST
// /forget drops every session (the next request naming one is answered 404).
// Prints "cred-upstream listening port=N" on stderr.
import http from "node:http";
import { randomUUID } from "node:crypto";

const seen = [];
const asked = new Map(); // the id of a roots/list we sent -> { res, auth } of the call waiting for it
let asks = 0;
const sessions = new Map(); // id -> the Authorization it was opened with ("" for none)

const json = (res, status, body, headers = {}) => {
	res.writeHead(status, { "Content-Type": "application/json", ...headers });
	res.end(JSON.stringify(body));
};
const result = (id, r) => ({ jsonrpc: "2.0", id, result: r });
const error = (id, code, message) => ({ jsonrpc: "2.0", id: id ?? null, error: { code, message } });

const server = http.createServer((req, res) => {
	const url = new URL(req.url, "http://x");
	if (req.method === "GET" && url.pathname === "/seen") return json(res, 200, seen);
	if (req.method === "POST" && url.pathname === "/forget") {   // every session is gone
		sessions.clear();
		return json(res, 200, {});
	}
	if (url.pathname !== "/mcp") return json(res, 404, {});
	const p = url.searchParams.get("p") ?? "";
	const auth = req.headers.authorization ?? "";
	const sid = req.headers["mcp-session-id"];
	if (req.method === "GET") {
		res.writeHead(405).end();
		return;
	}
	let body = "";
	req.on("data", (d) => { body += d; });
	req.on("end", () => {
		let msg = {};
		try { msg = body ? JSON.parse(body) : {}; } catch { return json(res, 400, error(null, -32700, "parse error")); }
		seen.push({ p, method: req.method === "DELETE" ? "DELETE" : msg.method ?? "response", tool: msg.params?.name,
			auth, session: sid ?? null });
		if (msg.method === "server/discover") return json(res, 400, error(msg.id, -32601, "method not found"));
		if (msg.method === "initialize") {
			if (auth.includes("refused-"))   // a token this server does not accept
				return json(res, 401, error(msg.id, -32001, "invalid token"), { "WWW-Authenticate": "Bearer" });
			const id = randomUUID();
			sessions.set(id, auth);
			return json(res, 200, result(msg.id, {
				protocolVersion: msg.params?.protocolVersion ?? "2025-11-25",
				capabilities: { tools: {} },
				serverInfo: { name: "cred-upstream", version: "1" },
			}), { "Mcp-Session-Id": id });
		}
		if (!sid || !sessions.has(sid)) return json(res, 404, error(null, -32001, "session not found"));
		if (sessions.get(sid) !== auth)
			return json(res, 403, error(msg.id, -32000, "this session belongs to another credential"));
		if (req.method === "DELETE") {
			sessions.delete(sid);
			res.writeHead(200).end();
			return;
		}
		if (msg.method === undefined && asked.has(msg.id)) {   // a client's answer to our roots/list
			const { res: stream, auth: callAuth, callId } = asked.get(msg.id);
			asked.delete(msg.id);
			res.writeHead(202).end();
			const text = JSON.stringify({ auth: callAuth, answeredWith: auth, roots: msg.result?.roots ?? null });
			stream.end(`event: message\ndata: ${JSON.stringify(result(callId, { content: [{ type: "text", text }] }))}\n\n`);
			return;
		}
		if (msg.id === undefined || msg.method === undefined) {
			res.writeHead(202).end();
			return;
		}
		if (msg.method === "tools/list") {
			return json(res, 200, result(msg.id, { tools: [{
				name: "whoami", description: "the Authorization header this server received",
				inputSchema: { type: "object", properties: {} },
			}, {
				name: "askroots", description: "asks the client roots/list during the call, then tells which Authorization the answer came with",
				inputSchema: { type: "object", properties: {} },
			}] }));
		}
		if (msg.method === "tools/call" && msg.params?.name === "askroots") {
			const id = `ask-${++asks}`;
			asked.set(id, { res, auth, callId: msg.id });
			res.writeHead(200, { "Content-Type": "text/event-stream" });
			res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id, method: "roots/list" })}\n\n`);
			return;
		}
		if (msg.method === "tools/call" && msg.params?.name === "whoami")
			return json(res, 200, result(msg.id, { content: [{ type: "text", text: JSON.stringify({ auth }) }] }));
		return json(res, 200, error(msg.id, -32601, "method not found"));
	});
});
server.listen(0, "127.0.0.1", () => process.stderr.write(`cred-upstream listening port=${server.address().port}\n`));
