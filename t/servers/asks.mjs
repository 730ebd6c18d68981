// A stdio MCP server (official SDK 1.x) whose tools ask their client things the 2025-11-25
// capabilities describe: URL-mode elicitation (answered, then completed out of band),
// URLElicitationRequiredError (-32042) completed after the call has ended, and sampling
// with tools and toolChoice.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { UrlElicitationRequiredError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const server = new McpServer({ name: "asks", version: "1.0.0" });
const text = (t) => ({ content: [{ type: "text", text: t }] });

server.registerTool("url-elicit", { inputSchema: { id: z.string() } }, async ({ id }) => {
	const answer = await server.server.elicitInput({
		mode: "url", url: `https://auth.example/flow/${id}`, message: "Open the link", elicitationId: id,
	});
	await server.server.createElicitationCompletionNotifier(id)();
	return text(`url elicitation ${id}: ${answer.action}`);
});

// The call ends at once with -32042; the completion follows once the call is over.
server.registerTool("url-required", { inputSchema: { id: z.string() } }, async ({ id }) => {
	setTimeout(() => {
		server.server.notification({ method: "notifications/elicitation/complete", params: { elicitationId: id } });
	}, 50);
	throw new UrlElicitationRequiredError([
		{ mode: "url", url: `https://auth.example/pre/${id}`, message: "Authorize first", elicitationId: id },
	]);
});

server.registerTool("sample-tools", {}, async () => {
	const res = await server.server.createMessage({
		messages: [{ role: "user", content: { type: "text", text: "What is the weather in Paris?" } }],
		maxTokens: 50,
		tools: [{ name: "get_weather", description: "Weather of a city",
			inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }],
		toolChoice: { mode: "auto" },
	});
	return text(JSON.stringify(res));
});

await server.connect(new StdioServerTransport());
