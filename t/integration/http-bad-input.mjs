// The Streamable HTTP listener under hostile or broken clients, over raw TCP sockets: cut-off
// and oversized requests, bad headers and bodies, a slow client, a client vanishing from its
// stream, pipelining, chunked bodies, timeouts. One gateway serves every case; at the end it
// must still serve a fresh session normally.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/http-bad-input.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { faulty, killAll, logTail, procStat, waitFor } from "../lib/harness.mjs";
import { ACCEPT_BOTH, callMsg, initMsg as initializeMsg, parseSseEvent, startHttpGateway } from "../lib/http.mjs";

// Limits small enough to hit quickly.
const LIMITS = { max_header_bytes: 4096, max_body_bytes: 4096, read_timeout_ms: 1000, idle_timeout_ms: 1500 };

let gw;     // the gateway process (harness startProcess)
let port;
const log = () => logTail(gw.stderrText(), 3000);

before(async () => {
	const started = await startHttpGateway({
		log_level: "debug",
		listen: ["http://127.0.0.1:0/mcp"],
		http: LIMITS,
		providers: [faulty("f")],
	}, { timeout: 10000, listed: ["f"] });
	gw = started.gw;
	port = Number(new URL(started.urls[0]).port);
});

// Cleanup only: t/run-node-test runs a file without --test, where a failing top-level after()
// hook does not fail the run, so the shutdown is checked by the last test instead.
after(() => killAll(gw));

// --- a raw HTTP/1.1 client ----------------------------------------------------------------

function parseHead(buf) {
	const end = buf.indexOf("\r\n\r\n");
	if (end < 0) return undefined;
	const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
	const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
	if (!m) throw new Error(`not an HTTP status line: ${JSON.stringify(lines[0])}`);
	const headers = {};
	for (const l of lines.slice(1)) {
		const i = l.indexOf(":");
		const k = l.slice(0, i).trim().toLowerCase();
		const v = l.slice(i + 1).trim();
		headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
	}
	return { status: Number(m[1]), reason: m[2] || "", headers, headLen: end + 4 };
}

// Parse the chunks of a chunked body from buf: {chunks, used, done}; incomplete chunks wait.
function parseChunks(buf) {
	const chunks = [];
	let at = 0;
	for (;;) {
		const eol = buf.indexOf("\r\n", at);
		if (eol < 0) return { chunks, used: at, done: false };
		const size = parseInt(buf.subarray(at, eol).toString("latin1").split(";")[0], 16);
		if (Number.isNaN(size)) throw new Error(`bad chunk size line ${JSON.stringify(buf.subarray(at, eol).toString())}`);
		if (size === 0) {
			if (buf.length < eol + 4) return { chunks, used: at, done: false };
			return { chunks, used: eol + 4, done: true }; // no trailers expected
		}
		if (buf.length < eol + 2 + size + 2) return { chunks, used: at, done: false };
		chunks.push(buf.subarray(eol + 2, eol + 2 + size));
		at = eol + 2 + size + 2;
	}
}

class RawConn {
	static open() {
		return new Promise((resolve, reject) => {
			const s = net.connect({ host: "127.0.0.1", port }, () => { s.off("error", reject); resolve(new RawConn(s)); });
			s.once("error", reject);
		});
	}

	constructor(s) {
		this.s = s;
		this.buf = Buffer.alloc(0);
		this.received = 0; // bytes ever received
		this.ended = false; // the peer closed (or the socket broke)
		this.error = null;
		this.closedAt = null;
		this.wakers = [];
		this.sse = ""; // undecoded SSE text of a stream
		this.streamDone = false;
		s.on("data", (d) => { this.buf = Buffer.concat([this.buf, d]); this.received += d.length; this.wake(); });
		s.on("end", () => { this.ended = true; this.closedAt ??= Date.now(); this.wake(); });
		s.on("close", () => { this.ended = true; this.closedAt ??= Date.now(); this.wake(); });
		s.on("error", (e) => { this.error = e; this.wake(); });
	}

	wake() { for (const w of this.wakers.splice(0)) w(); }

	write(data) { if (!this.s.destroyed) this.s.write(data); }

