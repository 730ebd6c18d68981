// The file descriptor limit. A gateway started with a low limit (64, as `ulimit -n 64` sets
// it) keeps a reserve of descriptors for the admin socket, upstreams and plugin reloads, and
// caps client connections at what is left, logging the cap: idle clients beyond it get 503,
// not a reset; the admin socket still answers; an upstream killed meanwhile is restarted
// (its pipes need descriptors); and once clients go, new ones are served again.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/fd-limits.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import {
	admin, directChildren, faulty, killAll, logTail, luaConfig, mcpfedBin, scratchDir, startProcess, waitFor,
} from "../lib/harness.mjs";
import { initMsg } from "../lib/http.mjs";

const LIMIT = 64;

// A connection to port: its bytes as they come, and whether it ended.
function connect(port) {
	return new Promise((resolve, reject) => {
		const s = net.connect({ host: "127.0.0.1", port }, () => { s.off("error", reject); resolve(conn); });
		const conn = { s, buf: "", ended: false, error: null };
		s.setEncoding("latin1");
		s.on("data", (d) => { conn.buf += d; });
		s.on("end", () => { conn.ended = true; });
		s.on("close", () => { conn.ended = true; });
		s.on("error", (e) => { conn.error = e; conn.ended = true; });
		s.once("error", reject);
	});
}

// POST msg on conn; the status and body of the next answer (Content-Length framed), which
// may have come before the request did (a 503 is sent at once).
async function post(conn, port, msg, what) {
	const body = JSON.stringify(msg);
	if (!conn.ended) conn.s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
		`Accept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
	return waitFor(() => {
		const end = conn.buf.indexOf("\r\n\r\n");
		if (end < 0) {
			if (conn.ended) throw new Error(`the connection ended before an answer (${conn.error?.code || "closed"})`);
			return undefined;
		}
		const len = Number(/\r\ncontent-length: *(\d+)/i.exec(conn.buf.slice(0, end))?.[1] ?? 0);
		if (conn.buf.length < end + 4 + len) return undefined;
		const answer = { status: Number(conn.buf.slice(9, 12)), body: conn.buf.slice(end + 4, end + 4 + len) };
		conn.buf = conn.buf.slice(end + 4 + len);
		return answer;
	}, { timeout: 10000, what });
}

test("with 64 descriptors: clients beyond the logged cap get 503; the admin socket answers and a killed upstream restarts", async (t) => {
	const sock = path.join(scratchDir(), "admin.sock");
	const config = luaConfig({ listen: ["http://127.0.0.1:0/mcp"], admin: sock, providers: [faulty("p")] });
	// a soft limit of 32 under a hard one of 64: the gateway raises it to 64
	const gw = startProcess(["/bin/sh", "-c", `ulimit -Sn 32 && ulimit -Hn ${LIMIT} && exec "$0" "$@"`, mcpfedBin(), "-c", config]);
	t.after(() => killAll(gw));
	const log = () => gw.stderrText();
	const tail = () => logTail(log(), 4000);
	const port = Number((await waitFor(() => / info http: listening url=http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(log()),
		{ what: "the listening line" }))[1]);
	const cap = await waitFor(() => /info kernel: file descriptors limit=(\d+) reserved=(\d+) client_connections=(\d+)/.exec(log()),
		{ what: "the file descriptors line" });
	assert.equal(Number(cap[1]), LIMIT, `the soft limit raised to the hard one${tail()}`);
	const slots = Number(cap[3]);
	assert.ok(slots > 0 && slots < LIMIT - 20, `a cap below the limit, a reserve kept: ${cap[0]}`);
	await waitFor(() => / info stdio: upstream ready provider=p /.test(log()), { what: "the upstream ready" });

	// every slot taken by an idle client, each answered once to show it is held
	const idle = [];
	t.after(() => { for (const c of idle) c.s.destroy(); });
	for (let i = 0; i < slots; i++) {
		const c = await connect(port);
		idle.push(c);
		const r = await post(c, port, initMsg(1), `initialize on idle connection ${i}`);
		assert.equal(r.status, 200, `connection ${i} of ${slots}: ${r.body}${tail()}`);
	}

	// beyond the cap: 503 and close, one after the other and several at once
	for (let i = 0; i < 30; i++) {
		const c = await connect(port);
		const r = await post(c, port, initMsg(1), `the answer to client ${i} beyond the cap`);
		assert.equal(r.status, 503, `client ${i} beyond the cap: ${r.body}${tail()}`);
		assert.match(r.body, /too many connections/);
		await waitFor(() => c.ended, { what: "the close after the 503" });
		c.s.destroy();
	}
	const burst = await Promise.all(Array.from({ length: 5 }, () => connect(port)));
	for (const c of burst) {
		assert.equal((await post(c, port, initMsg(1), "a 503 in a burst")).status, 503);
		c.s.destroy();
	}

	// the admin socket answers
	const status = await admin(sock, "targets");
	assert.equal(status.code, 200, JSON.stringify(status));

	// the upstream, killed, is restarted: new pipes need descriptors
	const [child] = directChildren(gw.pid);
	assert.ok(child, "the upstream runs");
	process.kill(child, "SIGKILL");
	await waitFor(() => (log().match(/ info stdio: upstream ready provider=p /g) || []).length === 2,
		{ timeout: 15000, what: `the upstream restarted${tail()}` });
	assert.doesNotMatch(log(), /too many open files|EMFILE/i, tail());
	// and a held connection is still served
	const again = await post(idle[0], port, initMsg(2), "initialize again on a held connection");
	assert.equal(again.status, 200, again.body);

	// clients gone, their slots are free again
	for (const c of idle.splice(0)) c.s.destroy();
	await waitFor(async () => {
		const c = await connect(port);
		try { return (await post(c, port, initMsg(1), "initialize after the idle clients left")).status === 200; } finally { c.s.destroy(); }
	}, { timeout: 10000, what: "a new client served once the idle ones left" });
});
