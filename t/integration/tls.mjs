// TLS listeners (https:// and wss://), with certificates made by the openssl command for the
// test: the official SDK client over https (initialize, tools/list, tools/call), MCP over
// wss:// with the ws package, client certificates (required and optional: a good one is
// recorded as the connection's identity, none, another CA's or an expired one is refused),
// min_version, ALPN, clients that are no TLS clients (plain HTTP, garbage, a stalled or
// abandoned handshake) closed and counted, Connection: close and HTTP/1.0 over TLS, the
// certificate re-read by `reload config` while a kept-alive connection goes on, a hot swap of
// the http plugin with a TLS keep-alive connection and an open SSE stream, and the
// configuration errors (each names the key, and the file when one is bad).
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/tls.mjs
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { Agent, fetch as undiciFetch } from "undici";
import WebSocket from "ws";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
	admin, faulty, killAll, logTail, luaConfig, mcpfedBin, scratchDir, startStdio, textOf, waitFor, withTimeout,
} from "../lib/harness.mjs";
import { ACCEPT_BOTH, callMsg, initMsg, parseSseEvent, startHttpGateway } from "../lib/http.mjs";
import { rawConnect } from "../lib/rawhttp.mjs";
import { fingerprint, makeCerts } from "../lib/certs.mjs";

let certs;
before(() => { certs = makeCerts(); });

const tail = (gw) => logTail(gw.stderrText(), 5000);
const V = "2025-11-25";

// mcpfed with one TLS listener (the `tls` table given, the server certificate by default)
// and the faulty upstream; killed after the test if still running.
async function tlsGateway(t, { url = "https://127.0.0.1:0/mcp", tls: tlsConf = {}, entry = {}, top = {} } = {}) {
	const sock = path.join(scratchDir(), "admin.sock");
	const { gw, urls } = await startHttpGateway({
		log_level: "debug", admin: sock,
		listen: [{ url, tls: { cert_file: certs.server.cert, key_file: certs.server.key, ...tlsConf }, ...entry }],
		providers: [faulty("f")], ...top,
	}, { listed: ["f"], timeout: 15000 });
	gw.sock = sock;
	t.after(() => killAll(gw));
	const bounded = (p, what, ms = 8000) => withTimeout(p, ms, what, () => tail(gw));
	return { gw, url: urls[0], bounded };
}

// SIGTERM: the gateway exits 0, and under sanitizers they found nothing.
async function shutdown(gw) {
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(15000), { code: 0, signal: null }, `gateway exit${tail(gw)}`);
	assert.doesNotMatch(gw.stderrText(), /ERROR: (Address|Leak)Sanitizer|runtime error:/, tail(gw));
}

// The listener's TLS figures, as `reload config` reports them.
async function tlsFigures(gw) {
	const r = await admin(gw.sock, "reload config", { timeout: 15000 });
	assert.equal(r.code, 200, JSON.stringify(r.body));
	return r.body.listeners[0].tls;
}

// A TLS connection to url's port: resolves to { ok: true, socket } once the handshake is
// done, or { ok: false, error } when it fails or the server closes the connection.
function handshake(url, opts = {}) {
	const u = new URL(url);
	return new Promise((resolve) => {
		const s = tls.connect({ host: u.hostname, port: Number(u.port), ca: fs.readFileSync(certs.ca), ALPNProtocols: ["http/1.1"], ...opts });
		s.once("secureConnect", () => {
			// TLS 1.3: a refused client certificate shows as an alert after the client's Finished
			s.once("error", () => {});
			s.once("close", () => {});
			resolve({ ok: true, socket: s });
		});
		s.once("error", (error) => resolve({ ok: false, error }));
		s.once("close", () => resolve({ ok: false, error: new Error("closed") }));
		setTimeout(() => { s.destroy(); resolve({ ok: false, error: new Error("no handshake within 8 s") }); }, 8000).unref();
	});
}