	// Wait until fn(ended) returns something other than undefined.
	async until(fn, ms, what) {
		const deadline = Date.now() + ms;
		for (;;) {
			const v = fn(this.ended);
			if (v !== undefined) return v;
			const sofar = `; received so far: ${JSON.stringify(this.buf.toString("latin1").slice(0, 600))}${log()}`;
			if (this.ended) throw new Error(`connection closed while waiting for ${what}${sofar}`);
			const left = deadline - Date.now();
			if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}${sofar}`);
			await new Promise((r) => {
				const t = setTimeout(r, left);
				this.wakers.push(() => { clearTimeout(t); r(); });
			});
		}
	}

	// One whole response (1xx ones included): {status, headers, body, json}.
	response(ms = 5000) {
		return this.until((ended) => {
			const h = parseHead(this.buf);
			if (!h) return undefined;
			const rest = this.buf.subarray(h.headLen);
			let body, used;
			if (h.status < 200 || h.status === 204 || h.status === 304) {
				body = Buffer.alloc(0);
				used = 0;
			} else if (/chunked/i.test(h.headers["transfer-encoding"] || "")) {
				const c = parseChunks(rest);
				if (!c.done) return undefined;
				body = Buffer.concat(c.chunks);
				used = c.used;
			} else if (h.headers["content-length"] !== undefined) {
				const n = Number(h.headers["content-length"]);
				if (rest.length < n) return undefined;
				body = rest.subarray(0, n);
				used = n;
			} else {
				if (!ended) return undefined;
				body = rest;
				used = rest.length;
			}
			this.buf = this.buf.subarray(h.headLen + used);
			const text = body.toString("utf8");
			let json;
			try { json = JSON.parse(text); } catch {}
			return { status: h.status, reason: h.reason, headers: h.headers, body: text, json };
		}, ms, "an HTTP response");
	}

	// The head of a streamed response; the body is then read with event().
	streamHead(ms = 5000) {
		return this.until(() => {
			const h = parseHead(this.buf);
			if (!h) return undefined;
			this.buf = this.buf.subarray(h.headLen);
			return h;
		}, ms, "a response head");
	}

	// The next SSE event of a chunked stream: {id, event, data}, or null once the stream ended.
	event(ms = 5000) {
		return this.until(() => {
			const c = parseChunks(this.buf);
			this.buf = this.buf.subarray(c.used);
			for (const ch of c.chunks) this.sse += ch.toString("utf8");
			if (c.done) this.streamDone = true;
			for (;;) {
				const end = this.sse.indexOf("\n\n");
				if (end < 0) return this.streamDone ? null : undefined;
				const { id, event, data } = parseSseEvent(this.sse.slice(0, end));
				this.sse = this.sse.slice(end + 2);
				if (id === undefined && data === undefined && event === undefined) continue; // a comment
				return { id, event, data };
			}
		}, ms, "an SSE event");
	}

	// Resolves once the server closed the connection; resolves to the time it happened.
	closed(ms = 5000) { return this.until(() => (this.ended ? this.closedAt : undefined), ms, "the connection to close"); }

	destroy() { this.s.destroy(); }
}

// --- requests -----------------------------------------------------------------------------

function request(method, path, headers = {}, body) {
	const h = { Host: `127.0.0.1:${port}`, ...headers };
	if (body !== undefined && !Object.keys(h).some((k) => /^(content-length|transfer-encoding)$/i.test(k)))
		h["Content-Length"] = Buffer.byteLength(body);
	const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
	return body === undefined ? head : head + body;
}

const post = (msg, headers = {}) => request("POST", "/mcp",
	{ Accept: ACCEPT_BOTH, "Content-Type": "application/json", ...headers },
	typeof msg === "string" ? msg : JSON.stringify(msg));

const initMsg = (id = 1, protocolVersion = "2025-11-25") => initializeMsg(id, protocolVersion, "bad-input");

// One request on a fresh connection; returns the response.
async function once(data, ms = 5000) {
	const c = await RawConn.open();
	try {
		c.write(data);
		return await c.response(ms);
	} finally {
		c.destroy();
	}
}

// A ready session: its id, on a connection of its own that is closed afterwards.
async function newSession(protocolVersion = "2025-11-25") {
	const c = await RawConn.open();
	try {
		c.write(post(initMsg(1, protocolVersion)));
		const r = await c.response();
		assert.equal(r.status, 200, r.body);
		const sid = r.headers["mcp-session-id"];
		assert.match(sid || "", /^[\x21-\x7e]+$/, `session id in ${JSON.stringify(r.headers)}`);
		c.write(post({ jsonrpc: "2.0", method: "notifications/initialized" }, { "Mcp-Session-Id": sid, "MCP-Protocol-Version": protocolVersion }));
		const n = await c.response();
		assert.equal(n.status, 202, n.body);
		return sid;
	} finally {
		c.destroy();
	}
}

// The JSON-RPC error of a refused request; id must be null where given.
function assertRpcError(r, status, code) {
	assert.equal(r.status, status, `status; body ${r.body}`);
	assert.match(r.headers["content-type"] || "", /^application\/json/, `content-type of ${r.body}`);
	assert.ok(r.json, `JSON body: ${r.body}`);
	assert.equal(r.json.jsonrpc, "2.0", r.body);
	if (code !== undefined) assert.equal(r.json.error?.code, code, r.body);
	else assert.equal(typeof r.json.error?.code, "number", r.body);
	return r.json;
}

// --- the cases -----------------------------------------------------------------------------

test("a request cut off mid-body gets nothing and the connection is closed", async () => {
	const c = await RawConn.open();
	const body = JSON.stringify(initMsg());
	c.write(request("POST", "/mcp", { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "Content-Length": body.length + 50 }, body));
	c.s.end(); // half-close: the rest of the body never comes
	await c.closed(5000);
	assert.equal(c.received, 0, `no answer to an incomplete request, got ${JSON.stringify(c.buf.toString())}`);
});

test("headers over max_header_bytes: 431, then close", async () => {
	const c = await RawConn.open();
	c.write(post(initMsg(), { "X-Big": "a".repeat(LIMITS.max_header_bytes + 100) }));
	const r = await c.response();
	assert.equal(r.status, 431, r.body);
	assert.equal(r.headers.connection, "close");
	await c.closed(3000);
});

test("just under max_header_bytes is still served", async () => {
	// The control for the case above: the limit, not any long header, is what refuses.
	const r = await once(post(initMsg(), { "X-Big": "a".repeat(LIMITS.max_header_bytes - 600) }));
	assert.equal(r.status, 200, r.body);
	assert.ok(r.json?.result?.protocolVersion, r.body);
});

test("a Content-Length over max_body_bytes: 413 before the body, then close", async () => {
	const c = await RawConn.open();
	c.write(request("POST", "/mcp", { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "Content-Length": LIMITS.max_body_bytes + 1 }));
	const r = await c.response(); // nothing of the body was sent
	assert.equal(r.status, 413, r.body);
	assert.equal(r.headers.connection, "close");
	await c.closed(3000);
});

test("a chunked body over max_body_bytes: 413, then close", async () => {
	const c = await RawConn.open();
	const pad = (n) => "x".repeat(n);
	const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
	// two chunks that together pass the limit; the second one crosses it
	c.write(request("POST", "/mcp", { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "Transfer-Encoding": "chunked" })
		+ chunk(pad(LIMITS.max_body_bytes - 100)) + chunk(pad(200)) + "0\r\n\r\n");
	const r = await c.response();
	assert.equal(r.status, 413, r.body);
	assert.equal(r.headers.connection, "close");
	await c.closed(3000);
});

test("a body that is not JSON: 400 with -32700", async () => {
	const r = await once(post('{"jsonrpc":"2.0","id":1,"method":'));
	const j = assertRpcError(r, 400, -32700);
	assert.equal(j.id, null, r.body);
});

test("JSON that is not JSON-RPC: 400 with -32600", async () => {
	const r = await once(post({ hello: "world" }));
	assertRpcError(r, 400, -32600);
});

test("POST whose Accept lacks text/event-stream: 406", async () => {
	for (const accept of ["application/json", "text/event-stream", "text/html"]) {
		const r = await once(post(initMsg(), { Accept: accept }));
		assertRpcError(r, 406);
	}
	// wildcards count: the control
	const ok = await once(post(initMsg(), { Accept: "*/*" }));
	assert.equal(ok.status, 200, ok.body);
});

test("POST with a Content-Type other than application/json: 415", async () => {
	const r = await once(post(initMsg(), { "Content-Type": "text/plain" }));
	assertRpcError(r, 415);
});

test("an unknown Mcp-Session-Id: 404; none at all: 400", async () => {
	const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };
	const unknown = await once(post(list, { "Mcp-Session-Id": "0123456789abcdef0123456789abcdef", "MCP-Protocol-Version": "2025-11-25" }));
	assertRpcError(unknown, 404);
	const missing = await once(post(list, { "MCP-Protocol-Version": "2025-11-25" }));
	assertRpcError(missing, 400);
});

test("an Origin from elsewhere: 403 with a JSON-RPC error (id null); a loopback Origin is served", async () => {
	const r = await once(post(initMsg(), { Origin: "http://evil.example.com" }));
	const j = assertRpcError(r, 403);
	assert.equal(j.id, null, r.body);
	assert.equal(r.headers["mcp-session-id"], undefined, "no session for a forbidden request");
	const ok = await once(post(initMsg(), { Origin: `http://localhost:${port}` }));
	assert.equal(ok.status, 200, ok.body);
});

