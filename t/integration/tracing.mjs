// OpenTelemetry tracing: spans exported over OTLP/HTTP (protobuf, or JSON) to a collector
// (t/servers/otlp-collector.mjs), and the W3C trace context carried from clients through
// the gateway to upstreams: the traceparent HTTP header on the MCP listener and
// params._meta.traceparent over stdio, passed on as a header to HTTP upstreams and in
// params._meta to every upstream. The upstream (faulty.mjs with FAULTY_TRACE_TOOLS=1)
// answers with the trace context it received.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/tracing.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
	admin, closedPort, faulty, inOrderPolicy, killAll, logTail, lua, luaConfig, nodeBin, scratchDir, serverPath, startProcess, startStdio, textOf,
	waitFor, withTimeout,
} from "../lib/harness.mjs";
import { endpointClient, initMsg, callMsg, startHttpGateway } from "../lib/http.mjs";
import { makeCerts } from "../lib/certs.mjs";
import { startCollector } from "../servers/otlp-collector.mjs";

const TRACE = { FAULTY_TRACE_TOOLS: "1" };
const hex = (n) => [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, "0")).join("");
const traceparentRe = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])$/;

// A collector that holds every export to the OpenTelemetry encoder: the test fails if one
// of the gateway's exports is refused.
async function collector(t) {
	const c = await startCollector();
	t.after(() => {
		c.close();
		assert.deepEqual(c.rejects.map((r) => r.error), [], "every export is valid OTLP");
	});
	return c;
}

// mcpfed --stdio with an admin socket, closed after the test.
async function stdioGateway(t, top, env = {}) {
	const sock = path.join(scratchDir(), "admin.sock");
	const file = luaConfig({ log_level: "info", admin: sock, ...top });
	const gw = startStdio({ config: file, env });
	gw.sock = sock;
	gw.file = file;
	t.after(() => killAll(gw));
	await gw.initialize({ clientInfo: { name: "tracing-test", version: "1" } });
	await waitFor(() => /registry: listed provider=p list=tools /.test(gw.stderrText()),
		{ timeout: 15000, what: `the tools of p${logTail(gw.stderrText())}` });
	return gw;
}

const tracingStatus = async (gw) => {
	const r = await admin(gw.sock, "tracing");
	assert.equal(r.code, 200, JSON.stringify(r));
	return r.body;
};

