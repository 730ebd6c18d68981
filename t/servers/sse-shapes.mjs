// A minimal 2026-07-28 MCP server over HTTP on 127.0.0.1 whose tools/call answers are SSE
// streams written by hand, each in one of the shapes the SSE format allows, so that a client
// is checked against the format rather than one library's way of writing it. Every tool
// answers an input-required result (what SEP-2322 servers stream most) until it is sent
// inputResponses, then a text result. Tools (the shape of their stream):
//   lf, crlf, cr: line ends; nospace: "data:{...}"; multiline: the JSON over three data
//   lines; bom: a byte order mark first, then a data line; eof: the last event ended by the
//   end of the stream, no blank line (the format says such an event is not dispatched);
//   bytes: CRLF line ends, one byte per write; comments: comments, a retry field and an
//   id-only event around the result; progress: a notification first; asks: an
//   elicitation/create request first, which 2026-07-28 does not allow on a response stream.
// Env: PORT (default 0). Prints "sse-shapes listening port=N" on stderr.
import http from "node:http";

const V = "2026-07-28";
const SHAPES = ["lf", "crlf", "cr", "nospace", "multiline", "bom", "eof", "bytes", "comments", "progress", "asks"];

function events(shape, msgs) {
	const json = msgs.map((m) => JSON.stringify(m));
	const nl = shape === "crlf" || shape === "bytes" ? "\r\n" : shape === "cr" ? "\r" : "\n";
	const ev = (data) => {
		if (shape === "nospace") return `data:${data}${nl}${nl}`;
		if (shape === "multiline") // the JSON over several data lines, joined again with "\n"
			return `${data.replace(/,"/g, ',\n"').split("\n").map((l) => `data: ${l}`).join(nl)}${nl}${nl}`;
		if (shape === "bom") return `data: ${data}${nl}${nl}`;
		return `event: message${nl}data: ${data}${nl}${nl}`;
	};
	let out = json.map(ev).join("");
	if (shape === "bom") out = `\ufeff${out}`;
	if (shape === "eof") out = out.slice(0, -nl.length);
	if (shape === "comments") out = `: hello${nl}retry: 3000${nl}${nl}id: 1${nl}${nl}${out}: bye${nl}${nl}`;
	return out;
}

const server = http.createServer(async (req, res) => {
	const chunks = [];
	for await (const c of req) chunks.push(c);
	let msg;
	try { msg = JSON.parse(Buffer.concat(chunks).toString("utf8")); } catch { res.writeHead(400).end(); return; }
	const reply = (result) => ({ jsonrpc: "2.0", id: msg.id, result: { ...result, resultType: result.resultType ?? "complete" } });
	const json = (code, body) => { res.writeHead(code, { "content-type": "application/json" }); res.end(JSON.stringify(body)); };
	if (msg.id === undefined) { res.writeHead(202).end(); return; }
	switch (msg.method) {
	case "server/discover":
		return json(200, reply({ supportedVersions: [V], capabilities: { tools: {} }, _meta: { "io.modelcontextprotocol/serverInfo": { name: "sse-shapes", version: "1" } } }));
	case "tools/list":
		return json(200, reply({ tools: SHAPES.map((name) => ({ name, description: `answers with a ${name} stream`, inputSchema: { type: "object" } })), ttlMs: 0, cacheScope: "private" }));
	case "tools/call": {
		const shape = msg.params?.name;
		if (!SHAPES.includes(shape)) return json(200, { jsonrpc: "2.0", id: msg.id, error: { code: -32602, message: `Unknown tool: ${shape}` } });
		const who = msg.params.inputResponses?.who?.content?.name;
		const result = who ? reply({ content: [{ type: "text", text: `${shape}: hello ${who}` }] })
			: reply({ resultType: "input_required", inputRequests: { who: { method: "elicitation/create",
				params: { message: "Your name?", requestedSchema: { type: "object", properties: { name: { type: "string" } } } } } } });
		const token = msg.params._meta?.progressToken;
		const first = shape === "progress" && token !== undefined
			? [{ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: token, progress: 1 } }]
			: shape === "asks" ? [{ jsonrpc: "2.0", id: "ask-1", method: "elicitation/create", params: { message: "Really?", requestedSchema: { type: "object", properties: {} } } }]
				: [];
		const msgs = [...first, result];
		res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
		const text = Buffer.from(events(shape, msgs), "utf8");
		if (shape !== "bytes") return res.end(text);
		for (const b of text) await new Promise((r) => res.write(Buffer.from([b]), r));
		return res.end();
	}
	default:
		return json(404, { jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: `Method not found: ${msg.method}` } });
	}
});
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
	process.stderr.write(`sse-shapes listening port=${server.address().port}\n`);
});