// One request over an established TLS socket; resolves to the HTTP status, or null when the
// server closes the connection instead of answering.
function statusOver(socket, ms = 5000) {
	return new Promise((resolve) => {
		let buf = "";
		const timer = setTimeout(() => resolve("timeout"), ms);
		socket.on("data", (d) => {
			buf += d.toString("latin1");
			const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
			if (m) { clearTimeout(timer); resolve(Number(m[1])); }
		});
		socket.on("close", () => { clearTimeout(timer); resolve(null); });
		socket.on("error", () => {});
		socket.write(`OPTIONS /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
	});
}

// Bytes written to url's port over plain TCP: resolves to { bytes, ms } once the server
// closed the connection (bytes: what it sent first).
function plainClient(url, data, { ms = 8000, end = false } = {}) {
	const u = new URL(url);
	return new Promise((resolve, reject) => {
		const t0 = Date.now();
		const s = net.connect(Number(u.port), u.hostname);
		let got = Buffer.alloc(0);
		const timer = setTimeout(() => { s.destroy(); reject(new Error(`the server did not close within ${ms} ms`)); }, ms);
		s.on("connect", () => { if (data) s.write(data); if (end) s.end(); });
		s.on("data", (d) => { got = Buffer.concat([got, d]); });
		s.on("error", () => {});
		s.on("close", () => { clearTimeout(timer); resolve({ bytes: got, ms: Date.now() - t0 }); });
	});
}

// The SDK's client over https: undici's fetch with the test CA.
async function sdkClient(url, bounded, connect = {}) {
	const dispatcher = new Agent({ connect: { ca: fs.readFileSync(certs.ca), ...connect } });
	const c = new Client({ name: "tls-test", version: "1" });
	const transport = new StreamableHTTPClientTransport(new URL(url), {
		fetch: (u, init) => undiciFetch(u, { ...init, dispatcher }),
	});
	await bounded(c.connect(transport), `connect ${url}`);
	return { c, close: async () => { await c.close(); await dispatcher.close(); } };
}

test("the SDK client over https: initialize, tools/list, tools/call; ALPN http/1.1", async (t) => {
	const { gw, url, bounded } = await tlsGateway(t);
	assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/mcp$/);
	const { c, close } = await sdkClient(url, bounded);
	const tools = await bounded(c.listTools(), "tools/list");
	assert.ok(tools.tools.some((x) => x.name === "f__echo"), JSON.stringify(tools));
	const r = await bounded(c.callTool({ name: "f__echo", arguments: { text: "over tls" } }), "tools/call");
	assert.equal(textOf({ result: r }), "over tls");
	await close();
	const h = await handshake(url);
	assert.equal(h.ok, true, String(h.error));
	assert.equal(h.socket.alpnProtocol, "http/1.1");
	assert.equal(h.socket.getPeerX509Certificate().fingerprint256, fingerprint(certs.server.cert));
	h.socket.destroy();
	// a client offering only another protocol is served without ALPN
	const h2 = await handshake(url, { ALPNProtocols: ["h2"] });
	assert.equal(h2.ok, true, String(h2.error));
	assert.equal(h2.socket.alpnProtocol, false);
	assert.equal(await statusOver(h2.socket), 204);
	h2.socket.destroy();
	await shutdown(gw);
});

test("wss://: MCP over WebSocket with the ws package", async (t) => {
	const { gw, url, bounded } = await tlsGateway(t, { url: "wss://127.0.0.1:0/mcp" });
	assert.match(url, /^wss:\/\//);
	const ws = new WebSocket(url, "mcp", { ca: fs.readFileSync(certs.ca) });
	const answers = new Map();
	let wake;
	ws.on("message", (d) => {
		const m = JSON.parse(d.toString());
		if (m.id !== undefined) answers.set(m.id, m);
		wake?.();
	});
	await bounded(new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); }), "wss open");
	const answer = (id) => waitFor(() => answers.get(id), { timeout: 8000, what: `answer ${id}` });
	ws.send(JSON.stringify(initMsg(1, V)));
	assert.equal((await answer(1)).result.protocolVersion, V);
	ws.send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
	ws.send(JSON.stringify(callMsg(2, "f__echo", { text: "over wss" })));
	assert.equal(textOf(await answer(2)), "over wss");
	// a wss:// listener takes WebSocket upgrades only, as a ws:// one
	const h = await handshake(url);
	assert.equal(h.ok, true, String(h.error));
	h.socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
	const status = await new Promise((resolve) => h.socket.once("data", (d) => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(d.toString())?.[1]))));
	assert.ok(status >= 400, `status ${status}`);
	h.socket.destroy();
	const closed = new Promise((resolve) => ws.once("close", resolve));
	ws.close();
	await bounded(closed, "wss close");
	await shutdown(gw);
});

test("client certificates required: none, another CA's or an expired one is refused; a good one is the identity", async (t) => {
	const { gw, url } = await tlsGateway(t, { tls: { ca_file: certs.ca } });
	const withCert = (cc) => ({ cert: fs.readFileSync(cc.cert), key: fs.readFileSync(cc.key) });
	// TLS 1.3 completes the client's side before the server has checked its certificate:
	// a refused one shows as the connection closed instead of an answer
	const refused = async (opts, what) => {
		const h = await handshake(url, opts);
		if (h.ok) {
			const status = await statusOver(h.socket);
			h.socket.destroy();
			assert.equal(status, null, `${what}: no answer, the connection closed${tail(gw)}`);
		}
	};
	const before = await tlsFigures(gw);
	await refused({}, "no certificate");
	await refused(withCert(certs.stranger), "another CA's certificate");
	await refused(withCert(certs.expired), "an expired certificate");
	const good = await handshake(url, withCert(certs.client));
	assert.equal(good.ok, true, String(good.error));
	assert.equal(await statusOver(good.socket), 204);
	good.socket.destroy();
	await waitFor(() => /tls handshake done .* client="CN=alice,O=Example"/.test(gw.stderrText()),
		{ timeout: 5000, what: "the client's subject recorded" });
	const after = await tlsFigures(gw);
	assert.equal(after.handshake_failures - before.handshake_failures, 3, JSON.stringify({ before, after }));
	assert.match(gw.stderrText(), /info http: tls handshake failed peer=127\.0\.0\.1:\d+ reason="[^"]+" failures=\d+/);
	await shutdown(gw);
});

test("client certificates optional: none is served, a good one is the identity, a bad one is refused", async (t) => {
	const { gw, url } = await tlsGateway(t, { tls: { ca_file: certs.ca, verify_client: "optional" } });
	const none = await handshake(url);
	assert.equal(none.ok, true, String(none.error));
	assert.equal(await statusOver(none.socket), 204);
	none.socket.destroy();
	const good = await handshake(url, { cert: fs.readFileSync(certs.client.cert), key: fs.readFileSync(certs.client.key) });
	assert.equal(await statusOver(good.socket), 204);
	good.socket.destroy();
	await waitFor(() => /tls handshake done .* client="CN=alice,O=Example"/.test(gw.stderrText()), { timeout: 5000 });
	const bad = await handshake(url, { cert: fs.readFileSync(certs.stranger.cert), key: fs.readFileSync(certs.stranger.key) });
	if (bad.ok) {
		assert.equal(await statusOver(bad.socket), null);
		bad.socket.destroy();
	}
	await shutdown(gw);
});

test("min_version 1.3 refuses a client that speaks at most TLS 1.2; 1.2 (the default) takes it", async (t) => {
	const { gw, url } = await tlsGateway(t, { tls: { min_version: "1.3" } });
	const old = await handshake(url, { maxVersion: "TLSv1.2" });
	assert.equal(old.ok, false, "a TLS 1.2 client is refused");
	const cur = await handshake(url);
	assert.equal(cur.ok, true, String(cur.error));
	assert.equal(cur.socket.getProtocol(), "TLSv1.3");
	cur.socket.destroy();
	await shutdown(gw);
	const g2 = await tlsGateway(t);
	const h = await handshake(g2.url, { maxVersion: "TLSv1.2" });
	assert.equal(h.ok, true, String(h.error));
	assert.equal(h.socket.getProtocol(), "TLSv1.2");
	assert.equal(await statusOver(h.socket), 204);
	h.socket.destroy();
	await shutdown(g2.gw);
});

test("no TLS client: plain HTTP, garbage, a stalled or abandoned handshake are closed and counted", async (t) => {
	const READ_TIMEOUT = 400;
	const { gw, url } = await tlsGateway(t, { entry: { read_timeout_ms: READ_TIMEOUT } });
	const before = await tlsFigures(gw);
	// plain HTTP: closed, with at most a TLS alert (never an HTTP answer)
	const plain = await plainClient(url, "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert.doesNotMatch(plain.bytes.toString("latin1"), /HTTP\/1/);
	// garbage
	const garbage = await plainClient(url, crypto.randomBytes(3000));
	assert.doesNotMatch(garbage.bytes.toString("latin1"), /HTTP\/1/);
	// stalled: nothing at all, then half a ClientHello; each closed after read_timeout_ms
	const silent = await plainClient(url, null);
	assert.ok(silent.ms >= READ_TIMEOUT - 50 && silent.ms < READ_TIMEOUT + 4000, `closed after ${silent.ms} ms`);
	const hello = await clientHello(url);
	const half = await plainClient(url, hello.subarray(0, Math.floor(hello.length / 2)));
	assert.ok(half.ms >= READ_TIMEOUT - 50 && half.ms < READ_TIMEOUT + 4000, `closed after ${half.ms} ms`);
	// abandoned: half a ClientHello, then the client shuts its side
	await plainClient(url, hello.subarray(0, 20), { end: true });
	await waitFor(async () => (await tlsFigures(gw)).handshake_failures - before.handshake_failures >= 5,
		{ timeout: 5000, what: "five failed handshakes counted" });
	assert.match(gw.stderrText(), /tls handshake failed .*reason="the handshake did not complete in time"/);
	assert.match(gw.stderrText(), /tls handshake failed .*reason="the client left during the handshake"/);
	// and the listener serves on
	const h = await handshake(url);
	assert.equal(await statusOver(h.socket), 204);
	h.socket.destroy();
	await shutdown(gw);
});

// The first bytes a TLS client sends (a ClientHello), captured from a local server.
async function clientHello(url) {
	const server = net.createServer();
	await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
	const got = new Promise((resolve) => server.once("connection", (s) => s.once("data", (d) => { resolve(d); s.destroy(); })));
	const c = tls.connect({ host: "127.0.0.1", port: server.address().port, servername: "localhost" });
	c.on("error", () => {});
	const hello = await got;
	c.destroy();
	server.close();
	return hello;
}

test("Connection: close and HTTP/1.0 over TLS; a kept-alive connection serves on", async (t) => {
	const { gw, url, bounded } = await tlsGateway(t);
	const ca = fs.readFileSync(certs.ca);
	const headers = { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": V };
	for (const mode of [{ version: "1.1", connection: "close" }, { version: "1.0" }, { version: "1.1" }]) {
		const conn = await rawConnect(url, bounded, () => tail(gw), { ca });
		conn.send({ method: "POST", path: "/mcp", version: mode.version, connection: mode.connection, headers, body: JSON.stringify(initMsg(1, V)) });
		const res = await conn.response();
		assert.equal(res.status, 200, JSON.stringify(res));
		assert.equal(res.json?.result?.protocolVersion, V);
		if (mode.connection === "close" || mode.version === "1.0") {
			assert.equal(res.headers.connection, "close");
			assert.equal(await conn.closedByServer(3000), true, `closed after the answer${tail(gw)}`);
		} else {
			assert.equal(res.headers.connection, "keep-alive");
			conn.send({ method: "OPTIONS", path: "/mcp" });
			assert.equal((await conn.response()).status, 204);
			conn.destroy();
		}
	}
	await shutdown(gw);
});

test("reload config: new connections get the new certificate, an open one goes on; a bad key is refused", async (t) => {
	const dir = fs.mkdtempSync(path.join(scratchDir(), "live-"));
	const cert = path.join(dir, "cert.pem"), key = path.join(dir, "key.pem");
	fs.copyFileSync(certs.server.cert, cert);
	fs.copyFileSync(certs.server.key, key);
	const { gw, url, bounded } = await tlsGateway(t, { tls: { cert_file: cert, key_file: key } });
	const ca = fs.readFileSync(certs.ca);
	const headers = { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": V };
	const kept = await rawConnect(url, bounded, () => tail(gw), { ca });
	assert.equal(kept.socket.getPeerX509Certificate().fingerprint256, fingerprint(certs.server.cert));
	kept.send({ method: "POST", path: "/mcp", headers, body: JSON.stringify(initMsg(1, V)) });
	const init = await kept.response();
	const session = init.headers["mcp-session-id"];
	assert.ok(session, JSON.stringify(init.headers));

	fs.copyFileSync(certs.server2.cert, cert);
	fs.copyFileSync(certs.server2.key, key);
	const r = await admin(gw.sock, "reload config", { timeout: 15000 });
	assert.equal(r.code, 200, JSON.stringify(r.body));
	assert.equal(r.body.listeners[0].tls.sha256, fingerprint(certs.server2.cert), JSON.stringify(r.body));
	assert.deepEqual(r.body.restart_needed, []);

	// the open connection keeps its session and its certificate
	kept.send({ method: "POST", path: "/mcp", headers: { ...headers, "Mcp-Session-Id": session }, body: JSON.stringify(callMsg(2, "f__echo", { text: "kept" })) });
	const res = await kept.response();
	assert.equal(res.status, 200, JSON.stringify(res));
	const msg = res.json ?? JSON.parse(res.events.at(-1).data);
	assert.equal(textOf(msg), "kept");
	assert.equal(kept.closed, false);
	// a new one sees the new certificate
	const h = await handshake(url);
	assert.equal(h.ok, true, String(h.error));
	assert.equal(h.socket.getPeerX509Certificate().fingerprint256, fingerprint(certs.server2.cert));
	h.socket.destroy();

	// a key that does not match the certificate: the reload is refused, naming the file
	fs.copyFileSync(certs.server.key, key);
	const bad = await admin(gw.sock, "reload config", { timeout: 15000 });
	assert.equal(bad.code, 409, JSON.stringify(bad.body));
	assert.match(bad.body.reason, /listen\[1\]\.tls\.key_file: ".*key\.pem": the key does not match tls\.cert_file/);
	const h2 = await handshake(url);
	assert.equal(h2.socket.getPeerX509Certificate().fingerprint256, fingerprint(certs.server2.cert));
	assert.equal(await statusOver(h2.socket), 204);
	h2.socket.destroy();
	kept.send({ method: "OPTIONS", path: "/mcp" });
	assert.equal((await kept.response()).status, 204);
	kept.destroy();
	await shutdown(gw);
});

test("hot swap of the http plugin: a TLS keep-alive connection and an SSE stream go on; new connections handshake", async (t) => {
	const { gw, url, bounded } = await tlsGateway(t, { entry: { sse_keepalive_ms: 100 } });
	const ca = fs.readFileSync(certs.ca);
	const headers = { Accept: ACCEPT_BOTH, "Content-Type": "application/json", "MCP-Protocol-Version": V };
	const kept = await rawConnect(url, bounded, () => tail(gw), { ca });
	kept.send({ method: "POST", path: "/mcp", headers, body: JSON.stringify(initMsg(1, V)) });
	const session = (await kept.response()).headers["mcp-session-id"];
	kept.send({ method: "POST", path: "/mcp", headers: { ...headers, "Mcp-Session-Id": session }, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
	assert.equal((await kept.response()).status, 202);
	// the session's GET stream, on a connection of its own
	const stream = await rawConnect(url, bounded, () => tail(gw), { ca });
	stream.send({ method: "GET", path: "/mcp", headers: { Accept: "text/event-stream", "Mcp-Session-Id": session, "MCP-Protocol-Version": V } });
	const sres = await stream.head();
	assert.equal(sres.status, 200);
	// a connection that has not begun its handshake when the swap happens
	const idle = net.connect(Number(new URL(url).port), "127.0.0.1");
	await new Promise((resolve) => idle.once("connect", resolve));

	for (let round = 1; round <= 2; round++) {
		const r = await admin(gw.sock, "reload http", { timeout: 15000 });
		assert.equal(r.code, 200, `reload http: ${JSON.stringify(r.body)}${tail(gw)}`);
		assert.equal(r.body.outcome, "swapped", JSON.stringify(r.body));
		// the kept-alive connection: a call on it, answered by the successor
		kept.send({ method: "POST", path: "/mcp", headers: { ...headers, "Mcp-Session-Id": session }, body: JSON.stringify(callMsg(10 + round, "f__echo", { text: `round ${round}` })) });
		const res = await kept.response();
		assert.equal(res.status, 200, JSON.stringify(res));
		assert.equal(textOf(res.json ?? JSON.parse(res.events.at(-1).data)), `round ${round}`);
		// the stream: keep-alive comments still arrive, from the successor
		const seen = sres.raw.length;
		await stream.bodyUntil(sres, (r) => r.raw.subarray(seen).includes(": keepalive"), { ms: 5000 });
		// a new connection, handshaking with the successor's context
		const h = await handshake(url);
		assert.equal(h.ok, true, String(h.error));
		assert.equal(h.socket.alpnProtocol, "http/1.1");
		assert.equal(await statusOver(h.socket), 204);
		h.socket.destroy();
	}
	// the connection that had sent nothing handshakes now
	const late = tls.connect({ socket: idle, ca, ALPNProtocols: ["http/1.1"], checkServerIdentity: (_, cert) => tls.checkServerIdentity("127.0.0.1", cert) });
	await bounded(new Promise((resolve, reject) => { late.once("secureConnect", resolve); late.once("error", reject); }), "a late handshake");
	assert.equal(late.alpnProtocol, "http/1.1");
	assert.equal(await statusOver(late), 204);
	late.destroy();
	kept.destroy();
	stream.destroy();
	await shutdown(gw);
});

test("configuration errors name the key, and the file when one is bad", () => {
	const check = (entry, top = {}) => {
		const cfg = luaConfig({ listen: [entry], ...top });
		const r = spawnSync(mcpfedBin(), ["--check", "-c", cfg], { encoding: "utf8", timeout: 20000 });
		assert.notEqual(r.status, 0, `--check accepted ${JSON.stringify(entry)}`);
		return r.stderr;
	};
	const good = { cert_file: certs.server.cert, key_file: certs.server.key };
	assert.match(check({ url: "http://127.0.0.1:0/mcp", tls: good }), /listen\[1\]\.tls: TLS settings on a plain listener/);
	assert.match(check({ url: "ws://127.0.0.1:0/mcp", tls: good }), /listen\[1\]\.tls: TLS settings on a plain listener/);
	assert.match(check({ url: "https://127.0.0.1:0/mcp" }), /listen\[1\]\.tls\.cert_file: required on a TLS listener/);
	assert.match(check({ url: "wss://127.0.0.1:0/mcp", tls: { cert_file: certs.server.cert } }), /listen\[1\]\.tls\.key_file: required/);
	assert.match(check({ url: "https://127.0.0.1:0/mcp", tls: { ...good, cert_file: "/nonexistent/cert.pem" } }),
		/listen\[1\]\.tls\.cert_file: cannot read "\/nonexistent\/cert\.pem": No such file or directory/);
	assert.match(check({ url: "https://127.0.0.1:0/mcp", tls: { ...good, key_file: certs.server2.key } }),
		/listen\[1\]\.tls\.key_file: ".*server2\.key": the key does not match tls\.cert_file/);
	assert.match(check({ url: "https://127.0.0.1:0/mcp", tls: { ...good, key_file: certs.server.cert } }),
		/listen\[1\]\.tls\.key_file: ".*server\.pem": /);
	assert.match(check({ url: "https://127.0.0.1:0/mcp", tls: { ...good, cert_file: certs.server.key } }),
		/listen\[1\]\.tls\.cert_file: ".*server\.key": /);
	assert.match(check({ url: "https://127.0.0.1:0/mcp", tls: { ...good, verify_client: "require" } }),
		/listen\[1\]\.tls\.verify_client: needs tls\.ca_file/);
	assert.match(check({ url: "https://127.0.0.1:0/mcp", tls: { ...good, key_file: certs.dir } }),
		/listen\[1\]\.tls\.key_file: cannot read ".*": not a file/);
	// an encrypted key: refused, and no passphrase asked of the terminal, which OpenSSL does
	// by itself when the process has one (script(1) gives it one): that waited for ever
	const encrypted = path.join(certs.dir, "encrypted.key");
	spawnSync("openssl", ["pkey", "-in", certs.server.key, "-aes256", "-passout", "pass:secret", "-out", encrypted]);
	assert.match(fs.readFileSync(encrypted, "utf8"), /ENCRYPTED/);
	const encCfg = luaConfig({ listen: [{ url: "https://127.0.0.1:0/mcp", tls: { ...good, key_file: encrypted } }] });
	const r = spawnSync("script", ["-qec", `${mcpfedBin()} --check -c ${encCfg}`, "/dev/null"],
		{ encoding: "utf8", timeout: 20000, stdio: ["ignore", "pipe", "pipe"] });
	assert.equal(r.error, undefined, `script: ${r.error}`);
	assert.notEqual(r.status, 0, r.stdout);
	assert.doesNotMatch(r.stdout, /pass phrase/i);
	assert.match(r.stdout, /listen\[1\]\.tls\.key_file: ".*encrypted\.key": an encrypted key \(no passphrase is asked\)/);
	assert.match(check({ url: "https://127.0.0.1:0/mcp", tls: { ...good, min_version: "1.1" } }), /listen\[1\]\.tls\.min_version/);
	assert.match(check({ url: "https://127.0.0.1:0/mcp", tls: { ...good, bogus: 1 } }), /listen\[1\]\.tls\.bogus/);
	// in the http table, for every listener: a plain listener is refused it
	assert.match(check("http://127.0.0.1:0/mcp", { http: { tls: good } }), /tls: TLS settings on a plain listener/);
	// good: the http table without tls, an https listener with it
	const cfg = luaConfig({ http: { max_connections: 10 }, listen: [{ url: "https://127.0.0.1:0/mcp", tls: good }] });
	const ok = spawnSync(mcpfedBin(), ["--check", "-c", cfg], { encoding: "utf8", timeout: 20000 });
	assert.equal(ok.status, 0, ok.stderr);
});

test("an http provider reaches another mcpfed's https listener (ca_file)", async (t) => {
	const { gw: upstream, url } = await tlsGateway(t);
	const { gw, urls: [front] } = await startHttpGateway({
		log_level: "info", listen: ["http://127.0.0.1:0/mcp"],
		providers: [{ name: "up", transport: "http", url, ca_file: certs.ca }],
	}, { listed: ["up"], timeout: 15000 });
	t.after(() => killAll(gw));
	const bounded = (p, what, ms = 8000) => withTimeout(p, ms, what, () => tail(gw) + tail(upstream));
	const c = new Client({ name: "tls-test", version: "1" });
	await bounded(c.connect(new StreamableHTTPClientTransport(new URL(front))), "connect");
	const r = await bounded(c.callTool({ name: "up__f__echo", arguments: { text: "through https" } }), "tools/call");
	assert.equal(textOf({ result: r }), "through https");
	await c.close();
	await shutdown(gw);
	await shutdown(upstream);
});

test("http and ws providers show cert_file to an upstream that requires a client certificate; without it they are refused", async (t) => {
	const tls = { ca_file: certs.ca, verify_client: "require" };
	const https = await tlsGateway(t, { tls });
	const wss = await tlsGateway(t, { url: "wss://127.0.0.1:0/mcp", tls });
	const mine = { ca_file: certs.ca, cert_file: certs.client.cert, key_file: certs.client.key };
	const { gw, urls: [front] } = await startHttpGateway({
		log_level: "info", listen: ["http://127.0.0.1:0/mcp"],
		providers: [
			{ name: "h", transport: "http", url: https.url, ...mine },
			{ name: "w", transport: "ws", url: wss.url, ...mine },
			{ name: "hno", transport: "http", url: https.url, ca_file: certs.ca },
			{ name: "wno", transport: "ws", url: wss.url, ca_file: certs.ca },
		],
	}, { listed: ["h", "w"], timeout: 15000 });
	t.after(() => killAll(gw));
	const bounded = (p, what, ms = 8000) => withTimeout(p, ms, what, () => tail(gw) + tail(https.gw) + tail(wss.gw));
	const c = new Client({ name: "tls-test", version: "1" });
	await bounded(c.connect(new StreamableHTTPClientTransport(new URL(front))), "connect");
	for (const p of ["h", "w"]) {
		const r = await bounded(c.callTool({ name: `${p}__f__echo`, arguments: { text: `through ${p}` } }), `tools/call on ${p}`);
		assert.equal(textOf({ result: r }), `through ${p}`);
	}
	// the upstreams saw alice's certificate on those connections
	for (const up of [https, wss])
		assert.match(up.gw.stderrText(), /tls handshake done .* client="CN=alice,O=Example"/, tail(up.gw));
	// and refused the others: their providers fail, and list nothing
	await waitFor(() => /provider failed provider=hno /.test(gw.stderrText()) && /provider failed provider=wno /.test(gw.stderrText()),
		{ timeout: 15000, what: `hno and wno failed${tail(gw)}` });
	const names = (await bounded(c.listTools(), "tools/list")).tools.map((x) => x.name);
	assert.ok(names.includes("h__f__echo") && names.includes("w__f__echo"), names.join(" "));
	assert.ok(!names.some((n) => n.startsWith("hno__") || n.startsWith("wno__")), names.join(" "));
	await c.close();
	await shutdown(gw);
});

// the client key, encrypted: OpenSSL would ask the terminal for its passphrase
function encryptedClientKey() {
	const file = path.join(certs.dir, "client-encrypted.key");
	spawnSync("openssl", ["pkey", "-in", certs.client.key, "-aes256", "-passout", "pass:secret", "-out", file]);
	assert.match(fs.readFileSync(file, "utf8"), /ENCRYPTED/);
	return file;
}

test("a provider's cert_file without key_file, or one that cannot be read, or an encrypted key, is refused naming the key", async () => {
	for (const [extra, why] of [
		[{ cert_file: certs.client.cert }, /\.key_file: needed with cert_file/],
		[{ key_file: certs.client.key }, /\.cert_file: needed with key_file/],
		[{ cert_file: "/nonexistent/c.pem", key_file: certs.client.key }, /\.cert_file: cannot read "\/nonexistent\/c\.pem": No such file/],
		[{ cert_file: certs.client.cert, key_file: certs.dir }, /\.key_file: cannot read ".*": not a file/],
		[{ cert_file: certs.client.cert, key_file: encryptedClientKey() }, /\.key_file: ".*": an encrypted key \(no passphrase is asked\)/],
	]) {
		for (const transport of ["http", "ws"]) {
			const url = transport === "http" ? "https://127.0.0.1:1/mcp" : "wss://127.0.0.1:1/mcp";
			const gw = startStdio({ config: luaConfig({ providers: [{ name: "x", transport, url, ...extra }] }) });
			const st = await gw.waitExit(10000);
			assert.notEqual(st.code, 0, JSON.stringify(st));
			assert.match(gw.stderrText(), why, gw.stderrText());
		}
	}
});

test("auth.mtls: a verified client certificate's subject is the session's identity; without one the caller gets 401", async (t) => {
	const { gw, url, bounded } = await tlsGateway(t, { tls: { ca_file: certs.ca, verify_client: "optional" }, entry: { auth: { mtls: true } } });
	const { c, close } = await sdkClient(url, bounded, { cert: fs.readFileSync(certs.client.cert), key: fs.readFileSync(certs.client.key) });
	assert.ok((await bounded(c.listTools(), "tools/list")).tools.length > 0);
	const r = await admin(gw.sock, "sessions");
	assert.deepEqual(r.body.sessions.map((s) => [s.subject, s.auth]), [["CN=alice,O=Example", "mtls"]], JSON.stringify(r.body));
	await close();
	const dispatcher = new Agent({ connect: { ca: fs.readFileSync(certs.ca) } });
	const res = await bounded(undiciFetch(url, {
		method: "POST", dispatcher, body: JSON.stringify(initMsg(1, V, "no-cert")),
		headers: { "Content-Type": "application/json", Accept: ACCEPT_BOTH },
	}), "POST without a certificate");
	assert.equal(res.status, 401);
	assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
	await res.arrayBuffer();
	await dispatcher.close();
	await shutdown(gw);
});

test("auth.mtls: a certificate with an empty subject names its holder by its first subjectAltName, or by its SHA-256; never by \"\"", async (t) => {
	const { gw, url, bounded } = await tlsGateway(t, { tls: { ca_file: certs.ca, verify_client: "optional" }, entry: { auth: { mtls: true } } });
	const clients = [];
	for (const holder of [certs.nameless, certs.blank]) {
		const client = await sdkClient(url, bounded, { cert: fs.readFileSync(holder.cert), key: fs.readFileSync(holder.key) });
		assert.ok((await bounded(client.c.listTools(), "tools/list")).tools.length > 0);
		clients.push(client);
	}
	const r = await admin(gw.sock, "sessions");
	const digest = `sha256:${fingerprint(certs.blank.cert).replaceAll(":", "").toLowerCase()}`;
	assert.deepEqual(r.body.sessions.map((s) => [s.subject, s.auth]).sort(), [["DNS:bot.example", "mtls"], [digest, "mtls"]].sort(),
		JSON.stringify(r.body));
	for (const client of clients)
		await client.close();
	await shutdown(gw);
});