test("a call retried on a second target: one request span, the policy's, two attempts; the upstream's parent is the second attempt", async (t) => {
	const c = await collector(t);
	const up = startProcess([nodeBin(), serverPath("faulty.mjs")], { FAULTY_HTTP_PORT: "0", ...TRACE });
	t.after(() => killAll(up));
	const m = await waitFor(() => /listening port=(\d+)/.exec(up.stderrText()), { timeout: 10000, what: "faulty on HTTP" });
	const dead = await closedPort();
	const { gw, urls } = await startHttpGateway({
		log_level: "info", listen: ["http://127.0.0.1:0/mcp"], policy: inOrderPolicy(),
		tracing: { endpoint: c.url, protocol: "http/json", flush_ms: 50, service_name: "gw-under-test", headers: { "X-Api-Key": "k1" } },
		providers: [{ name: "up", transport: "http", urls: [`http://127.0.0.1:${dead}/mcp`, `http://127.0.0.1:${m[1]}/mcp`] }],
	}, { listed: ["up"], listedTimeout: 15000 });
	t.after(() => killAll(gw));
	const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, () => logTail(gw.stderrText()));
	const client = endpointClient(() => urls[0], bounded);
	const init = await client.post(initMsg(1, "2025-11-25", "trace-client"));
	assert.equal(init.status, 200, init.text);
	const session = init.headers.get("mcp-session-id");
	await client.post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, version: "2025-11-25" });

	const tid = hex(16), parent = hex(8);
	const res = await client.post(callMsg(7, "up__traced"), {
		session, version: "2025-11-25", headers: { traceparent: `00-${tid}-${parent}-01`, tracestate: "vendor=abc" },
	});
	assert.equal(res.status, 200, res.text);
	const seen = JSON.parse(textOf(res.json));
	// the upstream saw the trace in the header and in _meta, with the same parent, and the tracestate
	const hm = traceparentRe.exec(seen.header ?? "");
	assert.ok(hm, `a traceparent header upstream: ${JSON.stringify(seen)}`);
	assert.equal(hm[1], tid, "the client's trace goes on upstream");
	assert.equal(hm[3], "1", "sampled");
	assert.equal(seen.meta, seen.header, "the same context in _meta and the header");
	assert.equal(seen.headerState, "vendor=abc");
	assert.equal(seen.metaState, "vendor=abc");
	assert.notEqual(hm[2], parent, "the upstream's parent is the gateway's span, not the client's");

	const spans = (await c.waitSpans((s) => s.filter((x) => x.traceId === tid).length >= 4))
		.filter((x) => x.traceId === tid);
	const request = spans.filter((s) => s.kind === 2);
	assert.equal(request.length, 1, `one request span: ${JSON.stringify(spans)}`);
	const req = request[0];
	assert.equal(req.parentSpanId, parent, "the request span's parent is the client's");
	assert.equal(req.name, "tools/call up__traced");
	assert.equal(req.attributes["mcp.method.name"], "tools/call");
	assert.equal(req.attributes["gen_ai.tool.name"], "up__traced");
	assert.equal(req.attributes["gen_ai.operation.name"], "execute_tool");
	assert.equal(req.attributes["jsonrpc.request.id"], "7");
	assert.equal(req.attributes["mcp.protocol.version"], "2025-11-25");
	assert.equal(req.attributes["mcpfed.provider"], "up");
	assert.equal(req.attributes["mcp.session.id"], session, "the session, as the client knows it");
	assert.equal(req.traceState, "vendor=abc");
	assert.equal(req.status, undefined, "no error");
	assert.equal(req.resource["service.name"], "gw-under-test");
	const policy = spans.filter((s) => s.name === "mcpfed.policy");
	assert.equal(policy.length, 1);
	assert.equal(policy[0].parentSpanId, req.spanId);
	assert.equal(policy[0].attributes["mcpfed.policy.candidates"], 2);
	const attempts = spans.filter((s) => s.kind === 3).sort((a, b) => a.attributes["mcpfed.attempt"] - b.attributes["mcpfed.attempt"]);
	assert.equal(attempts.length, 2, `two attempts: ${JSON.stringify(attempts)}`);
	for (const a of attempts) {
		assert.equal(a.parentSpanId, req.spanId, "attempts are the request's children");
		assert.equal(a.name, "tools/call traced", "named by what the upstream is asked");
		assert.equal(a.attributes["mcpfed.provider"], "up");
	}
	assert.equal(attempts[0].attributes["mcpfed.target"], "up#1");
	assert.equal(attempts[0].status?.code, 2, "the first attempt failed");
	assert.equal(attempts[0].attributes["rpc.jsonrpc.error_code"], -32010);
	assert.equal(attempts[1].attributes["mcpfed.target"], "up#2");
	assert.equal(attempts[1].status, undefined);
	assert.equal(hm[2], attempts[1].spanId, "the upstream's parent is the second attempt");
	for (const s of spans) {
		assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), "a span ends after it starts");
		assert.ok(BigInt(s.startTimeUnixNano) >= BigInt(req.startTimeUnixNano), "children start within the request");
	}
	// the export: JSON, with the configured headers
	assert.equal(c.requests[0].contentType, "application/json");
	assert.equal(c.requests[0].headers["x-api-key"], "k1");

	// a call of more than a megabyte goes upstream whole, not asked to be let in first
	// (libcurl's Expect: 100-continue, a round trip more)
	const big = await client.post(callMsg(70, "up__traced", { pad: "x".repeat(1200000) }), { session, version: "2025-11-25" });
	assert.equal(big.status, 200, big.text.slice(0, 200));
	assert.equal(JSON.parse(textOf(big.json)).expect, null, "no Expect header upstream");

	// a list gets its request span too, and an unknown tool an error status
	await client.post({ jsonrpc: "2.0", id: 8, method: "tools/list" }, { session, version: "2025-11-25" });
	const bad = await client.post(callMsg(9, "up__nope"), { session, version: "2025-11-25" });
	assert.equal(bad.json.error.code, -32602);
	const all = await c.waitSpans((s) => s.some((x) => x.name === "tools/list") && s.some((x) => x.name === "tools/call up__nope"));
	const nope = all.find((x) => x.name === "tools/call up__nope");
	assert.equal(nope.status?.code, 2);
	assert.equal(nope.attributes["rpc.jsonrpc.error_code"], -32602);

	// a long name is cut where a character starts: a span that is not UTF-8 would make the
	// collector refuse the batch (or, as node does, decode it with replacement characters)
	const wide = `a${"é".repeat(60)}`;
	assert.equal((await client.post(callMsg(10, wide), { session, version: "2025-11-25" })).json.error.code, -32602);
	const cut = (await c.waitSpans((s) => s.some((x) => x.name.startsWith("tools/call aé")))).find((x) => x.name.startsWith("tools/call aé"));
	assert.ok(!cut.name.includes("\uFFFD"), `no broken character in ${JSON.stringify(cut.name)}`);
	assert.ok(`tools/call ${wide}`.startsWith(cut.name) && Buffer.byteLength(cut.name) <= 96, cut.name);

	// a long text value (a client's request id) is cut to 1024 bytes, where a character starts
	const longId = `i${"é".repeat(700)}`;
	assert.equal((await client.post({ ...callMsg(11, "up__nope"), id: longId }, { session, version: "2025-11-25" })).json.error.code, -32602);
	const idSpan = (await c.waitSpans((s) => s.some((x) => String(x.attributes["jsonrpc.request.id"]).startsWith("ié"))))
		.find((x) => String(x.attributes["jsonrpc.request.id"]).startsWith("ié"));
	const idValue = idSpan.attributes["jsonrpc.request.id"];
	assert.ok(longId.startsWith(idValue) && Buffer.byteLength(idValue) <= 1024 && Buffer.byteLength(idValue) > 1000, idValue);
});

