// The fetch tool provider (plugins/fact/fetch.c) through the real gateway on stdio, against an
// HTTP server of this test on loopback: text, JSON and binary bodies with status and headers,
// a non-2xx answer; the refusals (a host or port outside the allowlist, a scheme other than
// http(s), a redirect to a host outside it, a redirect loop, an oversized body with and
// without Content-Length, a server not there, a self-signed certificate without ca_file); a
// server too slow for the call's deadline and a call cancelled mid-transfer, both seen to end
// the transfer at the server; a reload while a transfer runs.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/fact-fetch.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { admin, assertToolError as refused, call, closeAfter, logTail, luaConfig, scratchDir, startStdio, textOf, waitFor, withTimeout } from "../lib/harness.mjs";

const hits = new Map(); // path -> requests seen
const arrived = new Map(); // path -> resolvers waiting for its next request
const closed = new Map(); // path -> resolvers waiting for its connection to close
const once = (map, key) => new Promise((resolve) => map.set(key, resolve));
let server, port, base;

before(async () => {
	server = http.createServer((req, res) => {
		const p = new URL(req.url, "http://x").pathname;
		hits.set(p, (hits.get(p) || 0) + 1);
		arrived.get(p)?.(req);
		arrived.delete(p);
		req.socket.on("close", () => { closed.get(p)?.(); closed.delete(p); });
		const send = (status, type, body, extra = {}) => {
			res.writeHead(status, { "content-type": type, "x-test": "yes", ...extra });
			res.end(body);
		};
		switch (p) {
		case "/text": return send(200, "text/plain; charset=utf-8", "héllo, world\n");
		case "/json": return send(200, "application/json", JSON.stringify({ a: 1, b: [true, null] }));
		case "/jsontext": return send(200, "text/plain", "[1, 2, 3]");
		case "/bin": return send(200, "image/png", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0xff]));
		case "/missing": return send(404, "text/plain", "no such thing");
		case "/redir": return send(302, "text/plain", "moved", { location: "/text" });
		case "/redir-out": return send(302, "text/plain", "moved", { location: `http://localhost:${port}/text` });
		case "/redir-file": return send(301, "text/plain", "moved", { location: "file:///etc/passwd" });
		case "/loop": return send(307, "text/plain", "again", { location: "/loop" });
		case "/big": return send(200, "text/plain", "x".repeat(10000));
		case "/bigchunked":
			res.writeHead(200, { "content-type": "text/plain" });
			for (let i = 0; i < 10; i++) res.write("y".repeat(1000));
			return res.end();
		case "/slow": case "/hang": case "/held":
			res.writeHead(200, { "content-type": "text/plain" });
			res.write("a start, and nothing more");
			return; // never ends: the call's deadline or its cancel must
		default: return send(500, "text/plain", "unexpected path");
		}
	});
	await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
	port = server.address().port;
	base = `http://127.0.0.1:${port}`;
});
after(() => { server.closeAllConnections(); server.close(); });

const web = (extra = {}) => ({ name: "web", transport: "fetch", allow: [`127.0.0.1:${port}`], max_bytes: 4096, max_ms: 1500, max_redirects: 3, ...extra });
function start(t, provider = web()) {
	return closeAfter(t, startStdio({ config: luaConfig({ log_level: "info", providers: [provider] }) }));
}
const sc = (res) => res.result?.structuredContent;

