// Soak: mcpfed over HTTP with two providers of three replicas each (one_for_one and
// rest_for_one), N clients calling echo and sleep without pause (revision 2026-07-28, no
// sessions), while a chaos loop SIGKILLs a random child every 100-500 ms. Afterwards: every
// request got exactly one answer, a result or an error among -32011/-32010/-32001, none hung;
// the six children are back (admin status and /proc agree), no zombies; the gateway's RSS and
// open fds are within a small bound of what they were after the warm-up.
// Env: SOAK_SECONDS (default 180: a few minutes of chaos), SOAK_CLIENTS (16), SOAK_WARMUP_SECONDS (5), SOAK_LOG (a file
// where the gateway's whole log is written at the end).
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins SOAK_SECONDS=20 t/run-node-test t/soak/supervision-soak.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import {
	admin, childPids, directChildren, faulty, logTail, procStat, scratchDir, snapshot, stillAlive, waitFor, withTimeout,
} from "../lib/harness.mjs";
import { ACCEPT_BOTH, startHttpGateway } from "../lib/http.mjs";

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS || 180);
const CLIENTS = Number(process.env.SOAK_CLIENTS || 16);
const WARMUP_SECONDS = Number(process.env.SOAK_WARMUP_SECONDS || 5);
const REQUEST_BOUND_MS = 15000;   // a request with no answer this long is hung (calls time out at 5 s)
const ALLOWED = new Set([-32011, -32010, -32001]);
const RSS_GROWTH_KB = 10 * 1024;
const FD_GROWTH = 5;
const PROVIDERS = { o: "one_for_one", r: "rest_for_one" };
const REPLICAS = 3;

const MODERN = "2026-07-28";
const META = {
	"io.modelcontextprotocol/protocolVersion": MODERN,
	"io.modelcontextprotocol/clientCapabilities": {},
	"io.modelcontextprotocol/clientInfo": { name: "supervision-soak", version: "1" },
};

// --- /proc -------------------------------------------------------------------------------------

const rssKb = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
// TCP connections whose local end is port (the gateway's side), established or half-closed by
// the peer: the connections the gateway still holds open.
function serverConnections(port) {
	let n = 0;
	for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
		let text = "";
		try { text = fs.readFileSync(file, "utf8"); } catch { continue; }
		for (const line of text.split("\n").slice(1)) {
			const f = line.trim().split(/\s+/);
			if (f.length < 4) continue;
			const localPort = parseInt(f[1].split(":")[1], 16);
			if (localPort === port && (f[3] === "01" || f[3] === "08")) n++;
		}
	}
	return n;
}

// --- the load ------------------------------------------------------------------------------------

// One tools/call without a session; resolves (never rejects) to { status, text } or { error }.
function rpc(agent, url, id, name, args) {
	const body = JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args, _meta: META } });
	return new Promise((resolve) => {
		const req = http.request(url, {
			method: "POST", agent,
			headers: {
				"Content-Type": "application/json", Accept: ACCEPT_BOTH, "Content-Length": Buffer.byteLength(body),
				"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name,
			},
		}, (res) => {
			let text = "";
			res.setEncoding("utf8");
			res.on("data", (d) => { text += d; });
			res.on("end", () => resolve({ status: res.statusCode, type: res.headers["content-type"] || "", text }));
			res.on("error", (error) => resolve({ error }));
		});
		req.setTimeout(REQUEST_BOUND_MS, () => req.destroy(new Error(`no answer in ${REQUEST_BOUND_MS} ms`)));
		req.on("error", (error) => resolve({ error }));
		req.end(body);
	});
}

// The JSON-RPC messages of an answer: the body, or the data of its SSE events.
function messagesOf(r) {
	if (!r.type.startsWith("text/event-stream")) return [JSON.parse(r.text)];
	return r.text.split(/\n\n/).flatMap((block) => {
		const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
		return data ? [JSON.parse(data)] : [];
	});
}

function newStats() {
	return { sent: 0, results: 0, errors: {}, bad: [], hung: 0, answered: new Set() };
}