test("protobuf, the default encoding: the span tree as the OpenTelemetry protobuf encoder would write it", async (t) => {
	const c = await collector(t);
	const gw = await stdioGateway(t, {
		tracing: { endpoint: c.url, flush_ms: 50, service_name: "gw-pb" }, policy: inOrderPolicy(),
		providers: [faulty("p", { env: TRACE })],
	});
	const tid = hex(16), parent = hex(8);
	const res = await gw.request("tools/call", { name: "p__traced", arguments: {},
		_meta: { traceparent: `00-${tid}-${parent}-01`, tracestate: "vendor=x,other=y" } });
	const seen = JSON.parse(textOf(res));
	const mm = traceparentRe.exec(seen.meta ?? "");
	assert.ok(mm, `a traceparent upstream: ${JSON.stringify(seen)}`);
	assert.equal(seen.metaState, "vendor=x,other=y");
	// an error answer: a negative int64 attribute (ten bytes of varint) and a status message
	const bad = await gw.request("tools/call", { name: "p__nope", arguments: {} });
	assert.equal(bad.error?.code, -32602, JSON.stringify(bad));
	// a name with characters of two bytes, cut to fit without breaking one
	const wide = `b${"é".repeat(60)}`;
	assert.equal((await gw.request("tools/call", { name: wide, arguments: {} })).error?.code, -32602);
	// a long text value and status message are cut to 1024 bytes, where a character starts
	const huge = `c${"é".repeat(700)}`;
	assert.equal((await gw.request("tools/call", { name: huge, arguments: {} })).error?.code, -32602);

	const spans = await c.waitSpans((s) => s.filter((x) => x.traceId === tid).length >= 3
		&& s.some((x) => x.name === "tools/call p__nope") && s.some((x) => x.name.startsWith("tools/call bé"))
		&& s.some((x) => x.name.startsWith("tools/call cé")));
	assert.ok(c.requests.length >= 1);
	for (const r of c.requests) assert.equal(r.contentType, "application/x-protobuf");
	const mine = spans.filter((x) => x.traceId === tid);
	const req = mine.find((x) => x.kind === 2);
	assert.ok(req, JSON.stringify(mine));
	assert.equal(req.parentSpanId, parent);
	assert.equal(req.traceState, "vendor=x,other=y");
	assert.equal(req.name, "tools/call p__traced");
	assert.equal(req.resource["service.name"], "gw-pb");
	assert.equal(req.scope, "mcpfed");
	assert.equal(req.attributes["gen_ai.tool.name"], "p__traced");
	assert.equal(req.attributes["mcp.session.id"], undefined, "stdio has no MCP session id");
	const policy = mine.find((x) => x.name === "mcpfed.policy");
	assert.equal(policy?.parentSpanId, req.spanId);
	assert.equal(policy.attributes["mcpfed.policy.refused"], false, "a bool attribute");
	assert.ok(policy.attributes["mcpfed.policy.candidates"] >= 1);
	const attempt = mine.find((x) => x.kind === 3);
	assert.equal(attempt?.parentSpanId, req.spanId);
	assert.equal(mm[2], attempt.spanId, "the upstream's parent is the attempt");
	assert.equal(attempt.attributes["mcpfed.attempt"], 1);
	const nope = spans.find((x) => x.name === "tools/call p__nope");
	assert.equal(nope.status?.code, 2);
	assert.ok(nope.status.message, "the error's message");
	assert.equal(nope.attributes["rpc.jsonrpc.error_code"], -32602);
	assert.equal(nope.attributes["error.type"], "-32602");
	const cut = spans.find((x) => x.name.startsWith("tools/call bé"));
	assert.ok(`tools/call ${wide}`.startsWith(cut.name) && Buffer.byteLength(cut.name) <= 96, cut.name);
	const long = spans.find((x) => x.name.startsWith("tools/call cé"));
	const tool = long.attributes["gen_ai.tool.name"];
	assert.ok(huge.startsWith(tool) && Buffer.byteLength(tool) <= 1024 && Buffer.byteLength(tool) > 1000, tool);
	assert.ok(Buffer.byteLength(long.status.message) <= 1024 && !long.status.message.includes("\uFFFD"), long.status.message);
	const st = await tracingStatus(gw);
	assert.equal(st.protocol, "http/protobuf");
	assert.ok(st.spans_exported >= spans.length);
});

test("sample_ratio 0: nothing is exported, and the context still reaches the upstream, marked unsampled; invalid traceparents start a new trace", async (t) => {
	const c = await collector(t);
	const gw = await stdioGateway(t, {
		tracing: { endpoint: c.url, sample_ratio: 0, flush_ms: 50 }, providers: [faulty("p", { env: TRACE })],
	});
	const tid = hex(16), parent = hex(8);
	const res = await gw.request("tools/call", { name: "p__traced", arguments: {}, _meta: { traceparent: `00-${tid}-${parent}-01` } });
	const seen = JSON.parse(textOf(res));
	const mm = traceparentRe.exec(seen.meta ?? "");
	assert.ok(mm, `a traceparent upstream: ${JSON.stringify(seen)}`);
	assert.equal(mm[1], tid, "the client's trace");
	assert.notEqual(mm[2], parent, "a parent of the gateway's");
	assert.equal(mm[3], "0", "not sampled");
	assert.equal(seen.metaState, null);

	// no traceparent: a trace starts at the gateway
	const fresh = traceparentRe.exec(JSON.parse(textOf(await gw.request("tools/call", { name: "p__traced", arguments: {} }))).meta ?? "");
	assert.ok(fresh, "a fresh trace upstream");
	assert.notEqual(fresh[1], tid);

	// invalid ones are ignored: a new trace, and the call is served
	const invalid = [
		`00-${"0".repeat(32)}-${parent}-01`, `00-${tid}-${"0".repeat(16)}-01`, `ff-${tid}-${parent}-01`, `00-${tid}-${parent}-01-extra`,
		`00-${tid.toUpperCase()}-${parent}-01`, "00-xyz", "", `00_${tid}_${parent}_01`, 42,
	];
	for (const tp of invalid) {
		const r = await gw.request("tools/call", { name: "p__traced", arguments: {}, _meta: { traceparent: tp } });
		const got = traceparentRe.exec(JSON.parse(textOf(r)).meta ?? "");
		assert.ok(got, `a valid traceparent upstream for ${JSON.stringify(tp)}`);
		assert.notEqual(got[1], tid, `${JSON.stringify(tp)} starts a new trace`);
	}
	// a later version's traceparent may carry more fields: its trace goes on
	const later = traceparentRe.exec(JSON.parse(textOf(await gw.request("tools/call", {
		name: "p__traced", arguments: {}, _meta: { traceparent: `01-${tid}-${parent}-01-more` },
	}))).meta);
	assert.equal(later[1], tid);

	const st = await tracingStatus(gw);
	assert.equal(st.enabled, true);
	assert.equal(st.spans_ended, 0, `nothing recorded: ${JSON.stringify(st)}`);
	assert.equal(st.spans_queued, 0);
	assert.equal(c.requests.length, 0, "nothing exported");
});

