// Interop over Streamable HTTP: the official SDK clients (1.x, session era; 2.x, revision
// 2026-07-28 pinned and auto-negotiated) talk to mcpfed's HTTP listener, and mcpfed reaches
// HTTP upstreams of both eras: server-everything in its streamableHttp mode (sessions) and a
// 2.x createMcpHandler server (stateless 2026-07-28). So each client era meets each upstream
// era through the gateway. Ends with server-everything killed and restarted on its port.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/interop/sdk-http.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Client as Client1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as Http1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { Client as Client2, StreamableHTTPClientTransport as Http2 } from "@modelcontextprotocol/client";
import { faulty, killAll, logTail, nodeBin, serverPath, startProcess, waitFor, withTimeout } from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";

const textOf = (res) => res?.content?.[0]?.text;
const everythingJs = path.resolve(serverPath("."), "..", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");

let gw, gwUrl, modern, everything, evPort;
const log = () => logTail(gw?.stderrText(), 4000);
const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, log);
const clients = [];

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
		s.once("error", reject);
	});
}

// The local addresses listening on port (IPv4 and IPv6), from /proc/net/tcp*.
function listeners(port) {
	const out = [];
	for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
		let text;
		try { text = fs.readFileSync(f, "utf8"); } catch { continue; }
		for (const line of text.split("\n").slice(1)) {
			const cols = line.trim().split(/\s+/);
			if (cols.length < 4 || cols[3] !== "0A") continue; // LISTEN
			const [addr, p] = cols[1].split(":");
			if (parseInt(p, 16) === port) out.push(addr);
		}
	}
	return out;
}

async function startEverything(port) {
	const p = startProcess([nodeBin(), "--import", serverPath("loopback.mjs"), everythingJs, "streamableHttp"], { PORT: String(port) });
	await waitFor(() => p.stderrText().includes(`listening on port ${port}`) || p.exitStatus(),
		{ timeout: 15000, what: "server-everything listening" });
	assert.equal(p.exitStatus(), undefined, `server-everything runs: ${p.stderrText()}`);
	assert.deepEqual(listeners(port), ["0100007F"], "server-everything listens on 127.0.0.1 only");
	return p;
}

const count = (re) => (gw.stderrText().match(re) || []).length;

before(async () => {
	modern = startProcess([nodeBin(), serverPath("modern-http.mjs")]);
	const mm = await waitFor(() => /modern-http listening port=(\d+)/.exec(modern.stderrText()), { timeout: 10000, what: "modern-http listening" });
	evPort = await freePort();
	everything = await startEverything(evPort);

	const started = await startHttpGateway({
		log_level: "debug",
		listen: ["http://127.0.0.1:0/mcp"],
		providers: [
			faulty("f"),
			{
				name: "ev", transport: "http", url: `http://127.0.0.1:${evPort}/mcp`, protocol: "auto",
				headers: { Authorization: "Bearer x" }, backoff_min_ms: 50, backoff_max_ms: 300, connect_timeout_ms: 2000,
			},
			{ name: "m", transport: "http", url: `http://127.0.0.1:${mm[1]}/mcp`, protocol: "auto", headers: { Authorization: "Bearer gateway-m" } },
		],
	}, { timeout: 10000, listed: ["f", "ev", "m"], listedTimeout: 15000 });
	gw = started.gw;
	gwUrl = new URL(started.urls[0]);
});

// Cleanup only: t/run-node-test runs a file without --test, where a failing top-level after()
// hook does not fail the run, so the shutdown is checked by the last test instead.
after(async () => {
	for (const c of clients) await c.close().catch(() => {});
	await killAll(gw, modern, everything);
});

async function connect1(name = "sdk1-http", headers = {}) {
	const client = new Client1({ name, version: "1.0.0" });
	clients.push(client);
	await bounded(client.connect(new Http1(gwUrl, { requestInit: { headers } })), "1.x connect");
	return client;
}

async function connect2(mode, name = "sdk2-http") {
	const client = new Client2({ name, version: "1.0.0" }, { versionNegotiation: { mode } });
	clients.push(client);
	await bounded(client.connect(new Http2(gwUrl)), `2.x connect (${JSON.stringify(mode)})`);
	return client;
}

test("the upstreams came up in their eras", () => {
	assert.match(gw.stderrText(), /http: upstream ready provider=ev url=\S+ era=session protocol=2025-\d\d-\d\d session=\S+ server="mcp-servers\/everything"/);
	assert.match(gw.stderrText(), /http: upstream ready provider=m url=\S+ era=stateless protocol=2026-07-28 session=- server="modern-http"/);
});

