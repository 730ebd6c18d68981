// MCP stdio server (SDK 1.x) whose tools misbehave on request, to provoke gateway faults.
// Env: FAULTY_NAME (server name), FAULTY_EXIT_AT_START=1 (exit 1 at once), FAULTY_TOOL_COUNT=N
// (extra tools t0001..), FAULTY_PAGE_SIZE=N (paginate tools/list), FAULTY_ODD_NAMES=1
// (add tool "bad.name with spaces").
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { ErrorCode, ListToolsRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const env = process.env;
if (env.FAULTY_EXIT_AT_START === "1") process.exit(1);

const server = new McpServer({ name: env.FAULTY_NAME || "faulty", version: "1.0.0" });
const text = (s) => ({ content: [{ type: "text", text: String(s) }] });
const tool = (name, description, inputSchema, cb) =>
	server.registerTool(name, { description, inputSchema }, cb);

tool("echo", "Return text unchanged", { text: z.string() }, ({ text: t }) => text(t));

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

await server.connect(new StdioServerTransport());