test("the collector down: calls are served as before, and the spans that cannot leave are dropped and counted", async (t) => {
	const dead = await closedPort();
	const gw = await stdioGateway(t, {
		tracing: { endpoint: `http://127.0.0.1:${dead}`, flush_ms: 20, max_queue_spans: 8, batch_spans: 4 },
		providers: [faulty("p")],
	});
	const started = Date.now();
	for (let i = 0; i < 40; i++) {
		const r = await gw.request("tools/call", { name: "p__echo", arguments: { text: `n${i}` } });
		assert.equal(textOf(r), `n${i}`);
	}
	const elapsed = Date.now() - started;
	const st = await waitFor(async () => {
		const s = await tracingStatus(gw);
		return s.exports_failed >= 1 && s.spans_dropped >= 20 && s;
	}, { timeout: 10000, what: "failed exports and dropped spans" });
	assert.ok(st.spans_ended >= 40, JSON.stringify(st));
	assert.equal(st.spans_exported, 0);
	assert.ok(st.spans_queued <= 8, "the queue stays bounded");
	assert.match(st.last_error, /connect|Couldn't/i);
	// the last failure stays told while the next exports start and fail (libcurl clears its
	// own error text at each transfer's start)
	for (let i = 0; i < 20; i++) {
		await gw.request("tools/call", { name: "p__echo", arguments: { text: "again" } });
		assert.match((await tracingStatus(gw)).last_error ?? "", /connect|Couldn't/i, `read ${i}`);
	}
	const status = (await admin(gw.sock, "status")).body;
	assert.ok(status.tracing.spans_dropped >= st.spans_dropped, "admin status shows the drops");
	assert.ok(elapsed < 20000, `40 calls took ${elapsed} ms`);
});

for (const protocol of ["http/protobuf", "http/json"]) {
	test(`a long service name, with quotes, backslashes, tabs, newlines and wide characters: the request's head fits the room kept before the spans (${protocol})`, async (t) => {
		const c = await collector(t);
		const service = `svc"\\${"\t\n".repeat(150)}${"é".repeat(200)}${"x".repeat(500)}`;
		const gw = await stdioGateway(t, { tracing: { endpoint: c.url, flush_ms: 20, service_name: service, protocol }, providers: [faulty("p")] });
		assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text: "x" } })), "x");
		const spans = await c.waitSpans((s) => s.some((x) => x.name === "tools/call p__echo"));
		for (const x of spans) assert.equal(x.resource["service.name"], service);
		assert.equal((await tracingStatus(gw)).exports_failed, 0);
	});
}

for (const protocol of ["http/protobuf", "http/json"]) {
	test(`a slow collector holds no call: spans queue up to the bound, then are dropped; the rest leave intact (${protocol})`, async (t) => {
		const c = await collector(t);
		const release = c.hold();
		t.after(release);
		const gw = await stdioGateway(t, {
			tracing: { endpoint: c.url, flush_ms: 20, max_queue_spans: 16, batch_spans: 4, protocol }, providers: [faulty("p")],
		});
		for (let i = 0; i < 30; i++)
			assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text: "x" } }, { timeout: 5000 })), "x");
		const st = await tracingStatus(gw);
		assert.ok(st.spans_dropped > 0, `spans dropped while the collector holds its answer: ${JSON.stringify(st)}`);
		assert.ok(st.spans_queued <= 16);
		release();
		// the queue drains in batches of four, each leaving what follows it for the next
		await waitFor(async () => (await tracingStatus(gw)).spans_queued === 0, { timeout: 10000, what: "the queue drained" });
		const done = await tracingStatus(gw);
		assert.equal(done.exports_failed, 0, `every export well formed: ${JSON.stringify(done)}`);
		assert.ok(done.exports >= 4, JSON.stringify(done));
		await waitFor(async () => (await tracingStatus(gw)).spans_exported === done.spans_ended, { timeout: 10000, what: "every span queued exported" });
		const spans = await c.waitSpans((s) => s.length === done.spans_ended);
		const names = new Set(["initialize", "mcpfed.policy", "tools/call echo", "tools/call p__echo"]);
		assert.ok(spans.every((x) => names.has(x.name) && /^[0-9a-f]{32}$/.test(x.traceId)), JSON.stringify(spans.map((x) => x.name)));
	});
}

test("each attempt's _meta is the upstream's own: 300 calls held at once in process, then 300 more, each see their own attempt as parent", async (t) => {
	const c = await collector(t);
	// the in-process provider keeps a slow call's message, _meta and all, until it answers
	// with the params it was given; the gateway reuses the _meta objects nothing else holds
	const gw = await stdioGateway(t, {
		tracing: { endpoint: c.url, flush_ms: 50, max_queue_spans: 8192 },
		providers: [{ name: "p", transport: "loopback" }],
	});
	const n = 300;   // more than the gateway keeps for reuse (64)
	const round = async (r) => {
		const answers = await Promise.all(Array.from({ length: n }, (_, i) =>
			gw.request("tools/call", { name: "p__slow", arguments: { ms: 300, r, i } }, { timeout: 20000 })));
		return answers.map((a, i) => {
			const params = JSON.parse(textOf(a));
			assert.deepEqual(params.arguments, { ms: 300, r, i }, "the call's own params");
			const m = traceparentRe.exec(params._meta?.traceparent ?? "");
			assert.ok(m, `a traceparent upstream: ${JSON.stringify(params)}`);
			assert.deepEqual(Object.keys(params._meta), ["traceparent"]);
			return { trace: m[1], parent: m[2] };
		});
	};
	const seen = [...await round(1), ...await round(2)];
	assert.equal(new Set(seen.map((x) => x.parent)).size, 2 * n, "every attempt its own parent");
	const spans = await c.waitSpans((s) => s.filter((x) => x.kind === 3).length >= 2 * n);
	const attempts = new Map(spans.filter((x) => x.kind === 3).map((x) => [x.traceId, x.spanId]));
	for (const x of seen)
		assert.equal(attempts.get(x.trace), x.parent, "the upstream's parent is its call's attempt");
});

test("span times are the wall clock's: calls spread over half a second, each request span within the time the client saw it take", async (t) => {
	const c = await collector(t);
	const gw = await stdioGateway(t, {
		tracing: { endpoint: c.url, flush_ms: 50 },
		providers: [{ name: "p", transport: "loopback" }],
	});
	// the span clock may scale the CPU's counter from readings of the wall clock 10 ms
	// apart: calls 5 ms apart meet it fresh, serving, and due again
	const seen = new Map();
	for (let i = 0; i < 100; i++) {
		const before = BigInt(Date.now()) * 1000000n;
		const text = `w${i}`;
		assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text } })).includes(text), true);
		seen.set(i + 2, { before, after: BigInt(Date.now() + 1) * 1000000n });
		await new Promise((r) => setTimeout(r, 5));
	}
	const spans = await c.waitSpans((s) => s.filter((x) => x.kind === 2 && x.name === "tools/call p__echo").length >= 100);
	const ms = (ns) => Number(ns / 1000n) / 1000;
	let checked = 0;
	for (const s of spans.filter((x) => x.kind === 2 && x.name === "tools/call p__echo")) {
		const w = seen.get(Number(s.attributes["jsonrpc.request.id"]));
		if (!w)
			continue;
		const start = BigInt(s.startTimeUnixNano), end = BigInt(s.endTimeUnixNano);
		assert.ok(start >= w.before && end <= w.after && end >= start,
			`request ${s.attributes["jsonrpc.request.id"]}: span ${ms(start)}..${ms(end)} ms, the client saw ${ms(w.before)}..${ms(w.after)}`);
		for (const child of spans.filter((x) => x.parentSpanId === s.spanId))
			assert.ok(BigInt(child.startTimeUnixNano) >= start && BigInt(child.endTimeUnixNano) <= end &&
				BigInt(child.endTimeUnixNano) >= BigInt(child.startTimeUnixNano), `${child.name} within its request`);
		checked++;
	}
	assert.equal(checked, 100, "every call's span seen");
});