test("Host evil.example.com on a loopback listener: 403", async () => {
	const r = await once(post(initMsg(), { Host: "evil.example.com" }));
	const j = assertRpcError(r, 403);
	assert.equal(j.id, null, r.body);
	const ok = await once(post(initMsg(), { Host: `localhost:${port}` }));
	assert.equal(ok.status, 200, ok.body);
});

// DNS rebinding: a name that merely starts like a loopback address resolves wherever its owner
// says; only the name localhost and loopback IP literals are taken for this machine.
test("a name that looks like loopback (127.attacker.example) is refused as Host and as Origin: 403; loopback literals are served", async () => {
	for (const host of ["127.attacker.example", `127.0.0.1.nip.io:${port}`, "localhost.attacker.example"]) {
		assertRpcError(await once(post(initMsg(), { Host: host })), 403);
		assertRpcError(await once(post(initMsg(), { Origin: `http://${host}` })), 403);
	}
	for (const host of [`127.0.0.1:${port}`, `127.1.2.3:${port}`, `LOCALHOST:${port}`]) {
		const ok = await once(post(initMsg(), { Host: host, Origin: `http://${host}` }));
		assert.equal(ok.status, 200, `${host}: ${ok.body}`);
	}
});

test("a client sending one byte per 100 ms gets 408 after read_timeout_ms, then close", async () => {
	const c = await RawConn.open();
	const data = Buffer.from(post(initMsg())); // ~250 bytes: 25 s at this pace
	let i = 0;
	const started = Date.now();
	c.write(data.subarray(i, ++i));
	const timer = setInterval(() => { if (!c.ended && i < data.length) c.write(data.subarray(i, ++i)); }, 100);
	try {
		const r = await c.response(5000);
		const elapsed = Date.now() - started;
		assert.equal(r.status, 408, r.body);
		assert.ok(elapsed >= LIMITS.read_timeout_ms - 50 && elapsed < LIMITS.read_timeout_ms + 1500,
			`408 after ${elapsed} ms (read_timeout_ms ${LIMITS.read_timeout_ms})`);
		assert.ok(i < data.length, "the request was still incomplete");
		await c.closed(3000);
	} finally {
		clearInterval(timer);
		c.destroy();
	}
});

