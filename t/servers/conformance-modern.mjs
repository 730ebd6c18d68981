// An MCP server of the 2.x SDK (createMcpHandler) over HTTP on 127.0.0.1, speaking revision
// 2026-07-28, with the fixtures that the 2026-07-28 server scenarios of
// @modelcontextprotocol/conformance expect beyond what t/servers/conformance.mjs (session
// era, stdio) has: the input-required tools and prompt (SEP-2322), the capability probe
// test_missing_capability and test_streaming_elicitation (SEP-2575), the list-change
// triggers, and a tool whose arguments are mirrored in Mcp-Param-* headers (SEP-2243).
// Every answer is an SSE stream (responseMode "sse"), so a gateway in front of it reads
// its results, input-required ones included, from streams.
// Env: PORT (default 0). Prints "conformance-modern listening port=N" on stderr, then a line
// per tools/call with its Mcp-Param-* headers ("conformance-modern params {...}").
import crypto from "node:crypto";
import {
	acceptedContent, createMcpHandler, fromJsonSchema, inputRequired, McpServer,
} from "@modelcontextprotocol/server";
import * as z from "zod/v4";
import { serveFetch } from "./fetch-bridge.mjs";

const text = (t) => ({ type: "text", text: t });
const nameSchema = { type: "object", properties: { name: { type: "string" } }, required: ["name"] };
const elicitName = (message) => inputRequired.elicit({ message, requestedSchema: nameSchema });

// requestState is minted here and comes back through the client: sealed with a key of this
// process, and checked by the SDK's requestState.verify hook, so that a state the client
// altered is refused with -32602 (a tool's own exception would be an isError result).
const key = crypto.randomBytes(32);
const seal = (obj) => {
	const body = Buffer.from(JSON.stringify(obj)).toString("base64url");
	return `${body}.${crypto.createHmac("sha256", key).update(body).digest("base64url")}`;
};
function unseal(state) {
	const [body, mac] = String(state).split(".");
	const want = body ? crypto.createHmac("sha256", key).update(body).digest("base64url") : "";
	if (!mac || mac.length !== want.length || !crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(want)))
		throw new Error("requestState failed its integrity check");
	return JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
}
const stateOf = (ctx) => ctx.mcpReq.requestState();   // as unsealed by verify
const responses = (ctx) => ctx.mcpReq.inputResponses ?? {};
const caps = (ctx) => ctx.mcpReq.envelope?.["io.modelcontextprotocol/clientCapabilities"] ?? {};
const sampleHi = () => inputRequired.createMessage({ messages: [{ role: "user", content: text("Say hi") }], maxTokens: 20 });

let toolsGrown = 0, promptsGrown = 0;