// A client: calls one after the other until stop() is true; every outcome goes to stats.
async function client(k, { agent, url, stats, stop, nextId }) {
	while (!stop()) {
		const id = nextId();
		const provider = Math.random() < 0.5 ? "o" : "r";
		const sleep = Math.random() < 0.3;
		const name = `${provider}__${sleep ? "sleep" : "echo"}`;
		const ms = Math.floor(Math.random() * 50);
		const expected = sleep ? `slept ${ms}` : `c${k}-${id}`;
		stats.sent++;
		const r = await rpc(agent, url, id, name, sleep ? { ms } : { text: expected });
		const bad = (why) => { if (stats.bad.length < 20) stats.bad.push(`${name} id ${id}: ${why}`); else stats.bad.push("..."); };
		if (r.error) {
			if (/no answer in/.test(r.error.message)) stats.hung++;
			bad(`no HTTP answer: ${r.error.message}`);
			continue;
		}
		if (r.status !== 200) { bad(`HTTP ${r.status}: ${r.text.slice(0, 200)}`); continue; }
		let msgs;
		try { msgs = messagesOf(r).filter((m) => m.id !== undefined && m.method === undefined); } catch (e) { bad(`not JSON: ${r.text.slice(0, 200)}`); continue; }
		if (msgs.length !== 1 || msgs[0].id !== id) { bad(`answers ${JSON.stringify(msgs).slice(0, 300)}`); continue; }
		if (stats.answered.has(id)) { bad("answered twice"); continue; }
		stats.answered.add(id);
		const m = msgs[0];
		if (("result" in m) === ("error" in m)) { bad(`neither or both result and error: ${JSON.stringify(m).slice(0, 300)}`); continue; }
		if (m.error) {
			stats.errors[m.error.code] = (stats.errors[m.error.code] || 0) + 1;
			if (!ALLOWED.has(m.error.code)) bad(`error ${JSON.stringify(m.error)}`);
			continue;
		}
		const text = m.result?.content?.[0]?.text;
		if (text !== expected) { bad(`result ${JSON.stringify(m.result).slice(0, 300)} (expected ${expected})`); continue; }
		stats.results++;
	}
}

// --- the test ------------------------------------------------------------------------------------