test("a client vanishing from its GET stream does not block the next GET on that session", async () => {
	const sid = await newSession();
	const get = () => request("GET", "/mcp", { Accept: "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25" });
	const c1 = await RawConn.open();
	c1.write(get());
	const h1 = await c1.streamHead();
	assert.equal(h1.status, 200);
	assert.match(h1.headers["content-type"], /^text\/event-stream/);
	const priming = await c1.event();
	assert.ok(priming.id, `priming event has an id: ${JSON.stringify(priming)}`);
	assert.equal(priming.data, "", "priming event has empty data");

	// While it is open a second GET conflicts: the stream is really held.
	const busy = await once(get());
	assertRpcError(busy, 409);

	c1.destroy(); // mid-stream, no goodbye
	// The gateway learns of the close asynchronously, so poll (bounded) until it let go; a
	// stream that is never released keeps answering 409 and fails here.
	let c2, h2;
	await waitFor(async () => {
		c2?.destroy();
		c2 = await RawConn.open();
		c2.write(get());
		h2 = await c2.streamHead();
		return h2.status === 200;
	}, { timeout: 3000, what: "a new GET stream after the old client vanished" });
	try {
		assert.equal(h2.status, 200);
		const ev = await c2.event();
		assert.equal(ev.data, "", "the new stream starts with a priming event");
	} finally {
		c2.destroy();
	}
});

