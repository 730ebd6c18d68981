// An MCP server of the 2.x SDK (@modelcontextprotocol/server createMcpHandler) over HTTP on
// 127.0.0.1: it speaks revision 2026-07-28 statelessly (and serves 2025 clients without
// sessions). node:http is bridged to the handler's web-standard fetch(Request) (fetch-bridge.mjs).
// Env: PORT (default 0: the system chooses). Prints "modern-http listening port=N" on stderr,
// then a line per request with the MCP and Authorization headers it carried.
// Tools: echo {text} → "modern(<era>): <text>", pid → the process id, ask_name → asks the
// client for a name with an input-required elicitation, then answers "hello <name>".
import { acceptedContent, createMcpHandler, inputRequired, McpServer } from "@modelcontextprotocol/server";
import * as z from "zod/v4";
import { serveFetch } from "./fetch-bridge.mjs";

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

serveFetch("modern-http", (request) => handler.fetch(request), {
	onRequest: (req) => {
		// one line per request, for tests to check what a client sent
		const h = (k) => JSON.stringify(req.headers[k] ?? null);
		process.stderr.write(`modern-http request ${req.method} ${req.url} authorization=${h("authorization")} `
			+ `mcp-protocol-version=${h("mcp-protocol-version")} mcp-method=${h("mcp-method")} mcp-name=${h("mcp-name")} `
			+ `mcp-session-id=${h("mcp-session-id")}\n`);
	},
});
