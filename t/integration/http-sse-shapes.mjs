// The HTTP provider reads an upstream's SSE answer in every shape the format allows (line
// ends LF, CRLF or a lone CR, "data:" without a space, data over several lines, a byte order
// mark, comments and retry fields, one byte per write), here for tools/call answers of a
// 2026-07-28 upstream that are input-required results, then complete ones: the call goes
// through instead of failing as unanswered. An event the stream ends without closing is not
// an answer (the format discards it): the call gets a clear error, not a hang. The client's
// own stream carries notifications and the result, never a request (SEP-2575), even when
// the upstream puts one on its stream.
// Upstream: t/servers/sse-shapes.mjs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { killAll, logTail, withTimeout } from "../lib/harness.mjs";
import { endpointClient, parseSseEvent, startHttpGateway, startHttpServer } from "../lib/http.mjs";

let up, gw, url;
before(async () => {
	const s = await startHttpServer("sse-shapes");
	up = s.proc;
	({ gw, urls: [url] } = await startHttpGateway({
		listen: ["http://127.0.0.1:0/mcp"],
		providers: [{ name: "s", transport: "http", url: s.url, prefix: false }],
	}, { listed: ["s"] }));
});
after(() => killAll(gw, up));

const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, () => logTail(gw.stderrText()));
const ep = endpointClient(() => url, bounded);
let id = 0;
// A 2026-07-28 tools/call; resolves to the messages of the answer (one, or a stream's).
async function call(name, params = {}) {
	const msg = { jsonrpc: "2.0", id: ++id, method: "tools/call", params: { name, arguments: {}, ...params,
		_meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
			"io.modelcontextprotocol/clientCapabilities": { elicitation: {} }, progressToken: "p" } } };
	const r = await ep.post(msg, { version: "2026-07-28", headers: { "Mcp-Method": "tools/call", "Mcp-Name": name } });
	assert.equal(r.status, 200, `${name}: ${r.text}`);
	const msgs = r.headers.get("content-type").startsWith("text/event-stream")
		? r.text.split("\n\n").map(parseSseEvent).filter((e) => e.data).map((e) => JSON.parse(e.data)) : [r.json];
	return { answer: msgs.find((x) => x.id === msg.id), msgs };
}
const answered = { who: { action: "accept", content: { name: "Ada" } } };

for (const shape of ["lf", "crlf", "cr", "nospace", "multiline", "bom", "bytes", "comments", "progress"]) {
	test(`an answer streamed with ${shape} goes through`, async () => {
		const first = await call(shape);
		assert.equal(first.answer?.result?.resultType, "input_required", JSON.stringify(first.msgs) + logTail(gw.stderrText()));
		assert.equal(first.answer.result.inputRequests.who.method, "elicitation/create");
		const second = await call(shape, { inputResponses: answered });
		assert.equal(second.answer?.result?.content?.[0]?.text, `${shape}: hello Ada`, JSON.stringify(second.msgs));
		for (const x of [...first.msgs, ...second.msgs])
			assert.ok(x.id !== undefined ? "result" in x || "error" in x : x.method.startsWith("notifications/"), `no request: ${JSON.stringify(x)}`);
	});
}

test("an event the stream ends without closing is no answer: a clear error", async () => {
	const r = await call("eof");
	assert.equal(r.answer?.error?.code, -32011, JSON.stringify(r.msgs));
	assert.match(r.answer.error.message, /without a response/);
});

test("a request the upstream puts on its stream reaches the client as input-required, not as a request", async () => {
	const r = await call("asks");
	assert.ok(r.msgs.every((x) => x.method === undefined || x.method.startsWith("notifications/")), JSON.stringify(r.msgs));
	assert.equal(r.answer?.result?.resultType, "input_required", JSON.stringify(r.msgs));
	const asks = Object.values(r.answer.result.inputRequests);
	assert.deepEqual(asks.map((a) => [a.method, a.params.message]), [["elicitation/create", "Really?"]]);
});