test("three pipelined requests in one write: three answers, in order", async () => {
	const sid = await newSession();
	const hs = { "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25" };
	const c = await RawConn.open();
	try {
		// The first one is the slowest: its answer must still come first.
		c.write(post(callMsg(11, "f__sleep", { ms: 300 }), hs) + post(callMsg(12, "f__echo", { text: "two" }), hs)
			+ post(callMsg(13, "f__echo", { text: "three" }), hs));
		const answers = [];
		for (let k = 0; k < 3; k++) answers.push(await c.response(5000));
		assert.deepEqual(answers.map((a) => a.status), [200, 200, 200]);
		assert.deepEqual(answers.map((a) => a.json?.id), [11, 12, 13], answers.map((a) => a.body).join("\n"));
		assert.deepEqual(answers.map((a) => a.json?.result?.content?.[0]?.text), ["slept 300", "two", "three"]);
		assert.ok(answers.every((a) => a.headers.connection === "keep-alive"), "keep-alive throughout");
		assert.equal(c.ended, false, "the connection stays open");
	} finally {
		c.destroy();
	}
});

test("a chunked request body is accepted", async () => {
	const body = JSON.stringify(initMsg(7));
	const parts = [body.slice(0, 10), body.slice(10, 40), body.slice(40)];
	const chunked = parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join("") + "0\r\n\r\n";
	const r = await once(request("POST", "/mcp", { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "Transfer-Encoding": "chunked" }, chunked));
	assert.equal(r.status, 200, r.body);
	assert.equal(r.json?.id, 7, r.body);
	assert.ok(r.headers["mcp-session-id"], "a session was created");
});

test("Expect: 100-continue is answered before the body is sent", async () => {
	const body = JSON.stringify(initMsg(8));
	const c = await RawConn.open();
	try {
		c.write(request("POST", "/mcp", { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "Content-Length": body.length, Expect: "100-continue" }));
		const cont = await c.response(3000);
		assert.equal(cont.status, 100);
		c.write(body);
		const r = await c.response();
		assert.equal(r.status, 200, r.body);
		assert.equal(r.json?.id, 8, r.body);
	} finally {
		c.destroy();
	}
});

test("idle keep-alive connections are closed after idle_timeout_ms", async () => {
	// After a request
	const c = await RawConn.open();
	c.write(request("OPTIONS", "/mcp", { Origin: `http://localhost:${port}` }));
	const r = await c.response();
	assert.equal(r.status, 204);
	assert.equal(r.headers.connection, "keep-alive");
	const answeredAt = Date.now();
	// And one that never sent anything
	const silent = await RawConn.open();
	const openedAt = Date.now();
	const [closedAt, silentClosedAt] = await Promise.all([c.closed(LIMITS.idle_timeout_ms + 3000), silent.closed(LIMITS.idle_timeout_ms + 3000)]);
	for (const [what, idle] of [["after a request", closedAt - answeredAt], ["without a request", silentClosedAt - openedAt]]) {
		assert.ok(idle >= LIMITS.idle_timeout_ms - 100 && idle < LIMITS.idle_timeout_ms + 1500,
			`${what}: closed after ${idle} ms idle (idle_timeout_ms ${LIMITS.idle_timeout_ms})`);
	}
	assert.equal(silent.received, 0, "nothing was sent to the silent connection");
});

test("OPTIONS: 204 with CORS headers for a loopback origin", async () => {
	const r = await once(request("OPTIONS", "/mcp", { Origin: `http://localhost:${port}`, "Access-Control-Request-Method": "POST" }));
	assert.equal(r.status, 204);
	assert.equal(r.headers["access-control-allow-origin"], `http://localhost:${port}`);
	assert.match(r.headers["access-control-allow-methods"] || "", /POST/);
	assert.match(r.headers["access-control-allow-headers"] || "", /Mcp-Session-Id/i);
});