test("2026-07-28 requests: the upstream's _meta is the trace context and the client's own keys, never the envelope's", async (t) => {
	const c = await collector(t);
	const { gw, urls } = await startHttpGateway({
		log_level: "info", listen: ["http://127.0.0.1:0/mcp"], tracing: { endpoint: c.url, flush_ms: 50 },
		providers: [{ name: "p", transport: "loopback" }],
	}, { listed: ["p"] });
	t.after(() => killAll(gw));
	const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, () => logTail(gw.stderrText()));
	const client = endpointClient(() => urls[0], bounded);
	const envelope = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} };
	const call = async (id, meta) => {
		const msg = { jsonrpc: "2.0", id, method: "tools/call", params: { name: "p__echo", arguments: { id }, _meta: meta } };
		const res = await client.post(msg, { version: "2026-07-28", headers: { "Mcp-Method": "tools/call", "Mcp-Name": "p__echo" } });
		assert.equal(res.status, 200, res.text);
		return JSON.parse(textOf(res.json))._meta;
	};
	for (let i = 1; i <= 3; i++) {   // again and again: the gateway's _meta objects are reused
		const only = await call(10 * i, envelope);
		assert.deepEqual(Object.keys(only), ["traceparent"], JSON.stringify(only));
		assert.ok(traceparentRe.test(only.traceparent));
		const mine = await call(10 * i + 1, { ...envelope, custom: "x" });
		assert.deepEqual(Object.keys(mine).sort(), ["custom", "traceparent"], JSON.stringify(mine));
		assert.notEqual(mine.traceparent, only.traceparent);
	}
	await c.waitSpans((s) => s.filter((x) => x.kind === 3).length >= 6);
});

test("a batch of more than 2 MB leaves whole, in one request, and the next after it", async (t) => {
	const c = await collector(t);
	const started = Date.now();
	// JSON spans are about 450 bytes: 6,000 of them make a body of about 2.7 MB
	const batch = 6000;
	const gw = await stdioGateway(t, {
		tracing: { endpoint: c.url, flush_ms: 600000, max_queue_spans: 4 * batch, batch_spans: batch, protocol: "http/json" },
		providers: [faulty("p")],
	});
	const call = async (i) => assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text: `n${i}` } },
		{ timeout: 20000 })), `n${i}`);
	let n = 0;
	while ((await tracingStatus(gw)).exports < 2) {
		await Promise.all(Array.from({ length: 100 }, () => call(n++)));
		assert.ok(n <= 6000, `${n} calls made no two exports: ${JSON.stringify(await tracingStatus(gw))}`);
	}
	await waitFor(async () => (await tracingStatus(gw)).spans_exported >= 2 * batch && c.requests.length >= 2,
		{ timeout: 20000, what: "two exports answered" });
	const st = await tracingStatus(gw);
	assert.equal(st.exports_failed, 0, JSON.stringify(st));
	// what exporting cost the gateway's loop: some, and less than the time the test took
	assert.ok(st.export_cpu_ms > 0 && st.export_cpu_ms < Date.now() - started, JSON.stringify(st));
	for (const r of c.requests.slice(0, 2)) {
		assert.ok(r.length > 2 * 1024 * 1024, `a body of ${r.length} bytes`);
		const spans = r.body.resourceSpans.flatMap((x) => x.scopeSpans.flatMap((y) => y.spans));
		assert.equal(spans.length, batch, "a whole batch in one request");
		assert.equal(r.headers.expect, undefined, "sent at once, not asked to be let in (Expect: 100-continue)");
	}
});

test("a reload moves the export to another collector, turns tracing off and on again", async (t) => {
	const a = await collector(t), b = await collector(t);
	const top = (c) => ({ log_level: "info", providers: [faulty("p")],
		...(c ? { tracing: { endpoint: c.url, flush_ms: 20, protocol: c === b ? "http/json" : "http/protobuf" } } : {}) });
	const gw = await stdioGateway(t, top(a));
	const reload = (c) => {
		fs.writeFileSync(gw.file, `return ${lua({ admin: gw.sock, ...top(c) })}\n`);
		return admin(gw.sock, "reload config", { timeout: 20000 });
	};
	const echo = async (text) => assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text } })), text);
	await echo("to a");
	await a.waitSpans((s) => s.some((x) => x.name === "tools/call p__echo"));
	assert.equal((await reload(b)).code, 200);
	await echo("to b");
	await b.waitSpans((s) => s.some((x) => x.name === "tools/call p__echo"));
	assert.equal(b.requests[0].contentType, "application/json", "the new encoding");
	const before = a.spans.length;
	assert.equal((await reload(null)).code, 200);
	assert.equal((await tracingStatus(gw)).enabled, false);
	await echo("untraced");
	assert.equal((await reload(a)).code, 200);
	await echo("to a again");
	await a.waitSpans((s) => s.length > before && s.some((x, i) => i >= before && x.name === "tools/call p__echo"));
	const st = await tracingStatus(gw);
	assert.equal(st.url, `${a.url}/v1/traces`);
	assert.equal(st.protocol, "http/protobuf");
});