test("fetch: text, JSON and binary bodies with status and headers; a 404 is a tool error carrying the answer", async (t) => {
	const gw = start(t);
	await gw.initialize();
	const tools = (await gw.request("tools/list")).result.tools;
	const get = tools.find((x) => x.name === "web__get");
	assert.ok(get, JSON.stringify(tools));
	assert.deepEqual(get.inputSchema.required, ["url"]);
	assert.equal(get.outputSchema.type, "object");

	let r = await call(gw, "web__get", { url: `${base}/text` });
	assert.equal(r.result.isError, false);
	assert.equal(textOf(r), "héllo, world\n");
	assert.equal(sc(r).status, 200);
	assert.equal(sc(r).text, "héllo, world\n");
	assert.equal(sc(r).headers["x-test"], "yes");
	assert.equal(sc(r).content_type, "text/plain; charset=utf-8");
	assert.equal(sc(r).bytes, Buffer.byteLength("héllo, world\n"));
	assert.deepEqual(sc(r).redirects, []);

	r = await call(gw, "web__get", { url: `${base}/json` });
	assert.deepEqual(sc(r).json, { a: 1, b: [true, null] }, "a JSON content type is parsed");
	assert.deepEqual(JSON.parse(textOf(r)), { a: 1, b: [true, null] });
	r = await call(gw, "web__get", { url: `${base}/json`, as: "text" });
	assert.equal(sc(r).text, JSON.stringify({ a: 1, b: [true, null] }), "as text, it is not");
	r = await call(gw, "web__get", { url: `${base}/jsontext`, as: "json" });
	assert.deepEqual(sc(r).json, [1, 2, 3], "as json, whatever the content type");
	refused(await call(gw, "web__get", { url: `${base}/text`, as: "json" }), /is not JSON/);
	refused(await call(gw, "web__get", { url: `${base}/text`, as: "yaml" }), /"as" must be/);

	r = await call(gw, "web__get", { url: `${base}/bin` });
	const res = r.result.content[0];
	assert.equal(res.type, "resource");
	assert.equal(res.resource.mimeType, "image/png");
	assert.deepEqual(Buffer.from(res.resource.blob, "base64"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0xff]));
	assert.equal(sc(r).blob, res.resource.blob);

	r = await call(gw, "web__get", { url: `${base}/missing` });
	assert.equal(r.result.isError, true);
	assert.equal(r.result.content[0].text, `HTTP 404 from ${base}/missing`);
	assert.equal(r.result.content[1].text, "no such thing");
	assert.equal(sc(r).status, 404);

	r = await call(gw, "web__get", { url: `${base}/redir` });
	assert.equal(sc(r).url, `${base}/text`);
	assert.deepEqual(sc(r).redirects, [`${base}/text`]);
	assert.equal(sc(r).text, "héllo, world\n");

	r = await call(gw, "web__get", { url: `${base}/text`, headers: { Host: "evil" } });
	refused(r, /set by the request itself/);
});

test("fetch refuses hosts, ports and schemes outside the allowlist, before and after a redirect", async (t) => {
	const gw = start(t);
	await gw.initialize();
	const before = hits.get("/text") || 0;
	refused(await call(gw, "web__get", { url: `http://localhost:${port}/text` }), /localhost:\d+ is not in the allowlist/);
	refused(await call(gw, "web__get", { url: `http://127.0.0.1:${port + 1}/text` }), /not in the allowlist/);
	refused(await call(gw, "web__get", { url: "file:///etc/passwd" }), /only http and https/);
	refused(await call(gw, "web__get", { url: "ftp://127.0.0.1/x" }), /only http and https/);
	refused(await call(gw, "web__get", { url: "/text" }), /no absolute URL/);
	refused(await call(gw, "web__get", { url: `http://user@localhost:${port}@127.0.0.1:${port}/text` }), /refused/);
	refused(await call(gw, "web__get", { url: `${base}/redir-out` }), /localhost:\d+ is not in the allowlist \(redirected to by .*\/redir-out\)/);
	refused(await call(gw, "web__get", { url: `${base}/redir-file` }), /only http and https/);
	assert.equal(hits.get("/text") || 0, before, "no refused URL reached the server");

	const loops = hits.get("/loop") || 0;
	refused(await call(gw, "web__get", { url: `${base}/loop` }), /more than 3 redirects/);
	assert.equal(hits.get("/loop") - loops, 4, "the first request and three redirects");
});

test("fetch refuses a body over max_bytes, with or without Content-Length", async (t) => {
	const gw = start(t);
	await gw.initialize();
	refused(await call(gw, "web__get", { url: `${base}/big` }), /exceeds max_bytes \(4096 bytes\)/);
	refused(await call(gw, "web__get", { url: `${base}/bigchunked` }), /exceeds max_bytes/);
	const r = await call(gw, "web__get", { url: `${base}/text` });
	assert.equal(sc(r).status, 200, "and goes on serving");
});

test("fetch: a server that is not there is a tool error", async (t) => {
	const gone = http.createServer();
	await new Promise((resolve) => gone.listen(0, "127.0.0.1", resolve));
	const closedPort = gone.address().port;
	await new Promise((resolve) => gone.close(resolve));
	const gw = start(t, web({ allow: [`127.0.0.1:${closedPort}`] }));
	await gw.initialize();
	refused(await call(gw, "web__get", { url: `http://127.0.0.1:${closedPort}/x` }), /cannot fetch .*connect/i);
});

let openssl = true;
try { execFileSync("openssl", ["version"], { stdio: "ignore" }); } catch { openssl = false; }

