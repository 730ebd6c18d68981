// An MCP server over WebSocket (SDK 1.x server, the `ws` package): one JSON-RPC message per
// text frame, subprotocol "mcp", one McpServer per connection. For the ws provider's tests.
// Env: WS_PORT (default 0: any; prints "ws-server listening port=N" on stderr), WS_NAME
// (server name), WS_TLS_CERT and WS_TLS_KEY (PEM files: serve wss:// instead).
// Tools: echo {text}; progress {steps} (a progress notification per step, 20 ms apart, when
// the call has a progressToken); ask_sampling {prompt} (asks the client, answers 'sampled:
// <text>'); sleep {ms}; touch {uri} (notifications/resources/updated); subscriptions (the
// URIs this connection's session is subscribed to, as JSON); drop (answers, then closes every
// connection from the server's side, as a restart would); connections (how many sessions
// were initialized since start). Resources ws://res/a and ws://res/b, subscribable.
import fs from "node:fs";
import https from "node:https";
import { WebSocketServer } from "ws";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const env = process.env;
const text = (s) => ({ content: [{ type: "text", text: String(s) }] });
let initialized = 0;
const sockets = new Set();

// The SDK's Transport interface over one accepted WebSocket.
class WsServerTransport {
	constructor(socket) { this.socket = socket; }
	async start() {
		this.socket.on("message", (data, isBinary) => {
			if (isBinary) { this.socket.close(1003, "text only"); return; }
			let msg;
			try { msg = JSON.parse(data.toString()); } catch (e) { this.onerror?.(e); return; }
			this.onmessage?.(msg);
		});
		this.socket.on("close", () => this.onclose?.());
		this.socket.on("error", (e) => this.onerror?.(e));
	}
	async send(msg) { this.socket.send(JSON.stringify(msg)); }
	async close() { this.socket.close(); }
}

function build() {
	const server = new McpServer({ name: env.WS_NAME || "ws-server", version: "1.0.0" },
		{ capabilities: { resources: { subscribe: true, listChanged: true } } });
	const low = server.server;
	const tool = (name, description, inputSchema, cb) => server.registerTool(name, { description, inputSchema }, cb);
	low.oninitialized = () => { initialized++; };
	tool("echo", "Return text unchanged", { text: z.string() }, ({ text: t }) => text(t));
	tool("sleep", "Wait ms milliseconds, then answer", { ms: z.number() }, ({ ms }) =>
		new Promise((resolve) => setTimeout(() => resolve(text(`slept ${ms}`)), ms)));
	tool("progress", "A progress notification per step, 20 ms apart", { steps: z.number() }, async ({ steps }, extra) => {
		const token = extra._meta?.progressToken;
		for (let i = 1; token !== undefined && i <= steps; i++) {
			await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: i, total: steps } });
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		return text(`progressed ${steps}`);
	});
	tool("ask_sampling", "Ask the client for a completion of prompt", { prompt: z.string() }, async ({ prompt }, extra) => {
		const res = await extra.sendRequest({
			method: "sampling/createMessage",
			params: { messages: [{ role: "user", content: { type: "text", text: prompt } }], maxTokens: 50 },
		}, z.object({ content: z.object({ text: z.string() }) }).passthrough());
		return text(`sampled: ${res.content.text}`);
	});
	const subscriptions = new Set();
	for (const n of ["a", "b"]) {
		server.registerResource(`res-${n}`, `ws://res/${n}`, { mimeType: "text/plain" },
			async (uri) => ({ contents: [{ uri: uri.href, text: `resource ${n}` }] }));
	}
	low.setRequestHandler(SubscribeRequestSchema, async (req) => { subscriptions.add(req.params.uri); return {}; });
	low.setRequestHandler(UnsubscribeRequestSchema, async (req) => { subscriptions.delete(req.params.uri); return {}; });
	tool("subscriptions", "This session's subscriptions, sorted, as JSON", {}, () => text(JSON.stringify([...subscriptions].sort())));
	tool("touch", "Send notifications/resources/updated for uri", { uri: z.string() }, async ({ uri }) => {
		await low.sendResourceUpdated({ uri });
		return text(`touched ${uri}`);
	});
	tool("drop", "Answer, then close every connection from the server's side", {}, () => {
		setTimeout(() => { for (const s of sockets) s.terminate(); }, 20);
		return text("dropping");
	});
	tool("connections", "Sessions initialized since start", {}, () => text(initialized));
	return server;
}

const tls = env.WS_TLS_CERT && env.WS_TLS_KEY;
const httpsServer = tls ? https.createServer({ cert: fs.readFileSync(env.WS_TLS_CERT), key: fs.readFileSync(env.WS_TLS_KEY) }) : null;
const wss = new WebSocketServer({
	...(httpsServer ? { server: httpsServer } : { port: Number(env.WS_PORT || 0), host: "127.0.0.1" }),
	path: "/mcp",
	handleProtocols: (protocols) => (protocols.has("mcp") ? "mcp" : false),
});
wss.on("connection", (socket) => {
	sockets.add(socket);
	socket.on("close", () => sockets.delete(socket));
	build().connect(new WsServerTransport(socket));
});
const announce = (port) => process.stderr.write(`ws-server listening port=${port}\n`);
if (httpsServer) httpsServer.listen(Number(env.WS_PORT || 0), "127.0.0.1", () => announce(httpsServer.address().port));
else wss.on("listening", () => announce(wss.address().port));
process.on("SIGTERM", () => process.exit(0));