test("the collector refuses, 400, an export the OpenTelemetry encoder would not write, and the wait for spans fails on it", async (t) => {
	const c = await startCollector();
	t.after(() => c.close());
	const span = { traceId: hex(16), spanId: hex(8), name: "tools/call x", kind: 2,
		startTimeUnixNano: "1700000000000000000", endTimeUnixNano: "1700000000000001000",
		attributes: [{ key: "rpc.jsonrpc.error_code", value: { intValue: "-32602" } }], status: { code: 2 } };
	const post = (s) => fetch(`${c.url}/v1/traces`, { method: "POST", headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: "mcpfed" }, spans: [s] }] }] }) });
	assert.equal((await post(span)).status, 200);
	for (const bad of [{ traceId: span.traceId.toUpperCase() }, { spanId: "00".repeat(8) }, { kind: "SPAN_KIND_SERVER" },
		{ startTimeUnixNano: 1.5 }, { trace_id: span.traceId }, { status: { code: 7 } }, { attributes: [{ key: "k", value: { intValue: "1x" } }] }]) {
		const r = await post({ ...span, ...bad });
		assert.equal(r.status, 400, JSON.stringify(bad));
	}
	// protobuf: a field of the wrong wire type, an unknown field, a truncated message, text
	// that is not UTF-8, another content type
	const pb = (bytes, type = "application/x-protobuf") => fetch(`${c.url}/v1/traces`, { method: "POST",
		headers: { "Content-Type": type }, body: Buffer.from(bytes) });
	const len = (field, bytes) => [field << 3 | 2, bytes.length, ...bytes];
	const spanPb = (name) => len(1, len(2, len(2, [...len(1, Buffer.from(span.traceId, "hex")), ...len(2, Buffer.from(span.spanId, "hex")),
		...len(5, name), 0x39, ...new Array(8).fill(1), 0x41, ...new Array(8).fill(2)])));
	assert.equal((await pb(spanPb(Buffer.from("ok")))).status, 200, "a good one first");
	for (const bad of [[0x08, 0x01], [0x78, 0x00], spanPb(Buffer.from("ok")).slice(0, -3), spanPb([0xc3, 0x28]), [0x0a, 0x80]])
		assert.equal((await pb(bad)).status, 400, JSON.stringify(bad));
	assert.equal((await pb(spanPb(Buffer.from("ok")), "text/plain")).status, 415);
	assert.equal(c.rejects.length, 7 + 6);
	assert.equal(c.spans.length, 2);
	await assert.rejects(c.waitSpans((s) => s.length > 2, 2000), /refused an export/);
});

// A collector over raw TCP that answers each export as a scenario says: the exporter writes
// its own requests on a connection libcurl makes, and reads the answers itself.
async function rawCollector(t, answer, tlsOptions) {
	const net = await import(tlsOptions ? "node:tls" : "node:net");
	const c = { requests: [], connections: 0, refused: [], peers: [] };
	const server = net.createServer(...(tlsOptions ? [tlsOptions] : []), (sock) => {
		const conn = ++c.connections;
		if (tlsOptions)
			c.peers.push(sock.getPeerCertificate()?.subject?.CN ?? null);
		let buf = Buffer.alloc(0), n = 0;
		sock.on("error", () => {});
		sock.on("data", (d) => {
			buf = Buffer.concat([buf, d]);
			for (;;) {
				const end = buf.indexOf("\r\n\r\n");
				if (end < 0) return;
				const head = buf.subarray(0, end).toString("latin1");
				const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? -1);
				assert.ok(length >= 0, `a Content-Length: ${head}`);
				if (buf.length < end + 4 + length) return;
				const body = buf.subarray(end + 4, end + 4 + length);
				buf = buf.subarray(end + 4 + length);
				const req = { head, body, conn, nth: ++n, index: c.requests.length };
				c.requests.push(req);
				answer(sock, req);
			}
		});
	});
	server.on("tlsClientError", (e) => c.refused.push(e.message));
	await new Promise((r) => server.listen(0, "127.0.0.1", r));
	c.url = `${tlsOptions ? "https" : "http"}://127.0.0.1:${server.address().port}`;
	t.after(() => { server.close(); });
	return c;
}