test("(a) 1.x SDK client over HTTP: lists and calls tools, an upstream death is -32011, then recovery", async () => {
	const client = await connect1();
	assert.equal(client.getServerVersion()?.name, "mcpfed");
	assert.equal(client.getServerCapabilities()?.tools?.listChanged, true);
	const { tools } = await bounded(client.listTools(), "listTools");
	const names = tools.map((x) => x.name);
	for (const n of ["f__echo", "f__die", "ev__echo", "ev__get-sum", "m__echo", "m__pid"]) assert.ok(names.includes(n), `${n} in ${names.join(",")}`);

	assert.equal(textOf(await bounded(client.callTool({ name: "f__echo", arguments: { text: "one" } }), "f__echo")), "one");
	const pid1 = Number(textOf(await bounded(client.callTool({ name: "f__pid", arguments: {} }), "f__pid")));

	// The upstream dies with the call in flight: a protocol error -32011, promptly.
	const started = Date.now();
	await assert.rejects(bounded(client.callTool({ name: "f__die", arguments: {} }), "f__die", 8000),
		(e) => e instanceof McpError && e.code === -32011 && /exited/.test(e.message));
	assert.ok(Date.now() - started < 5000, `failed in ${Date.now() - started} ms`);

	// The gateway restarts it; this client's session is unaffected.
	const back = await bounded(client.callTool({ name: "f__echo", arguments: { text: "two" } }), "f__echo after the death");
	assert.equal(textOf(back), "two");
	const pid2 = Number(textOf(await bounded(client.callTool({ name: "f__pid", arguments: {} }), "f__pid again")));
	assert.ok(pid2 > 0 && pid2 !== pid1, `a new upstream process (${pid1} → ${pid2})`);

	// An unknown tool is -32602.
	await assert.rejects(bounded(client.callTool({ name: "f__nope", arguments: {} }), "unknown tool"),
		(e) => e instanceof McpError && e.code === -32602);
});

test("(c) 1.x client → gateway → server-everything over HTTP (session-era upstream)", async () => {
	const client = await connect1();
	const echo = await bounded(client.callTool({ name: "ev__echo", arguments: { message: "through http" } }), "ev__echo");
	assert.equal(textOf(echo), "Echo: through http");
	const sum = await bounded(client.callTool({ name: "ev__get-sum", arguments: { a: 20, b: 22 } }), "ev__get-sum");
	assert.match(textOf(sum), /\b42\b/);
});

for (const [label, mode] of [["pin 2026-07-28", { pin: "2026-07-28" }], ["auto", "auto"]]) {
	test(`(b) 2.x client (${label}) through the gateway is modern, lists and calls tools of every upstream`, async () => {
		const client = await connect2(mode);
		assert.equal(client.getProtocolEra(), "modern");
		assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
		const { tools } = await bounded(client.listTools(), "listTools");
		const names = tools.map((x) => x.name);
		for (const n of ["f__echo", "ev__echo", "m__echo"]) assert.ok(names.includes(n), `${n} in ${names.join(",")}`);
		assert.equal(textOf(await bounded(client.callTool({ name: "f__echo", arguments: { text: "v2" } }), "f__echo")), "v2");
		// (d) a 2026-07-28 client reaching a session-era upstream
		assert.equal(textOf(await bounded(client.callTool({ name: "ev__echo", arguments: { message: "v2" } }), "ev__echo")), "Echo: v2");
		// and a 2026-07-28 upstream
		assert.equal(textOf(await bounded(client.callTool({ name: "m__echo", arguments: { text: "v2" } }), "m__echo")), "modern(modern): v2");
	});
}

test("(d) era translation: a 1.x (session-era) client uses a 2026-07-28 upstream through the gateway", async () => {
	// The client brings a credential of its own: it is for the gateway, not for upstreams.
	const client = await connect1("sdk1-http", { Authorization: "Bearer client-secret" });
	const r = await bounded(client.callTool({ name: "m__echo", arguments: { text: "old to new" } }), "m__echo");
	// "modern" is the era the upstream saw: the gateway spoke 2026-07-28 to it
	assert.equal(textOf(r), "modern(modern): old to new");
	const pid = Number(textOf(await bounded(client.callTool({ name: "m__pid", arguments: {} }), "m__pid")));
	assert.equal(pid, modern.pid);
	// What the upstream received: the 2026-07-28 headers, the configured credential only.
	const lines = modern.stderrText().split("\n").filter((l) => l.startsWith("modern-http request "));
	const echoReq = lines.filter((l) => l.includes('mcp-method="tools/call"') && l.includes('mcp-name="echo"'));
	assert.ok(echoReq.length >= 1, `a tools/call of echo reached the upstream:\n${lines.join("\n")}`);
	for (const l of echoReq) {
		assert.match(l, /^modern-http request POST \/mcp authorization="Bearer gateway-m" mcp-protocol-version="2026-07-28" .* mcp-session-id=null$/, l);
	}
	assert.ok(lines.every((l) => l.includes('authorization="Bearer gateway-m"')), `every request carries the configured credential:\n${lines.join("\n")}`);
	assert.ok(!modern.stderrText().includes("client-secret"), "the client's own token never reaches an upstream");
	assert.ok(lines.every((l) => / (POST) /.test(l)), `no GET or DELETE to a stateless upstream:\n${lines.join("\n")}`);
});

