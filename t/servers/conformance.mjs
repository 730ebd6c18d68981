// MCP stdio server (SDK 1.x) exposing the fixtures that the server scenarios of
// @modelcontextprotocol/conformance 0.1.16 (suite "active") expect: tools, resources,
// resource templates, subscriptions, prompts, completion and logging. Federated by mcpfed
// with prefix = false, it lets the conformance suite run against the gateway
// (t/conformance/suite.mjs). Written for mcpfed, after the scenario requirements.
//
// Server-to-client requests (sampling, elicitation) and notifications (log messages,
// progress) are sent as related to the tool call that caused them, so that a gateway can
// attribute them to the downstream request. Tools without arguments declare inputSchema {}
// so that McpServer passes (args, extra) to their handlers (without a schema it passes only
// extra).
import zlib from "node:zlib";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { completable } from "@modelcontextprotocol/sdk/server/completable.js";
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

// --- Small media payloads, built here -------------------------------------------------

const crcTable = Array.from({ length: 256 }, (_, n) => {
	let c = n;
	for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
	return c >>> 0;
});
const crc32 = (buf) => {
	let c = 0xffffffff;
	for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
};

// A 1x1 PNG, one opaque red pixel (8-bit RGB).
function onePixelPng() {
	const chunk = (type, data) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
		const crc = Buffer.alloc(4);
		crc.writeUInt32BE(crc32(td));
		return Buffer.concat([len, td, crc]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(1, 0); // width
	ihdr.writeUInt32BE(1, 4); // height
	ihdr[8] = 8; // bit depth
	ihdr[9] = 2; // colour type: truecolour
	// compression, filter, interlace: 0
	const scanline = Buffer.from([0, 0xff, 0x00, 0x00]); // filter byte 0, then R G B
	return Buffer.concat([
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk("IHDR", ihdr),
		chunk("IDAT", zlib.deflateSync(scanline)),
		chunk("IEND", Buffer.alloc(0)),
	]);
}

// A RIFF/WAVE file: 8 kHz, mono, 16-bit PCM, 80 samples (10 ms) of a quiet square wave.
function tinyWav() {
	const rate = 8000, samples = 80, bytesPerSample = 2;
	const data = Buffer.alloc(samples * bytesPerSample);
	for (let i = 0; i < samples; i++) data.writeInt16LE((i >> 3) & 1 ? 1000 : -1000, i * bytesPerSample);
	const h = Buffer.alloc(44);
	h.write("RIFF", 0, "ascii");
	h.writeUInt32LE(36 + data.length, 4);
	h.write("WAVE", 8, "ascii");
	h.write("fmt ", 12, "ascii");
	h.writeUInt32LE(16, 16); // fmt chunk size
	h.writeUInt16LE(1, 20); // PCM
	h.writeUInt16LE(1, 22); // channels
	h.writeUInt32LE(rate, 24);
	h.writeUInt32LE(rate * bytesPerSample, 28); // byte rate
	h.writeUInt16LE(bytesPerSample, 32); // block align
	h.writeUInt16LE(8 * bytesPerSample, 34); // bits per sample
	h.write("data", 36, "ascii");
	h.writeUInt32LE(data.length, 40);
	return Buffer.concat([h, data]);
}

const PNG = onePixelPng().toString("base64");
const WAV = tinyWav().toString("base64");

// --- Server ----------------------------------------------------------------------------

const server = new McpServer(
	{ name: "mcpfed-conformance-fixtures", version: "1.0.0" },
	{
		capabilities: {
			tools: { listChanged: true },
			resources: { subscribe: true, listChanged: true },
			prompts: { listChanged: true },
			completions: {},
			logging: {},
		},
		instructions: "Fixtures for the MCP conformance server scenarios.",
	},
);
const low = server.server; // the protocol-level Server, for handlers McpServer lacks

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ type: "text", text: t });

// Log through the tool call's own channel, honouring logging/setLevel as the SDK does for
// sendLoggingMessage (which, unlike this, cannot relate the message to a request).
async function logFor(extra, level, data) {
	if (typeof low.isMessageIgnored === "function" && low.isMessageIgnored(level, extra.sessionId)) return;
	await extra.sendNotification({ method: "notifications/message", params: { level, logger: "conformance", data } });
}

// Tools --------------------------------------------------------------------------------

server.registerTool("test_simple_text", {
	description: "Returns a simple text response",
	inputSchema: {},
}, async () => ({ content: [text("This is a simple text response for testing.")] }));

server.registerTool("test_image_content", {
	description: "Returns a 1x1 PNG image",
	inputSchema: {},
}, async () => ({ content: [{ type: "image", data: PNG, mimeType: "image/png" }] }));