const ok = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
const collectorScenarios = [
	["closes each connection after answering (Connection: close)", (sock) => sock.end("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"),
		{ reconnects: true }],
	["answers without a length, to the connection's end (HTTP/1.0)", (sock) => sock.end("HTTP/1.0 200 OK\r\n\r\n{}"), { reconnects: true }],
	["answers in chunks", (sock) => sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"), {}],
	["sends 100 Continue before its answer", (sock) => sock.write(`HTTP/1.1 100 Continue\r\n\r\n${ok}`), {}],
	["writes its answer a byte at a time", async (sock) => {
		for (const b of Buffer.from(ok)) { sock.write(Buffer.from([b])); await new Promise((r) => setTimeout(r, 1)); }
	}, {}],
	["closes an idle connection soon after each answer", (sock) => { sock.write(ok); setTimeout(() => sock.destroy(), 5); }, { idle: true }],
	["on its first connection's second request, closes without answering (as when it closes a kept connection)", (sock, req) => {
		if (req.conn === 1 && req.nth === 2) sock.destroy(); else sock.write(ok);
	}, { resent: true }],
	["answers its first export with bytes that are not HTTP, then well", (sock, req) => {
		if (req.index === 0) sock.write("SSH-2.0-OpenSSH\r\n\r\n"); else sock.write(ok);
	}, { failed: /not HTTP/ }],
	["closes its first connection without answering, then answers", (sock, req) => {
		if (req.index === 0) sock.destroy(); else sock.write(ok);
	}, { failed: /closed the connection/ }],
	["answers its first export 503, then 200 on the same connection", (sock, req) => {
		sock.write(req.index === 0 ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n" : ok);
	}, { failed: /HTTP status 503/ }],
];

for (const [what, answer, expect] of collectorScenarios) {
	test(`a collector that ${what}: every other export arrives whole, and the status tells what failed`, async (t) => {
		const c = await rawCollector(t, answer);
		const gw = await stdioGateway(t, { tracing: { endpoint: c.url, flush_ms: 10, batch_spans: 3 }, providers: [faulty("p")] });
		// calls in waves, each waited out (so that a connection is idle between them)
		for (let wave = 0; wave < 4; wave++) {
			for (let i = 0; i < 3; i++)
				assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text: `w${wave}` } })), `w${wave}`);
			await waitFor(async () => { const s = await tracingStatus(gw); return s.spans_exported + s.spans_dropped === s.spans_ended && s; },
				{ timeout: 10000, what: `wave ${wave} exported: ${JSON.stringify(c.requests.length)} requests` });
			await new Promise((r) => setTimeout(r, 30));
		}
		const st = await tracingStatus(gw);
		assert.equal(st.exports_failed, expect.failed ? 1 : 0, JSON.stringify(st));
		assert.ok(st.spans_ended >= 36, JSON.stringify(st));
		assert.equal(st.spans_exported + st.spans_dropped, st.spans_ended, JSON.stringify(st));
		// the failed export's spans (a batch: one to three) are dropped, and only those
		if (expect.failed) assert.ok(st.spans_dropped >= 1 && st.spans_dropped <= 3, JSON.stringify(st));
		else assert.equal(st.spans_dropped, 0, JSON.stringify(st));
		if (expect.failed) assert.match(st.last_error, expect.failed);
		else assert.equal(st.last_error ?? null, null);
		// each request is a whole POST to /v1/traces, its body as long as it says
		for (const r of c.requests) {
			assert.match(r.head, /^POST \/v1\/traces HTTP\/1\.1\r\n/);
			assert.match(r.head, new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${new URL(c.url).port}\r\n`, "i"));
			assert.match(r.head, /\r\nContent-Type: application\/x-protobuf(\r\n|$)/);
			assert.ok(r.body.length > 0);
		}
		const resent = c.requests.filter((r, i) => i > 0 && r.body.equals(c.requests[i - 1].body)).length;
		// (closing an idle connection may cross an export on its way: that one is sent again too)
		if (!expect.idle) assert.equal(resent, expect.resent ? 1 : 0, "an export sent again only after a kept connection was found closed");
		assert.equal(c.requests.length, st.exports + resent, "one request an export");
		if (expect.reconnects) assert.ok(c.connections >= st.exports - 1, `${c.connections} connections for ${st.exports} exports`);
		else if (expect.idle) assert.ok(c.connections >= 4, `a connection a wave at least: ${c.connections}`);
		else if (!expect.resent && !expect.failed) assert.equal(c.connections, 1, "the connection is kept between exports");
	});
}

test("through a proxy (http_proxy), exports go in a tunnel (CONNECT) to the collector, on one kept connection", async (t) => {
	const http = await import("node:http");
	const net = await import("node:net");
	const c = await collector(t);
	const tunnels = [];
	const proxy = http.createServer((req, res) => res.writeHead(405).end()); // no forwarding: a tunnel or nothing
	proxy.on("connect", (req, client, head) => {
		tunnels.push(req.url);
		const [host, port] = req.url.split(":");
		const up = net.connect(Number(port), host, () => {
			client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
			up.write(head);
			up.pipe(client);
			client.pipe(up);
		});
		up.on("error", () => client.destroy());
		client.on("error", () => up.destroy());
	});
	await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
	t.after(() => { proxy.closeAllConnections?.(); proxy.close(); });
	const gw = await stdioGateway(t, { tracing: { endpoint: c.url, flush_ms: 10, batch_spans: 3 }, providers: [faulty("p")] },
		{ http_proxy: `http://127.0.0.1:${proxy.address().port}`, no_proxy: "", NO_PROXY: "" });
	for (let i = 0; i < 6; i++)
		assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text: `x${i}` } })), `x${i}`);
	const spans = await c.waitSpans((s) => s.filter((x) => x.name === "tools/call p__echo").length === 6);
	assert.equal(spans.filter((x) => x.name === "tools/call p__echo").length, 6);
	const st = await tracingStatus(gw);
	assert.equal(st.exports_failed, 0, JSON.stringify(st));
	assert.ok(st.exports >= 2, JSON.stringify(st));
	assert.deepEqual(tunnels, [new URL(c.url).host], "one tunnel, to the collector, kept for every export");
});

test("a reload that keeps the collector keeps its connection, and its new headers go with the next export", async (t) => {
	const c = await rawCollector(t, (sock) => sock.write(ok));
	const top = (key) => ({ log_level: "info", providers: [faulty("p")],
		tracing: { endpoint: c.url, flush_ms: 10, batch_spans: 3, headers: { "X-Key": key } } });
	const gw = await stdioGateway(t, top("one"));
	const calls = async (key) => {
		for (let i = 0; i < 3; i++)
			assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text: key } })), key);
		await waitFor(async () => { const s = await tracingStatus(gw); return s.spans_exported === s.spans_ended && s; },
			{ timeout: 10000, what: `the spans of ${key} exported` });
	};
	await calls("one");
	fs.writeFileSync(gw.file, `return ${lua({ admin: gw.sock, ...top("two") })}\n`);
	assert.equal((await admin(gw.sock, "reload config", { timeout: 20000 })).code, 200);
	await calls("two");
	const keys = c.requests.map((r) => /\r\nX-Key: (\w+)/.exec(r.head)?.[1]);
	assert.equal(keys[0], "one");
	assert.equal(keys.at(-1), "two", "the reload's header on the exports after it");
	assert.equal(c.connections, 1, "one connection, kept across the reload");
	assert.equal((await tracingStatus(gw)).exports_failed, 0);
});