const handler = createMcpHandler(() => {
	const server = new McpServer({ name: "mcpfed-conformance-modern", version: "1.0.0" }, {
		capabilities: { tools: { listChanged: true }, prompts: { listChanged: true } },
		requestState: { verify: unseal },
	});
	const tool = (name, description, fn, inputSchema = z.object({})) =>
		server.registerTool(name, { description, inputSchema }, fn);

	tool("test_input_required_result_elicitation", "Asks the client for a name (input-required)", async (_a, ctx) => {
		const who = acceptedContent(responses(ctx), "user_name");
		if (!who?.name) return inputRequired({ inputRequests: { user_name: elicitName("What is your name?") } });
		return { content: [text(`Hello, ${who.name}!`)] };
	});
	tool("test_input_required_result_sampling", "Asks the client's model a question (input-required)", async (_a, ctx) => {
		const r = responses(ctx).capital_question;
		if (!r) return inputRequired({ inputRequests: { capital_question: inputRequired.createMessage({
			messages: [{ role: "user", content: text("What is the capital of France?") }], maxTokens: 100 }) } });
		return { content: [text(`The model said: ${r.content?.text ?? JSON.stringify(r.content)}`)] };
	});
	tool("test_input_required_result_list_roots", "Asks the client for its roots (input-required)", async (_a, ctx) => {
		const r = responses(ctx).client_roots;
		if (!Array.isArray(r?.roots)) return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
		return { content: [text(`roots: ${r.roots.map((x) => x.uri).join(", ")}`)] };
	});
	tool("test_input_required_result_request_state", "Round-trips requestState (input-required)", async (_a, ctx) => {
		const ok = responses(ctx).confirm;
		if (!ok) return inputRequired({
			inputRequests: { confirm: inputRequired.elicit({ message: "Please confirm",
				requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] } }) },
			requestState: seal({ tool: "request_state" }),
		});
		return { content: [text(stateOf(ctx)?.tool === "request_state" ? "state-ok: confirmed" : "state missing")] };
	});
	tool("test_input_required_result_multiple_inputs", "Asks three things at once (input-required)", async (_a, ctx) => {
		const r = responses(ctx);
		if (!r.user_name || !r.greeting || !r.client_roots) return inputRequired({
			inputRequests: {
				user_name: elicitName("What is your name?"),
				greeting: inputRequired.createMessage({ messages: [{ role: "user", content: text("Generate a greeting") }], maxTokens: 50 }),
				client_roots: inputRequired.listRoots(),
			},
			requestState: seal({ tool: "multiple" }),
		});
		return { content: [text(`all inputs received: ${Object.keys(r).sort().join(", ")}`)] };
	});
	tool("test_input_required_result_multi_round", "Asks twice, the state evolving (input-required)", async (_a, ctx) => {
		const r = responses(ctx);
		const state = stateOf(ctx) ?? { round: 1 };
		if (state.round === 1 && acceptedContent(r, "step1")?.name)
			return inputRequired({
				inputRequests: { step2: inputRequired.elicit({ message: "Step 2: What is your favorite color?",
					requestedSchema: { type: "object", properties: { color: { type: "string" } }, required: ["color"] } }) },
				requestState: seal({ round: 2, name: acceptedContent(r, "step1").name }),
			});
		if (state.round === 2 && acceptedContent(r, "step2")?.color)
			return { content: [text(`${state.name} likes ${acceptedContent(r, "step2").color}`)] };
		if (state.round === 2) return inputRequired({ inputRequests: { step2: elicitName("Step 2: What is your favorite color?") }, requestState: seal(state) });
		return inputRequired({ inputRequests: { step1: elicitName("Step 1: What is your name?") }, requestState: seal({ round: 1 }) });
	});
	tool("test_input_required_result_tampered_state", "Refuses a requestState it did not mint", async (_a, ctx) => {
		if (stateOf(ctx) === undefined)
			return inputRequired({ inputRequests: { confirm: elicitName("Please confirm") }, requestState: seal({ tool: "tampered" }) });
		return { content: [text("state verified")] };
	});
	tool("test_input_required_result_capabilities", "Asks only what the client can answer", async (_a, ctx) => {
		if (Object.keys(responses(ctx)).length) return { content: [text("inputs received")] };
		const c = caps(ctx), asks = {};
		if (c.elicitation) asks.user_name = elicitName("What is your name?");
		if (c.sampling) asks.greeting = sampleHi();
		if (c.roots) asks.client_roots = inputRequired.listRoots();
		if (!Object.keys(asks).length) return { content: [text("the client can be asked nothing")] };
		return inputRequired({ inputRequests: asks });
	});
	// Asking a client for what it did not declare is refused by the SDK with -32021.
	tool("test_missing_capability", "Requires the client capability sampling", async (_a, ctx) => {
		if (responses(ctx).greeting) return { content: [text("the client can sample")] };
		return inputRequired({ inputRequests: { greeting: sampleHi() } });
	});
	tool("test_streaming_elicitation", "Reports progress, then asks for a name (input-required)", async (_a, ctx) => {
		const who = acceptedContent(responses(ctx), "user_name");
		if (who?.name) return { content: [text(`Hello, ${who.name}!`)] };
		const token = ctx.mcpReq._meta?.progressToken;
		if (token !== undefined)
			await ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken: token, progress: 1, total: 2 } });
		return inputRequired({ inputRequests: { user_name: elicitName("What is your name?") } });
	});
	tool("test_trigger_tool_change", "Adds a tool and announces the change", async () => {
		toolsGrown++;
		handler.notify.toolsChanged();
		return { content: [text(`tools grown ${toolsGrown}`)] };
	});
	tool("test_trigger_prompt_change", "Adds a prompt and announces the change", async () => {
		promptsGrown++;
		handler.notify.promptsChanged();
		return { content: [text(`prompts grown ${promptsGrown}`)] };
	});
	for (let i = 1; i <= toolsGrown; i++)
		tool(`test_grown_tool_${i}`, "Added by test_trigger_tool_change", async () => ({ content: [text(`grown ${i}`)] }));
	for (let i = 1; i <= promptsGrown; i++)
		server.registerPrompt(`test_grown_prompt_${i}`, { description: "Added by test_trigger_prompt_change" },
			async () => ({ messages: [{ role: "user", content: text(`grown ${i}`) }] }));

	// Logs only to a client that set _meta.io.modelcontextprotocol/logLevel (the SDK drops
	// the message otherwise).
	tool("test_logging_tool", "Logs three messages, then answers", async (_a, ctx) => {
		for (const step of ["started", "working", "done"]) await ctx.mcpReq.log("info", `test_logging_tool ${step}`);
		return { content: [text("logged")] };
	});
	// SEP-1613, SEP-2106: JSON Schema 2020-12 keywords that must reach the client unchanged.
	server.registerTool("json_schema_2020_12_tool", {
		description: "Tool with JSON Schema 2020-12 features",
		inputSchema: fromJsonSchema({
			$schema: "https://json-schema.org/draft/2020-12/schema",
			type: "object",
			$defs: { address: { $anchor: "addressDef", type: "object", properties: { street: { type: "string" }, city: { type: "string" } } } },
			properties: {
				name: { type: "string" }, address: { $ref: "#/$defs/address" },
				contactMethod: { type: "string", enum: ["phone", "email"] }, phone: { type: "string" }, email: { type: "string" },
			},
			allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
			if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
			then: { required: ["phone"] },
			else: { required: ["email"] },
			additionalProperties: false,
		}),
	}, async (args) => ({ content: [text(`received ${JSON.stringify(args)}`)] }));

	// SEP-2243: region and priority are mirrored in Mcp-Param-Region and Mcp-Param-Priority.
	server.registerTool("test_custom_headers", {
		description: "Echoes arguments that clients mirror in Mcp-Param-* headers",
		inputSchema: z.object({
			region: z.string().meta({ "x-mcp-header": "Region" }),
			priority: z.number().int().optional().meta({ "x-mcp-header": "Priority" }),
			note: z.string().optional(),
		}),
	}, async ({ region, priority }) => ({ content: [text(`region=${region} priority=${priority ?? "-"}`)] }));

	server.registerPrompt("test_input_required_result_prompt", { description: "A prompt that asks for context first" },
		async (ctx) => {
			const c = acceptedContent(responses(ctx), "user_context");
			if (!c?.context) return inputRequired({ inputRequests: { user_context: inputRequired.elicit({
				message: "What context should the prompt use?",
				requestedSchema: { type: "object", properties: { context: { type: "string" } }, required: ["context"] } }) } });
			return { messages: [{ role: "user", content: text(`Use this context: ${c.context}`) }] };
		});
	return server;
}, { responseMode: "sse" });

serveFetch("conformance-modern", (request) => handler.fetch(request), {
	onRequest: (req, body) => {
		try {
			const msg = JSON.parse(body.toString("utf8"));
			if (msg.method !== "tools/call") return;
			const params = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith("mcp-param-")));
			process.stderr.write(`conformance-modern params ${msg.params?.name} ${JSON.stringify(params)}\n`);
		} catch { /* not JSON: the handler says so */ }
	},
});
