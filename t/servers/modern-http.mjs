// An MCP server of the 2.x SDK (@modelcontextprotocol/server createMcpHandler) over HTTP on
// 127.0.0.1: it speaks revision 2026-07-28 statelessly (and serves 2025 clients without
// sessions). node:http is bridged to the handler's web-standard fetch(Request) by hand.
// Env: PORT (default 0: the system chooses). Prints "modern-http listening port=N" on stderr,
// then a line per request with the MCP and Authorization headers it carried.
// Tools: echo {text} → "modern(<era>): <text>", pid → the process id, ask_name → asks the
// client for a name with an input-required elicitation, then answers "hello <name>".
import http from "node:http";
import { acceptedContent, createMcpHandler, inputRequired, McpServer } from "@modelcontextprotocol/server";
import * as z from "zod/v4";

const handler = createMcpHandler(({ era } = {}) => {
	const server = new McpServer({ name: "modern-http", version: "1.0.0" }, { instructions: "a 2026-07-28 test server" });
	server.registerTool("echo", { description: "Echo text", inputSchema: z.object({ text: z.string() }) },
		async ({ text }) => ({ content: [{ type: "text", text: `modern(${era}): ${text}` }] }));
	server.registerTool("pid", { description: "The server's process id", inputSchema: z.object({}) },
		async () => ({ content: [{ type: "text", text: String(process.pid) }] }));
	server.registerTool("ask_name", { description: "Ask the client for a name", inputSchema: z.object({}) },
		async (_args, ctx) => {
			const nameSchema = z.object({ name: z.string() });
			const answer = acceptedContent(ctx.mcpReq.inputResponses, "who");
			if (!answer?.name) {
				return inputRequired({
					inputRequests: { who: inputRequired.elicit({ message: "Your name?", requestedSchema: nameSchema }) },
					requestState: "asked-once",
				});
			}
			return { content: [{ type: "text", text: `hello ${answer.name} (state ${ctx.mcpReq.requestState?.() ?? "-"})` }] };
		});
	return server;
});

const server = http.createServer(async (req, res) => {
	// one line per request, for tests to check what a client sent
	const h = (k) => JSON.stringify(req.headers[k] ?? null);
	process.stderr.write(`modern-http request ${req.method} ${req.url} authorization=${h("authorization")} `
		+ `mcp-protocol-version=${h("mcp-protocol-version")} mcp-method=${h("mcp-method")} mcp-name=${h("mcp-name")} `
		+ `mcp-session-id=${h("mcp-session-id")}\n`);
	try {
		const chunks = [];
		for await (const c of req) chunks.push(c);
		const body = Buffer.concat(chunks);
		const headers = new Headers();
		for (const [k, v] of Object.entries(req.headers)) {
			if (Array.isArray(v)) for (const x of v) headers.append(k, x);
			else if (v !== undefined) headers.set(k, v);
		}
		const ac = new AbortController();
		res.on("close", () => ac.abort());
		const request = new Request(`http://${req.headers.host || "127.0.0.1"}${req.url}`, {
			method: req.method, headers, signal: ac.signal,
			body: req.method === "GET" || req.method === "HEAD" || body.length === 0 ? undefined : body,
		});
		const response = await handler.fetch(request);
		const out = {};
		response.headers.forEach((v, k) => { out[k] = v; });
		res.writeHead(response.status, out);
		if (!response.body) return res.end();
		for await (const chunk of response.body) res.write(chunk);
		res.end();
	} catch (e) {
		process.stderr.write(`modern-http: ${e.stack || e}\n`);
		if (!res.headersSent) res.writeHead(500);
		res.end();
	}
});
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
	process.stderr.write(`modern-http listening port=${server.address().port}\n`);
});