test(`soak: ${CLIENTS} clients calling while children are SIGKILLed at random for ${SOAK_SECONDS} s`,
	{ timeout: (SOAK_SECONDS + WARMUP_SECONDS + 180) * 1000 }, async (t) => {
		const sock = path.join(scratchDir(), "admin.sock");
		const restart = (strategy) => ({ strategy, backoff_min_ms: 20, backoff_max_ms: 400, intensity: 100000, period_ms: 60000 });
		const { gw, urls: [url] } = await startHttpGateway({
			log_level: "info",
			admin: sock,
			// this soak is about supervision: no circuit breaker refusing calls (-32013) while
			// a provider is being killed over and over
			breaker: false,
			listen: ["http://127.0.0.1:0/mcp"],
			providers: Object.entries(PROVIDERS).map(([name, strategy]) =>
				faulty(name, { replicas: REPLICAS, timeout_ms: 5000, restart: restart(strategy) })),
		}, { timeout: 15000, listed: Object.keys(PROVIDERS), listedTimeout: 20000 });
		const port = Number(new URL(url).port);
		const tail = () => logTail(gw.stderrText(), 4000);

		let stopLoad = true;
		let stopChaos = true;
		const agents = new Set();
		t.after(async () => {
			if (process.env.SOAK_LOG) fs.writeFileSync(process.env.SOAK_LOG, gw.stderrText());
			stopLoad = stopChaos = true;
			for (const a of agents) a.destroy();
			const snap = snapshot(childPids(gw.pid));
			if (!gw.exitStatus()) {
				gw.kill("SIGTERM");
				await gw.waitExit(15000).catch(() => { gw.kill("SIGKILL"); });
			}
			for (const { pid } of stillAlive(snap)) {
				try { process.kill(pid, "SIGKILL"); } catch {}
			}
		});

		const adminOk = async (command) => {
			const r = await admin(sock, command);
			assert.equal(r.code, 200, JSON.stringify(r));
			return r.body;
		};
		const readyLogged = (provider, pid) =>
			new RegExp(`info stdio: upstream ready provider=${provider} replica=\\d+ pid=${pid} `).test(gw.stderrText());

		// Everything back: six running, ready children, the same six pids in the tree and in
		// /proc, no zombies, nothing in flight; resolves to the tree.
		let lastTree;
		const allBack = (what) => waitFor(async () => {
			const tree = lastTree = await adminOk("supervision");
			const status = await adminOk("status");
			const kids = tree.supervisors.flatMap((s) => s.children.map((c) => ({ ...c, sup: s.name, supState: s.state })));
			const pids = kids.map((c) => c.pid).sort((a, b) => a - b);
			const live = directChildren(gw.pid).sort((a, b) => a - b);
			const ok = status.processes === 2 * REPLICAS && tree.processes === 2 * REPLICAS && kids.length === 2 * REPLICAS &&
				status.calls_in_flight === 0 && status.providers_up === 2 &&
				kids.every((c) => c.supState === "running" && c.state === "running" && c.pid > 0 && readyLogged(c.sup, c.pid)) &&
				JSON.stringify(pids) === JSON.stringify(live) && live.every((p) => procStat(p)?.[0] !== "Z");
			return ok && { tree, status, pids };
		}, { timeout: 20000, interval: 100, what: `${what}: six ready children, matching /proc, no zombies`,
		}).catch((e) => {
			throw new Error(`${e.message}\n--- supervision ---\n${JSON.stringify(lastTree)}\n--- mcpfed's children ---\n${directChildren(gw.pid).map((p) => `${p} ${procStat(p)?.[0]}`).join(", ")}${tail()}`);
		});

		let lastId = 0;
		const nextId = () => ++lastId;
		let kills = 0;
		const killed = new Set();
		async function chaos() {
			while (!stopChaos) {
				await delay(100 + Math.floor(Math.random() * 400));   // the chaos rate, not a synchronisation
				if (stopChaos) break;
				const tree = await adminOk("supervision");
				// running children not killed yet (the gateway may not have seen a death yet), alive
				// and still mcpfed's (not a reused pid)
				const victims = tree.supervisors.flatMap((s) => s.children).filter((c) => c.state === "running" && c.pid > 0 &&
					!killed.has(c.pid) && procStat(c.pid)?.[0] !== "Z" && Number(procStat(c.pid)?.[1]) === gw.pid);
				if (!victims.length) continue;
				const v = victims[Math.floor(Math.random() * victims.length)];
				try { process.kill(v.pid, "SIGKILL"); kills++; killed.add(v.pid); } catch {}
			}
		}

		const summary = (stats) => `${stats.sent} sent, ${stats.results} results, errors ${JSON.stringify(stats.errors)}, hung ${stats.hung}`;
		const checkStats = (stats, label) => {
			assert.deepEqual(stats.bad, [], `${label}: every request answered once, with a result or an allowed error (${summary(stats)})`);
			assert.equal(stats.hung, 0, `${label}: no hung request`);
			assert.equal(stats.answered.size, stats.sent, `${label}: as many answers as requests`);
			assert.equal(stats.results + Object.values(stats.errors).reduce((a, b) => a + b, 0), stats.sent);
			assert.ok(stats.results > stats.sent / 2, `${label}: most calls succeed (${summary(stats)})`);
		};

		// A phase: CLIENTS clients and the chaos loop for seconds; then all quiet again.
		async function phase(label, seconds) {
			const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
			agents.add(agent);
			const stats = newStats();
			stopLoad = stopChaos = false;
			const started = Date.now();
			const workers = Array.from({ length: CLIENTS }, (_, k) => client(k, { agent, url, stats, stop: () => stopLoad, nextId }));
			const chaosDone = chaos();
			// the one place the test waits for time itself: the length of the run
			await delay(seconds * 1000);
			stopChaos = true;
			stopLoad = true;
			await withTimeout(Promise.all([...workers, chaosDone]), REQUEST_BOUND_MS + 5000, `every request of the ${label} settled`, tail);
			const ms = Date.now() - started;
			console.log(`# ${label}, ${seconds} s, ${CLIENTS} clients: ${summary(stats)}; ${(stats.sent / (ms / 1000)).toFixed(0)} calls/s; ${kills} kills so far`);
			checkStats(stats, label);
			const back = await allBack(`after the ${label}`);
			agent.destroy();
			agents.delete(agent);
			await waitFor(() => serverConnections(port) === 0, { timeout: 10000, what: "the gateway closed its client connections" });
			return { stats, ms, back };
		}

		const measure = () => ({ rss: rssKb(gw.pid), fds: fdCount(gw.pid) });

		await allBack("start");
		const fresh = measure();
		await phase("warm-up", WARMUP_SECONDS);
		const kills0 = kills;
		const base = measure();

		const run = await phase("soak", SOAK_SECONDS);
		const end = measure();
		const restarts = run.back.tree.supervisors.flatMap((s) => s.children).reduce((a, c) => a + c.restarts, 0);
		console.log(`# ${kills - kills0} kills in the soak (${kills} with the warm-up), ${restarts} restarts in all`);
		console.log(`# gateway pid ${gw.pid}: RSS fresh ${fresh.rss} kB, after warm-up ${base.rss} kB, after the run ${end.rss} kB ` +
			`(${end.rss - base.rss >= 0 ? "+" : ""}${end.rss - base.rss} kB); fds ${fresh.fds} / ${base.fds} / ${end.fds}`);
		assert.ok(kills - kills0 >= SOAK_SECONDS, `the chaos loop killed ${kills - kills0} children`);
		assert.ok(restarts >= kills, `every kill was followed by a restart (${restarts} restarts, ${kills} kills)`);
		assert.ok(end.rss - base.rss < RSS_GROWTH_KB, `RSS grew by ${end.rss - base.rss} kB`);
		assert.ok(end.fds <= base.fds + FD_GROWTH, `fds: ${base.fds} after the warm-up, ${end.fds} after the run`);
		assert.equal(run.back.status.processes, 2 * REPLICAS);

		// and it still stops in order, leaving nothing behind
		const snap = snapshot(childPids(gw.pid));
		assert.equal(snap.length, 2 * REPLICAS, JSON.stringify(snap));
		gw.kill("SIGTERM");
		assert.deepEqual(await gw.waitExit(15000), { code: 0, signal: null }, tail());
		await waitFor(() => stillAlive(snap).length === 0, { timeout: 5000, what: `no child left (${JSON.stringify(stillAlive(snap))})` });
	});