server.registerTool("test_audio_content", {
	description: "Returns a short WAV audio clip",
	inputSchema: {},
}, async () => ({ content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] }));

server.registerTool("test_embedded_resource", {
	description: "Returns an embedded text resource",
	inputSchema: {},
}, async () => ({
	content: [{
		type: "resource",
		resource: { uri: "test://embedded-resource", mimeType: "text/plain", text: "This is an embedded resource content." },
	}],
}));

server.registerTool("test_multiple_content_types", {
	description: "Returns text, image and embedded resource content together",
	inputSchema: {},
}, async () => ({
	content: [
		text("Multiple content types test:"),
		{ type: "image", data: PNG, mimeType: "image/png" },
		{
			type: "resource",
			resource: { uri: "test://mixed-content-resource", mimeType: "application/json", text: JSON.stringify({ test: "data", value: 123 }) },
		},
	],
}));

server.registerTool("test_tool_with_logging", {
	description: "Sends three info log messages while it runs",
	inputSchema: {},
}, async (_args, extra) => {
	await logFor(extra, "info", "Tool execution started");
	await sleep(50);
	await logFor(extra, "info", "Tool processing data");
	await sleep(50);
	await logFor(extra, "info", "Tool execution completed");
	return { content: [text("Tool with logging executed successfully")] };
});

server.registerTool("test_error_handling", {
	description: "Always fails; the error is reported as a tool result with isError",
	inputSchema: {},
}, async () => {
	// McpServer turns a thrown error into { isError: true, content: [{ type: "text", text: message }] }.
	throw new Error("This tool intentionally returns an error for testing");
});

server.registerTool("test_tool_with_progress", {
	description: "Reports progress 0, 50 and 100 of 100 when the call carries a progressToken",
	inputSchema: {},
}, async (_args, extra) => {
	const token = extra._meta?.progressToken;
	for (const progress of [0, 50, 100]) {
		if (progress) await sleep(50);
		if (token !== undefined) {
			await extra.sendNotification({
				method: "notifications/progress",
				params: { progressToken: token, progress, total: 100, message: `Completed ${progress}%` },
			});
		}
	}
	return { content: [text(`Progress tool completed${token === undefined ? " (no progress token)" : ""}`)] };
});

server.registerTool("test_sampling", {
	description: "Asks the client for an LLM completion (sampling/createMessage) of the prompt",
	inputSchema: { prompt: z.string().describe("The prompt to send to the LLM") },
}, async ({ prompt }, extra) => {
	if (!low.getClientCapabilities()?.sampling) {
		return { isError: true, content: [text("The client does not support sampling")] };
	}
	const res = await low.createMessage({
		messages: [{ role: "user", content: text(prompt) }],
		maxTokens: 100,
	}, { relatedRequestId: extra.requestId });
	const answer = res.content?.type === "text" ? res.content.text : JSON.stringify(res.content);
	return { content: [text(`LLM response: ${answer}`)] };
});

const elicitTool = (name, description, inputSchema, request, format) =>
	server.registerTool(name, { description, inputSchema }, async (args, extra) => {
		if (!low.getClientCapabilities()?.elicitation) {
			return { isError: true, content: [text("The client does not support elicitation")] };
		}
		const res = await low.elicitInput(request(args), { relatedRequestId: extra.requestId });
		return { content: [text(format(res))] };
	});

elicitTool("test_elicitation", "Asks the user for a username and an email address (elicitation/create)",
	{ message: z.string().describe("The message to show the user") },
	({ message }) => ({
		message,
		requestedSchema: {
			type: "object",
			properties: {
				username: { type: "string", description: "User's response" },
				email: { type: "string", description: "User's email address" },
			},
			required: ["username", "email"],
		},
	}),
	(res) => `User response: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`);

elicitTool("test_elicitation_sep1034_defaults", "Elicitation whose schema has defaults for every primitive type (SEP-1034)",
	{},
	() => ({
		message: "Please review these values (defaults given)",
		requestedSchema: {
			type: "object",
			properties: {
				name: { type: "string", description: "Your name", default: "John Doe" },
				age: { type: "integer", description: "Your age", default: 30 },
				score: { type: "number", description: "Your score", default: 95.5 },
				status: { type: "string", description: "Account status", enum: ["active", "inactive", "pending"], default: "active" },
				verified: { type: "boolean", description: "Verified account", default: true },
			},
		},
	}),
	(res) => `Elicitation completed: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`);