test("fetch verifies TLS: a self-signed server is refused, and reached with its certificate as ca_file",
	{ skip: !openssl && "the openssl command is not installed (Debian package openssl)" }, async (t) => {
	const dir = scratchDir();
	const key = path.join(dir, "key.pem");
	const cert = path.join(dir, "cert.pem");
	execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
		"-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
	const tls = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
		res.writeHead(200, { "content-type": "application/json" });
		res.end('{"secure":true}');
	});
	await new Promise((resolve) => tls.listen(0, "127.0.0.1", resolve));
	t.after(() => { tls.closeAllConnections(); tls.close(); });
	const url = `https://127.0.0.1:${tls.address().port}/`;
	const allow = [`127.0.0.1:${tls.address().port}`];
	const gw = start(t, web({ allow }));
	await gw.initialize();
	refused(await call(gw, "web__get", { url }), /cannot fetch .*certificate/i);
	const gw2 = start(t, web({ allow, ca_file: cert }));
	await gw2.initialize();
	assert.deepEqual(sc(await call(gw2, "web__get", { url })).json, { secure: true });
});

test("fetch: the call's deadline and its cancel end the transfer", async (t) => {
	const gw = start(t, web({ max_ms: 400 }));
	await gw.initialize();
	const gone = once(closed, "/slow");
	const t0 = Date.now();
	refused(await call(gw, "web__get", { url: `${base}/slow` }, { timeout: 5000 }), /past the call's time limit/);
	assert.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0} ms`);
	await withTimeout(gone, 5000, "the slow transfer's connection closed");

	const gw2 = start(t, web({ max_ms: 60000 }));
	await gw2.initialize();
	const seen = once(arrived, "/hang");
	const ended = once(closed, "/hang");
	gw2.send({ jsonrpc: "2.0", id: "hang", method: "tools/call", params: { name: "web__get", arguments: { url: `${base}/hang` } } });
	await withTimeout(seen, 5000, "the request at the server");
	gw2.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "hang" } });
	await withTimeout(ended, 5000, "the cancelled transfer's connection closed");
	const r = await call(gw2, "web__get", { url: `${base}/text` });
	assert.equal(sc(r).status, 200);
	assert.equal(gw2.unconsumed().filter((m) => m.id === "hang").length, 0, "no answer to the cancelled call");
});

test("reload fetch while a transfer runs: the old generation finishes it, closes libcurl and is unloaded", async (t) => {
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = closeAfter(t, startStdio({ config: luaConfig({ log_level: "info", admin: sock, providers: [web({ max_ms: 1500 })] }) }));
	await gw.initialize();
	const seen = once(arrived, "/held");
	const held = call(gw, "web__get", { url: `${base}/held` }, { timeout: 8000 });
	await withTimeout(seen, 5000, "the transfer at the server");
	const r = await admin(sock, "reload fetch");
	assert.equal(r.code, 200, JSON.stringify(r));
	assert.equal(r.body.outcome, "swapped", JSON.stringify(r.body));
	assert.equal(sc(await call(gw, "web__get", { url: `${base}/text` })).status, 200, "the new generation serves");
	refused(await held, /past the call's time limit/);
	await waitFor(() => /info plugin: unloaded plugin=fetch generation=1/.test(gw.stderrText()),
		{ timeout: 5000, what: `the old generation unloaded${logTail(gw.stderrText())}` });
	assert.equal(sc(await call(gw, "web__get", { url: `${base}/json` })).json.a, 1);
});

test("fetch checks its configuration, naming the key", async () => {
	for (const [extra, re] of [
		[{ allow: undefined }, /providers\[1\]\.allow/],
		[{ allow: ["a/b"] }, /providers\[1\]\.allow\[1\]: "a\/b" is no host/],
		[{ allow: ["*.*.x"] }, /allow\[1\]/],
		[{ allow: ["x:70000"] }, /allow\[1\]/],
		[{ max_redirects: 99 }, /providers\[1\]\.max_redirects/],
		[{ bogus: 1 }, /bogus/],
	]) {
		const provider = web(extra);
		if ("allow" in extra && extra.allow === undefined) delete provider.allow;
		const gw = startStdio({ config: luaConfig({ providers: [provider] }) });
		const st = await gw.waitExit(10000);
		assert.notEqual(st.code, 0, JSON.stringify(extra));
		assert.match(gw.stderrText(), re);
	}
});