test("OPTIONS: the Mcp-Param-* headers a page asks for are allowed back, other unknown ones are not", async () => {
	const r = await once(request("OPTIONS", "/mcp", { Origin: `http://localhost:${port}`, "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "content-type,mcp-param-region, Mcp-Param-Max_Rows,x-evil,mcp-param-,mcp-param-a\"b" }));
	assert.equal(r.status, 204);
	const allowed = (r.headers["access-control-allow-headers"] || "").split(/\s*,\s*/).map((h) => h.toLowerCase());
	for (const h of ["content-type", "mcp-param-region", "mcp-param-max_rows"]) assert.ok(allowed.includes(h), `${h} in ${allowed}`);
	for (const h of ["x-evil", "mcp-param-", "mcp-param-a\"b"]) assert.ok(!allowed.includes(h), `${h} not in ${allowed}`);
});

test("PUT: 405 with Allow", async () => {
	const r = await once(request("PUT", "/mcp", { "Content-Type": "application/json" }, "{}"));
	assert.equal(r.status, 405, r.body);
	const allow = (r.headers.allow || "").split(/\s*,\s*/).sort();
	assert.deepEqual(allow, ["DELETE", "GET", "OPTIONS", "POST"], `Allow: ${r.headers.allow}`);
});

test("a path other than the endpoint's: 404", async () => {
	for (const path of ["/other", "/mcp/extra", "/", "/MCP"]) {
		const r = await once(request("POST", path, { Accept: ACCEPT_BOTH, "Content-Type": "application/json" }, JSON.stringify(initMsg())));
		assert.equal(r.status, 404, `${path}: ${r.body}`);
		assert.equal(r.headers["mcp-session-id"], undefined);
	}
	// a query string does not change the path
	const q = await once(request("POST", "/mcp?x=1", { Accept: ACCEPT_BOTH, "Content-Type": "application/json" }, JSON.stringify(initMsg())));
	assert.equal(q.status, 200, q.body);
});

test("after all that, a new session is served normally", async () => {
	assert.equal(gw.exitStatus(), undefined, `the gateway is still running${log()}`);
	const c = await RawConn.open();
	try {
		c.write(post(initMsg(1)));
		const init = await c.response();
		assert.equal(init.status, 200, init.body);
		assert.equal(init.json?.result?.serverInfo?.name, "mcpfed", init.body);
		const sid = init.headers["mcp-session-id"];
		const hs = { "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25" };
		c.write(post({ jsonrpc: "2.0", method: "notifications/initialized" }, hs));
		assert.equal((await c.response()).status, 202);
		c.write(post(callMsg("call-1", "f__echo", { text: "still here" }), hs));
		const r = await c.response();
		assert.equal(r.status, 200, r.body);
		assert.deepEqual(r.json, { jsonrpc: "2.0", id: "call-1", result: { content: [{ type: "text", text: "still here" }] } });
	} finally {
		c.destroy();
	}
});

test("the gateway shuts down cleanly on SIGTERM with several connections open", async () => {
	// Idle keep-alive connections (one after a request, two that sent nothing) are closed by
	// the shutdown together, and others are dropped by the client as the signal arrives; each
	// must be let go without touching freed state (the ASan build shows that part).
	const conns = await Promise.all([RawConn.open(), RawConn.open(), RawConn.open()]);
	conns[0].write(request("OPTIONS", "/mcp"));
	assert.equal((await conns[0].response()).status, 204);
	// and some that the client drops at the moment the signal arrives
	const dropped = await Promise.all([1, 2, 3, 4].map(() => RawConn.open()));
	for (const c of dropped) c.write(request("OPTIONS", "/mcp"));
	await Promise.all(dropped.map((c) => c.response()));
	// The gateway is stopped meanwhile, so that it finds the closed connections and the signal
	// in one wake-up, the closes first.
	const state = () => procStat(gw.pid)?.[0] ?? "?";
	gw.kill("SIGSTOP");
	try {
		await waitFor(() => state() === "T", { timeout: 3000, what: "the gateway to stop" });
		for (const c of dropped) c.destroy();
		await waitFor(() => dropped.every((c) => c.ended), { timeout: 3000, what: "the dropped sockets to close" });
		gw.kill("SIGTERM");
	} finally {
		gw.kill("SIGCONT");
	}
	await Promise.all(conns.map((c) => c.closed(5000)));
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, `gateway exit${log()}`);
	assert.match(gw.stderrText(), /info kernel: stopped/);
});