test("an https:// collector: checked against tracing.ca_file; without it the system's authorities refuse it, each export failing and saying why; a reload that adds it connects again", async (t) => {
	const certs = makeCerts();
	const c = await rawCollector(t, (sock) => sock.write(ok),
		{ cert: fs.readFileSync(certs.server.cert), key: fs.readFileSync(certs.server.key) });
	const top = (ca_file) => ({ log_level: "info", providers: [faulty("p")],
		tracing: { endpoint: c.url, flush_ms: 10, batch_spans: 3, ...(ca_file ? { ca_file } : {}) } });
	const gw = await stdioGateway(t, top());
	const calls = async (text) => {
		for (let i = 0; i < 3; i++)
			assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text } })), text);
	};
	await calls("unchecked");
	const failed = await waitFor(async () => { const s = await tracingStatus(gw); return s.exports_failed > 0 && s; },
		{ timeout: 10000, what: "an export refused for the collector's certificate" });
	assert.match(failed.last_error, /certificate|SSL/i, JSON.stringify(failed));
	assert.equal(c.requests.length, 0, "nothing sent to a collector whose certificate was not checked");
	assert.ok(c.refused.length > 0, "the collector saw the handshake end");

	fs.writeFileSync(gw.file, `return ${lua({ admin: gw.sock, ...top(certs.ca) })}\n`);
	assert.equal((await admin(gw.sock, "reload config", { timeout: 20000 })).code, 200);
	const before = (await tracingStatus(gw)).exports_failed;
	await calls("checked");
	await waitFor(() => c.requests.length > 0, { timeout: 10000, what: "an export over TLS" });
	assert.match(c.requests[0].head, /^POST \/v1\/traces HTTP\/1\.1\r\n/);
	assert.ok(c.requests[0].body.length > 0);
	const s = await tracingStatus(gw);
	assert.equal(s.exports_failed, before, `no export failed once the authority was given: ${JSON.stringify(s)}`);

	// and back: a reload without it checks against the system's again, on a new connection
	fs.writeFileSync(gw.file, `return ${lua({ admin: gw.sock, ...top() })}\n`);
	assert.equal((await admin(gw.sock, "reload config", { timeout: 20000 })).code, 200);
	const sent = c.requests.length;
	await calls("unchecked again");
	await waitFor(async () => (await tracingStatus(gw)).exports_failed > before, { timeout: 10000, what: "the next export refused" });
	assert.equal(c.requests.length, sent, "the connection checked with the authority was not kept");
});

test("an https:// collector that requires a client certificate is shown tracing.cert_file's; without one each export fails", async (t) => {
	const certs = makeCerts();
	const c = await rawCollector(t, (sock) => sock.write(ok), {
		cert: fs.readFileSync(certs.server.cert), key: fs.readFileSync(certs.server.key),
		ca: fs.readFileSync(certs.ca), requestCert: true, rejectUnauthorized: true,
	});
	const mine = { cert_file: certs.client.cert, key_file: certs.client.key };
	const top = (client) => ({ log_level: "info", providers: [faulty("p")],
		tracing: { endpoint: c.url, flush_ms: 10, batch_spans: 3, ca_file: certs.ca, ...(client ? mine : {}) } });
	const gw = await stdioGateway(t, top(false));
	const calls = async (text) => {
		for (let i = 0; i < 3; i++)
			assert.equal(textOf(await gw.request("tools/call", { name: "p__echo", arguments: { text } })), text);
	};
	await calls("no certificate");
	await waitFor(async () => (await tracingStatus(gw)).exports_failed > 0, { timeout: 10000, what: "an export refused without a certificate" });
	assert.equal(c.requests.length, 0);

	fs.writeFileSync(gw.file, `return ${lua({ admin: gw.sock, ...top(true) })}\n`);
	assert.equal((await admin(gw.sock, "reload config", { timeout: 20000 })).code, 200);
	const before = (await tracingStatus(gw)).exports_failed;
	await calls("alice's");
	await waitFor(() => c.requests.length > 0, { timeout: 10000, what: "an export over mutual TLS" });
	assert.ok(c.peers.includes("alice"), JSON.stringify(c.peers));
	assert.equal((await tracingStatus(gw)).exports_failed, before);
});

// certs' client key, encrypted: OpenSSL would ask the terminal for its passphrase
function encryptedKey(certs) {
	const file = path.join(certs.dir, "encrypted.key");
	execFileSync("openssl", ["pkey", "-in", certs.client.key, "-aes256", "-passout", "pass:secret", "-out", file]);
	return file;
}

test("tracing's TLS files missing, a directory, empty, encrypted, or a certificate without its key, are refused naming the key", async () => {
	const certs = makeCerts();
	for (const [files, why] of [[{ ca_file: "/nonexistent/ca.pem" }, /tracing\.ca_file: cannot read "\/nonexistent\/ca\.pem": No such file/],
		[{ ca_file: scratchDir() }, /tracing\.ca_file: cannot read .*: not a file/], [{ ca_file: "" }, /tracing\.ca_file: expected the path of a PEM file/],
		[{ cert_file: certs.client.cert }, /tracing\.key_file: needed with cert_file/], [{ key_file: certs.client.key }, /tracing\.cert_file: needed with key_file/],
		[{ cert_file: certs.client.cert, key_file: "/nonexistent/k.pem" }, /tracing\.key_file: cannot read "\/nonexistent\/k\.pem"/],
		[{ cert_file: certs.client.cert, key_file: encryptedKey(certs) }, /tracing\.key_file: ".*encrypted\.key": an encrypted key \(no passphrase is asked\)/]]) {
		const gw = startStdio({ config: luaConfig({ tracing: { endpoint: "https://127.0.0.1:4318", ...files }, providers: [] }) });
		const st = await gw.waitExit(10000);
		assert.notEqual(st.code, 0, JSON.stringify(st));
		assert.match(gw.stderrText(), why, gw.stderrText());
	}
});

test("an endpoint with credentials in its URL is refused naming the key (they would not be sent)", async () => {
	const gw = startStdio({ config: luaConfig({ tracing: { endpoint: "http://user:secret@127.0.0.1:4318" }, providers: [] }) });
	const st = await gw.waitExit(10000);
	assert.notEqual(st.code, 0, JSON.stringify(st));
	assert.match(gw.stderrText(), /tracing\.endpoint: credentials in the URL are not sent/, gw.stderrText());
	assert.doesNotMatch(gw.stderrText(), /secret/, "the password is not written to the log");
});

test("tracing.headers with a line break, or a name that is not a token, is refused naming the key", async () => {
	for (const headers of [{ "X-Key": "a\r\nX-Injected: 1" }, { "X-Key": "a\nb" }, { "Bad Name": "v" }, { "": "v" }, { "X-Key:": "v" }]) {
		const gw = startStdio({ config: luaConfig({ tracing: { endpoint: "http://127.0.0.1:4318", headers }, providers: [] }) });
		const st = await gw.waitExit(10000);
		assert.notEqual(st.code, 0, JSON.stringify(st));
		assert.match(gw.stderrText(), /tracing\.headers/, gw.stderrText());
	}
});