test("server-everything restarted between calls: the next call re-establishes the session by itself", async () => {
	// The gateway holds a session with the old process; the new one does not know it and
	// answers 400 "No valid session ID provided" (server-everything says 400, not 404). The
	// gateway should initialize again and send the call once more, so the client sees success.
	const client = await connect1();
	assert.equal(textOf(await bounded(client.callTool({ name: "ev__echo", arguments: { message: "x" } }), "ev__echo")), "Echo: x");
	const readyBefore = count(/upstream ready provider=ev /g);
	everything.kill("SIGKILL");
	await everything.waitExit(5000);
	everything = await startEverything(evPort);
	const r = await bounded(client.callTool({ name: "ev__echo", arguments: { message: "first after restart" } }), "ev__echo after a restart")
		.catch((e) => { throw new Error(`the first call after the restart failed: ${e.message}${log()}`); });
	assert.equal(textOf(r), "Echo: first after restart");
	assert.ok(count(/upstream ready provider=ev /g) > readyBefore, "a new upstream session was initialized");
});

test("(c) server-everything killed: calls fail promptly and clearly; restarted on its port: calls work again", async () => {
	const client = await connect1();
	// Precondition (bounded): ev works. After the previous test it may take the gateway a
	// moment to notice a stale upstream session if that test found the bug it looks for.
	await waitFor(async () => textOf(await client.callTool({ name: "ev__echo", arguments: { message: "before" } })) === "Echo: before",
		{ timeout: 5000, interval: 100, what: `ev__echo to work${log()}` });
	const readyBefore = count(/upstream ready provider=ev /g);

	everything.kill("SIGKILL");
	await everything.waitExit(5000);
	assert.deepEqual(listeners(evPort), [], "nothing listens on the port any more");

	// A call now fails (no hang) with an error that names the provider.
	const started = Date.now();
	const err = await bounded(client.callTool({ name: "ev__echo", arguments: { message: "down" } }).then(
		(r) => { throw new Error(`expected a failure, got ${JSON.stringify(r)}`); }, (e) => e), "a failing ev__echo", 8000);
	assert.ok(err instanceof McpError, `an MCP error: ${err}`);
	assert.ok([-32011, -32010].includes(err.code), `code ${err.code}: ${err.message}`);
	assert.match(err.message, /\bev\b/, "the message names the provider");
	assert.ok(Date.now() - started < 5000, `failed in ${Date.now() - started} ms`);
	// Other providers are unaffected.
	assert.equal(textOf(await bounded(client.callTool({ name: "f__echo", arguments: { text: "ok" } }), "f__echo meanwhile")), "ok");
	// Calls keep failing promptly while it is down.
	for (let i = 0; i < 3; i++) {
		const t0 = Date.now();
		await assert.rejects(bounded(client.callTool({ name: "ev__echo", arguments: { message: "still down" } }), "ev__echo down", 8000),
			(e) => e instanceof McpError && [-32011, -32010].includes(e.code));
		assert.ok(Date.now() - t0 < 5000, `failed in ${Date.now() - t0} ms`);
	}

	everything = await startEverything(evPort);
	// The gateway reconnects with a new session (a new initialize: a second "upstream ready").
	let last;
	await waitFor(async () => {
		try {
			last = await client.callTool({ name: "ev__echo", arguments: { message: "after" } });
			return textOf(last) === "Echo: after";
		} catch (e) {
			last = e;
			return false;
		}
	}, { timeout: 10000, interval: 100, what: "ev__echo to work again" }).catch((e) => {
		throw new Error(`${e.message}; last outcome: ${last}${log()}`);
	});
	assert.ok(count(/upstream ready provider=ev /g) > readyBefore, "a new upstream session was initialized");
	const sessions = [...gw.stderrText().matchAll(/upstream ready provider=ev \S+ era=session \S+ session=(\S+)/g)].map((m) => m[1]);
	assert.notEqual(sessions.at(-1), sessions.at(-2), `a different session id: ${sessions}`);
	// and a 2.x client gets through as well
	const c2 = await connect2({ pin: "2026-07-28" });
	assert.equal(textOf(await bounded(c2.callTool({ name: "ev__echo", arguments: { message: "v2 after" } }), "2.x ev__echo after")), "Echo: v2 after");
});

test("the gateway shuts down cleanly on SIGTERM and ends its upstream session", async () => {
	for (const c of clients.splice(0)) await bounded(c.close(), "client close");
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, `gateway exit${log()}`);
	assert.match(gw.stderrText(), /info kernel: stopped/);
	// The session-era upstream was told: DELETE with the session id.
	await waitFor(() => everything.stdoutLines.some((l) => l.startsWith("Received session termination request")),
		{ timeout: 3000, what: `server-everything to log the DELETE (stdout: ${everything.stdoutLines.slice(-5).join(" | ")})` });
	assert.equal(modern.exitStatus(), undefined, "the upstreams are not the gateway's to stop");
});
