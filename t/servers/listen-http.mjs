// An MCP server of the 2.x SDK (createMcpHandler) over HTTP on 127.0.0.1, speaking revision
// 2026-07-28: resources that can be subscribed to through subscriptions/listen, a prompt
// with a completable argument, and tools that make things change.
// Env: PORT (default 0). Prints "listen-http listening port=N" on stderr, and a line
// "listen-http listen <filter as JSON>" for every subscriptions/listen it is sent.
// Resources: note://a, note://b (text "<name> v<version>"). Prompt: greet {name} (name
// completes from ada, alan, grace). Tools: touch {uri} → the resource's version goes up
// and notifications/resources/updated is published to the listens that asked for it;
// grow → a tool "extra" appears and notifications/tools/list_changed is published.
import { completable, createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import * as z from "zod/v4";
import { serveFetch } from "./fetch-bridge.mjs";

const versions = { "note://a": 1, "note://b": 1 };
let grown = false;

const handler = createMcpHandler(() => {
	const server = new McpServer({ name: "listen-http", version: "1.0.0" },
		{ capabilities: { resources: { subscribe: true, listChanged: true }, tools: { listChanged: true }, prompts: { listChanged: true } } });
	for (const uri of Object.keys(versions)) {
		const name = uri.slice("note://".length);
		server.registerResource(`note-${name}`, uri, { mimeType: "text/plain", description: `note ${name}` },
			async (u) => ({ contents: [{ uri: u.href, mimeType: "text/plain", text: `${name} v${versions[uri]}` }] }));
	}
	server.registerPrompt("greet", {
		description: "Greet someone",
		argsSchema: z.object({ name: completable(z.string(), (v) => ["ada", "alan", "grace"].filter((n) => n.startsWith(v ?? ""))) }),
	}, async ({ name }) => ({ messages: [{ role: "user", content: { type: "text", text: `Hello, ${name}!` } }] }));
	server.registerTool("touch", { description: "Change a note", inputSchema: z.object({ uri: z.string() }) },
		async ({ uri }) => {
			versions[uri] = (versions[uri] ?? 0) + 1;
			handler.notify.resourceUpdated(uri);
			return { content: [{ type: "text", text: `touched ${uri} v${versions[uri]}` }] };
		});
	server.registerTool("grow", { description: "Add the tool extra", inputSchema: z.object({}) },
		async () => {
			grown = true;
			handler.notify.toolsChanged();
			return { content: [{ type: "text", text: "grown" }] };
		});
	if (grown)
		server.registerTool("extra", { description: "Appeared later", inputSchema: z.object({}) },
			async () => ({ content: [{ type: "text", text: "extra" }] }));
	return server;
});

serveFetch("listen-http", (request) => handler.fetch(request), {
	onRequest: (req, body) => {
		try {
			const msg = JSON.parse(body.toString("utf8"));
			if (msg.method === "subscriptions/listen")
				process.stderr.write(`listen-http listen ${JSON.stringify(msg.params?.notifications ?? {})}\n`);
		} catch { /* not JSON: the handler says so */ }
	},
});
