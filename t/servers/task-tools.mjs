// A stdio MCP server (official SDK 1.x, session era) that knows nothing of tasks, with slow
// tools for mcpfed to run as tasks: its own (slow, confirm, big, seen) and the fixtures the
// conformance suite's tasks scenarios call (greet, slow_compute, failing_job,
// protocol_error_job, confirm_delete, multi_input, test_tool_with_task).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const server = new McpServer({ name: "task-tools", version: "1.0.0" });
const text = (t) => ({ content: [{ type: "text", text: t }] });
const cancelled = [];   // labels of calls the client cancelled (notifications/cancelled)

// Wait ms, or until the call is cancelled: then remember its label and end.
function sleep(ms, signal, label) {
	return new Promise((resolve, reject) => {
		if (signal.aborted) {
			cancelled.push(label);
			return reject(new Error("cancelled"));
		}
		const timer = setTimeout(resolve, ms);
		signal.addEventListener("abort", () => {
			clearTimeout(timer);
			cancelled.push(label);
			reject(new Error("cancelled"));
		}, { once: true });
	});
}

server.registerTool("slow", {
	description: "Waits ms milliseconds (or until cancelled), then says done",
	inputSchema: { ms: z.number(), label: z.string() },
}, async ({ ms, label }, extra) => {
	if (extra._meta?.progressToken !== undefined)
		await extra.sendNotification({ method: "notifications/progress",
			params: { progressToken: extra._meta.progressToken, progress: 1, total: 2, message: `started ${label}` } });
	await sleep(ms, extra.signal, label);
	return text(`done ${label}`);
});

server.registerTool("seen", { description: "The labels of the calls cancelled so far" }, async () => text(JSON.stringify({ cancelled })));

server.registerTool("confirm", { description: "Asks the client to confirm", inputSchema: { what: z.string() } }, async ({ what }) => {
	const answer = await server.server.elicitInput({
		message: `Really ${what}?`,
		requestedSchema: { type: "object", properties: { confirm: { type: "boolean" } }, required: ["confirm"] },
	});
	return text(`${what}: ${answer.action} ${JSON.stringify(answer.content ?? {})}`);
});

server.registerTool("big", { description: "A text of the given length", inputSchema: { bytes: z.number() } },
	async ({ bytes }) => text("x".repeat(bytes)));

// --- the conformance suite's fixtures ---------------------------------------------------
server.registerTool("greet", { description: "Says hello", inputSchema: { name: z.string() } }, async ({ name }) => text(`Hello, ${name}!`));

server.registerTool("slow_compute", {
	description: "Computes for the given seconds", inputSchema: { seconds: z.number(), label: z.string().optional() },
},
	async ({ seconds, label }, extra) => {
		await sleep(seconds * 1000, extra.signal, label ?? "slow_compute");
		return text(`computed ${label ?? ""} after ${seconds}s`);
	});

server.registerTool("failing_job", { description: "Fails as a tool after a second" }, async (extra) => {
	await sleep(1000, extra.signal, "failing_job");
	return { content: [{ type: "text", text: "the job failed" }], isError: true };
});

// A JSON-RPC error rather than a tool error (McpServer makes a tool's exception isError).
server.registerTool("protocol_error_job", { description: "Fails with a protocol error" }, async () => text("never"));
const callTool = server.server._requestHandlers.get("tools/call");
server.server._requestHandlers.set("tools/call", async (req, extra) => {
	if (req.params.name === "protocol_error_job") throw new McpError(-32603, "the job broke down");
	return callTool(req, extra);
});

const ask = (message) => server.server.elicitInput({
	message, requestedSchema: { type: "object", properties: { confirm: { type: "boolean" }, name: { type: "string" } } },
});

server.registerTool("confirm_delete", { description: "Asks before deleting a file", inputSchema: { filename: z.string() } }, async ({ filename }) => {
	const answer = await ask(`Delete ${filename}?`);
	return text(`${filename}: ${answer.action} ${JSON.stringify(answer.content ?? {})}`);
});

// Asks the name first, then works ms milliseconds (300 unless told; until cancelled) and
// greets it (mcpfed's tasks.after_input makes it a task once the name is given: the
// conformance suite's tasks-mrtr-composition).
server.registerTool("test_tool_with_task", {
	description: "Asks a name, then greets it after a while", inputSchema: { ms: z.number().optional(), label: z.string().optional() },
}, async ({ ms, label }, extra) => {
	const answer = await server.server.elicitInput({
		message: "What is your name?",
		requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
	});
	const name = answer.content?.name ?? answer.content?.user_name ?? "(nobody)";
	await sleep(ms ?? 300, extra.signal, label ?? "test_tool_with_task");
	return text(`Hello, ${name}! (${answer.action})`);
});

server.registerTool("multi_input", { description: "Asks two questions at once" }, async () => {
	const [a, b] = await Promise.all([ask("First?"), ask("Second?")]);
	return text(`${JSON.stringify(a.content ?? {})} ${JSON.stringify(b.content ?? {})}`);
});

await server.connect(new StdioServerTransport());