elicitTool("test_elicitation_sep1330_enums", "Elicitation using all five enum schema variants (SEP-1330)",
	{},
	() => ({
		message: "Please choose from these options",
		requestedSchema: {
			type: "object",
			properties: {
				untitledSingle: { type: "string", description: "Untitled single choice", enum: ["option1", "option2", "option3"] },
				titledSingle: {
					type: "string",
					description: "Titled single choice",
					oneOf: [
						{ const: "value1", title: "First Option" },
						{ const: "value2", title: "Second Option" },
						{ const: "value3", title: "Third Option" },
					],
				},
				legacyEnum: {
					type: "string",
					description: "Legacy titled choice",
					enum: ["opt1", "opt2", "opt3"],
					enumNames: ["Option One", "Option Two", "Option Three"],
				},
				untitledMulti: {
					type: "array",
					description: "Untitled multiple choice",
					items: { type: "string", enum: ["option1", "option2", "option3"] },
				},
				titledMulti: {
					type: "array",
					description: "Titled multiple choice",
					items: {
						anyOf: [
							{ const: "value1", title: "First Choice" },
							{ const: "value2", title: "Second Choice" },
							{ const: "value3", title: "Third Choice" },
						],
					},
				},
			},
		},
	}),
	(res) => `Elicitation completed: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`);

// Resources ----------------------------------------------------------------------------

server.registerResource("static-text", "test://static-text", {
	description: "A static text resource", mimeType: "text/plain",
}, async (uri) => ({
	contents: [{ uri: uri.href, mimeType: "text/plain", text: "This is the content of the static text resource." }],
}));

server.registerResource("static-binary", "test://static-binary", {
	description: "A static binary resource (a 1x1 PNG)", mimeType: "image/png",
}, async (uri) => ({ contents: [{ uri: uri.href, mimeType: "image/png", blob: PNG }] }));

server.registerResource("template-data", new ResourceTemplate("test://template/{id}/data", { list: undefined }), {
	description: "JSON data for the given id", mimeType: "application/json",
}, async (uri, { id }) => ({
	contents: [{
		uri: uri.href,
		mimeType: "application/json",
		text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
	}],
}));

let watchedVersion = 1;
server.registerResource("watched-resource", "test://watched-resource", {
	description: "A resource that can be subscribed to; it changes shortly after each subscribe", mimeType: "text/plain",
}, async (uri) => ({
	contents: [{ uri: uri.href, mimeType: "text/plain", text: `Watched resource content, version ${watchedVersion}` }],
}));

server.registerResource("example-resource", "test://example-resource", {
	description: "An example resource, embedded by test_prompt_with_embedded_resource", mimeType: "text/plain",
}, async (uri) => ({
	contents: [{ uri: uri.href, mimeType: "text/plain", text: "Embedded resource content for testing." }],
}));

// Subscriptions: remember the URIs; after a subscribe to the watched resource, change it
// once 100 ms later and send notifications/resources/updated if still subscribed.
const subscriptions = new Set();
low.setRequestHandler(SubscribeRequestSchema, async (req) => {
	const { uri } = req.params;
	subscriptions.add(uri);
	if (uri === "test://watched-resource") {
		setTimeout(() => {
			if (!subscriptions.has(uri)) return;
			watchedVersion++;
			low.sendResourceUpdated({ uri }).catch(() => {});
		}, 100).unref();
	}
	return {};
});
low.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
	subscriptions.delete(req.params.uri);
	return {};
});

// Prompts ------------------------------------------------------------------------------

server.registerPrompt("test_simple_prompt", {
	description: "A simple prompt without arguments",
}, () => ({ messages: [{ role: "user", content: text("This is a simple prompt for testing.") }] }));

const arg1Values = ["paris", "park", "party", "test", "testValue1", "testing"];
server.registerPrompt("test_prompt_with_arguments", {
	description: "A prompt with two required arguments",
	argsSchema: {
		arg1: completable(z.string().describe("First test argument"),
			(value) => arg1Values.filter((v) => v.startsWith(value ?? ""))),
		arg2: z.string().describe("Second test argument"),
	},
}, ({ arg1, arg2 }) => ({
	messages: [{ role: "user", content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) }],
}));

server.registerPrompt("test_prompt_with_embedded_resource", {
	description: "A prompt that embeds the resource given by its URI",
	argsSchema: { resourceUri: z.string().describe("URI of the resource to embed") },
}, ({ resourceUri }) => ({
	messages: [
		{
			role: "user",
			content: { type: "resource", resource: { uri: resourceUri, mimeType: "text/plain", text: "Embedded resource content for testing." } },
		},
		{ role: "user", content: text("Please process the embedded resource above.") },
	],
}));

server.registerPrompt("test_prompt_with_image", {
	description: "A prompt containing an image",
}, () => ({
	messages: [
		{ role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
		{ role: "user", content: text("Please analyze the image above.") },
	],
}));

await server.connect(new StdioServerTransport());
