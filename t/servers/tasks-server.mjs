// A stdio MCP server (official SDK 1.x, 2025-11-25) that runs tasks of its own, with the
// SDK's experimental task support (an in-memory task store): its tool job makes a task
// that completes after ms milliseconds with "job LABEL done" (with LABEL "crash", the
// server exits then instead); must does the same, and runs only as a task; ask makes a
// task that asks a name (elicitation/create, on the task's tasks/result stream) and
// completes with "hello NAME".
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { InMemoryTaskMessageQueue, InMemoryTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks";
import { ElicitResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const server = new McpServer({ name: "tasks-server", version: "1.0.0" }, {
	capabilities: { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
	taskStore: new InMemoryTaskStore(),
	// what a task asks waits here, and goes out on the tasks/result that is open for it
	taskMessageQueue: new InMemoryTaskMessageQueue(),
});

const handlers = {
	async createTask({ ms, label }, extra) {
		const task = await extra.taskStore.createTask({ ttl: 60000, pollInterval: 20 });
		setTimeout(() => {
			if (label === "crash") process.exit(3);   // the upstream goes away mid-task
			extra.taskStore.storeTaskResult(task.taskId, "completed", { content: [{ type: "text", text: `job ${label} done` }] })
				.catch(() => {});   // cancelled meanwhile
		}, ms);
		return { task };
	},
	async getTask(args, extra) { return await extra.taskStore.getTask(extra.taskId); },
	async getTaskResult(args, extra) { return await extra.taskStore.getTaskResult(extra.taskId); },
};
const inputSchema = { ms: z.number(), label: z.string() };

server.experimental.tasks.registerToolTask("job", {
	description: "A task of the server's own: done after ms milliseconds", inputSchema,
	execution: { taskSupport: "optional" },
}, handlers);
server.experimental.tasks.registerToolTask("must", {
	description: "The same, only as a task", inputSchema,
	execution: { taskSupport: "required" },
}, handlers);

server.experimental.tasks.registerToolTask("ask", {
	description: "A task that asks a name first", inputSchema: {},
	execution: { taskSupport: "optional" },
}, {
	async createTask(args, extra) {
		const task = await extra.taskStore.createTask({ ttl: 60000, pollInterval: 20 });
		const store = extra.taskStore;
		extra.sendRequest({ method: "elicitation/create", params: { message: "Your name?",
			requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } } },
		ElicitResultSchema, { relatedTask: { taskId: task.taskId } })
			.then((r) => store.storeTaskResult(task.taskId, "completed", { content: [{ type: "text", text: `hello ${r.content?.name ?? r.action}` }] }))
			.catch(() => {});   // cancelled meanwhile
		return { task };
	},
	async getTask(args, extra) { return await extra.taskStore.getTask(extra.taskId); },
	async getTaskResult(args, extra) { return await extra.taskStore.getTaskResult(extra.taskId); },
});

await server.connect(new StdioServerTransport());
