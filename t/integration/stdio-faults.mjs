// Upstream faults behind mcpfed --stdio: an upstream exiting or killed mid-call, one that
// never answers, one that crash-loops, a replica killed while another waits for the client's
// answer to its question, and gateway shutdown by signal with upstreams that do or do not
// cooperate.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/stdio-faults.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
	admin, assertOnlyJsonRpc, call, childPids, cmdlineText, faulty, faultyAfter, luaConfig, nodeBin, scratchDir, snapshot,
	startStdio, stillAlive, textOf, waitFor, withTimeout,
} from "../lib/harness.mjs";

const configOf = (top) => luaConfig({ log_level: "debug", ...top });
const count = (text, re) => (text.match(new RegExp(re, "g")) || []).length;

test("upstream exits mid-call: every in-flight call gets -32011, then it is restarted", async (t) => {
	const gw = startStdio({ config: configOf({ providers: [faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	const pid1 = Number(textOf(await call(gw, "f__pid")));
	assert.ok(childPids(gw.pid).includes(pid1), "the upstream is the gateway's descendant");

	const started = Date.now();
	const inflight = [
		call(gw, "f__sleep", { ms: 10000 }, { timeout: 15000 }),
		call(gw, "f__sleep", { ms: 10000 }, { timeout: 15000 }),
		call(gw, "f__sleep", { ms: 10000 }, { timeout: 15000 }),
		call(gw, "f__die", {}, { timeout: 15000 }),
	];
	const answers = await withTimeout(Promise.all(inflight), 5000, "-32011 answers", () => gw.stderrText().slice(-2000));
	const elapsed = Date.now() - started;
	for (const a of answers) {
		assert.equal(a.error?.code, -32011, JSON.stringify(a));
		assert.match(a.error.message, /upstream exited with status 3 while handling the request/);
	}
	assert.ok(elapsed < 5000, `answered in ${elapsed} ms`);

	// Sent right after the failures: the upstream is down or restarting, so this call waits for it.
	const again = await call(gw, "f__pid", {}, { timeout: 10000 });
	const pid2 = Number(textOf(again));
	assert.ok(pid2 > 0 && pid2 !== pid1, `a new upstream answered: ${JSON.stringify(again)}`);
	assert.equal(textOf(await call(gw, "f__echo", { text: "back" })), "back");
	assert.match(gw.stderrText(), /restarting child child=f in_ms=100 /, "the first restart comes after 100 ms");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

test("upstream SIGKILLed from outside: in-flight call fails, the next one reaches a new upstream", async (t) => {
	const gw = startStdio({ config: configOf({ providers: [faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	const pid1 = Number(textOf(await call(gw, "f__pid")));
	const kids = childPids(gw.pid);
	assert.deepEqual(kids, [pid1], "the only descendant is the upstream");

	const sleeping = call(gw, "f__sleep", { ms: 10000 }, { timeout: 15000 });
	// The sleep is in flight once the echo sent after it is answered (one upstream, in order).
	assert.equal(textOf(await call(gw, "f__echo", { text: "sync" })), "sync");
	process.kill(pid1, "SIGKILL");
	const failed = await withTimeout(sleeping, 5000, "answer to the sleep of the killed upstream");
	assert.equal(failed.error?.code, -32011, JSON.stringify(failed));
	assert.match(failed.error.message, /signal 9/);

	const pid2 = Number(textOf(await call(gw, "f__pid", {}, { timeout: 10000 })));
	assert.ok(pid2 > 0 && pid2 !== pid1, `new upstream pid ${pid2}`);
	assert.deepEqual(childPids(gw.pid), [pid2]);
	assert.equal(textOf(await call(gw, "f__echo", { text: "recovered" })), "recovered");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("never-answering upstream: -32001 after the provider's timeout, session unaffected", async (t) => {
	const gw = startStdio({
		config: configOf({
			request_timeout_ms: 900,
			providers: [faulty("f", { timeout_ms: 500 }), faulty("g")],
		}),
	});
	t.after(() => gw.close());
	await gw.initialize();
	const t0 = Date.now();
	const [f, g] = await Promise.all([
		call(gw, "f__hang").then((r) => ({ r, ms: Date.now() - t0 })),
		call(gw, "g__hang").then((r) => ({ r, ms: Date.now() - t0 })),
	]);
	assert.equal(f.r.error?.code, -32001, JSON.stringify(f.r));
	assert.match(f.r.error.message, /Request timed out after 500 ms/);
	assert.ok(f.ms >= 400 && f.ms <= 3000, `provider timeout_ms: answered after ${f.ms} ms`);
	assert.equal(g.r.error?.code, -32001, JSON.stringify(g.r));
	assert.match(g.r.error.message, /Request timed out after 900 ms/);
	assert.ok(g.ms >= 800 && g.ms <= 3500, `request_timeout_ms: answered after ${g.ms} ms`);
	// The same upstream still serves other calls.
	assert.equal(textOf(await call(gw, "f__echo", { text: "alive" })), "alive");
	assert.equal(textOf(await call(gw, "g__echo", { text: "alive" })), "alive");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

test("an answer arriving after the timeout is dropped, not sent twice", async (t) => {
	const gw = startStdio({ config: configOf({ providers: [faulty("f", { timeout_ms: 1000 })] }) });
	t.after(() => gw.close());
	await gw.initialize();
	const late = await call(gw, "f__sleep", { ms: 1500 });
	assert.equal(late.error?.code, -32001, JSON.stringify(late));
	assert.match(late.error.message, /Request timed out after 1000 ms/);
	// Due at >= 1600 ms on the same upstream, so its answer follows the late one on the pipe.
	const next = await call(gw, "f__sleep", { ms: 600 });
	assert.equal(textOf(next), "slept 600", JSON.stringify(next));
	assert.equal(textOf(await call(gw, "f__echo", { text: "after" })), "after");
	const answersToLate = gw.stdoutLines.filter((l) => JSON.parse(l).id === late.id);
	assert.equal(answersToLate.length, 1, `one answer for id ${late.id}: ${answersToLate}`);
	assert.deepEqual(gw.unconsumed(), []);
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
});

test("crash-looping upstream is marked failed; the healthy one serves", async (t) => {
	const gw = startStdio({
		config: configOf({
			providers: [
				faulty("bad", {
					env: { FAULTY_EXIT_AT_START: "1" },
					restart: { backoff_min_ms: 10, intensity: 3, period_ms: 60000, cooldown_ms: 600000 },
				}),
				faulty("good"),
			],
		}),
	});
	t.after(() => gw.close());
	await gw.initialize();
	const t0 = Date.now();
	const list = await gw.request("tools/list", {});
	const names = list.result.tools.map((x) => x.name);
	assert.ok(names.includes("good__echo"), names.join(","));
	assert.deepEqual(names.filter((n) => n.startsWith("bad__")), [], "the failed provider lists nothing");
	await waitFor(() => /warn registry: provider failed provider=bad/.test(gw.stderrText()),
		{ timeout: 5000, what: "'provider failed' in the log" });
	assert.ok(Date.now() - t0 < 8000, "the catalog did not wait for catalog_wait_ms");

	const bad = await call(gw, "bad__echo", { text: "x" });
	assert.equal(bad.error?.code, -32602, JSON.stringify(bad));
	assert.match(bad.error.message, /Unknown tool: bad__echo/);
	assert.equal(textOf(await call(gw, "good__echo", { text: "fine" })), "fine");
	// Started once, restarted `intensity` times, then given up on (cooldown is 10 minutes).
	assert.equal(count(gw.stderrText(), "child started child=bad "), 4, gw.stderrText());
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assert.equal(count(gw.stderrText(), "child started child=bad "), 4);
});

test("upstream that fails after it was listed: -32010 until the cooldown passes, then back", async (t) => {
	const broken = path.join(scratchDir(), "broken");
	// Runs faulty unless the file "broken" exists; then it exits 1 at once.
	const cooldownMs = 2000;
	const gw = startStdio({
		config: configOf({
			providers: [
				faultyAfter("flaky", 'if [ -e "$BROKEN" ]; then exit 1; fi;', {
					env: { BROKEN: broken },
					restart: { backoff_min_ms: 10, intensity: 2, period_ms: 60000, cooldown_ms: cooldownMs },
				}),
				faulty("g"),
			],
		}),
	});
	t.after(() => gw.close());
	await gw.initialize();
	const pid1 = Number(textOf(await call(gw, "flaky__pid")));
	fs.writeFileSync(broken, "");
	const died = await call(gw, "flaky__die");
	assert.equal(died.error?.code, -32011, JSON.stringify(died));
	// Arrives while the supervisor is restarting it: waits, and fails with the reason as soon
	// as the start it waited for fails.
	const queued = await call(gw, "flaky__pid", {}, { timeout: 10000 });
	assert.equal(queued.error?.code, -32010, JSON.stringify(queued));
	assert.match(queued.error.message, /provider flaky: upstream exited with status 1 before it answered initialize/);
	await waitFor(() => /provider failed provider=flaky/.test(gw.stderrText()),
		{ timeout: 5000, what: "the supervisor giving up on flaky" });
	const failedAt = Date.now();

	const t0 = Date.now();
	const later = await call(gw, "flaky__echo", { text: "x" });
	assert.equal(later.error?.code, -32010, JSON.stringify(later));
	assert.match(later.error.message, /provider flaky is unavailable: /);
	assert.ok(Date.now() - t0 < 500, "fails at once");
	assert.equal(textOf(await call(gw, "g__echo", { text: "ok" })), "ok", "the other provider is unaffected");

	// Repaired: after the cooldown the supervisor tries again and calls succeed.
	fs.rmSync(broken);
	const unexpected = [];
	const pid2 = await waitFor(async () => {
		const r = await call(gw, "flaky__pid", {}, { timeout: 5000 });
		if (r.error && r.error.code !== -32010) unexpected.push(r);
		return r.result && Number(textOf(r));
	}, { timeout: cooldownMs + 5000, interval: 100, what: "flaky back after its cooldown" });
	assert.deepEqual(unexpected, [], "while cooling down, calls fail with -32010 only");
	const downFor = Date.now() - failedAt;
	assert.ok(downFor >= cooldownMs - 300, `unavailable for ${downFor} ms (cooldown ${cooldownMs} ms)`);
	assert.notEqual(pid2, pid1);
	assert.equal(textOf(await call(gw, "flaky__echo", { text: "back" })), "back");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
	test(`${signal} to the gateway: exit 0, upstreams and their process groups gone`, async (t) => {
		// The wrapper leaves a background sleep in the upstream's process group.
		const withGrandchild = faultyAfter("h", "sleep 1000 </dev/null >/dev/null 2>&1 &");
		const gw = startStdio({ config: configOf({ providers: [faulty("f"), withGrandchild] }) });
		t.after(() => gw.close());
		await gw.initialize();
		const fPid = Number(textOf(await call(gw, "f__pid")));
		const hPid = Number(textOf(await call(gw, "h__pid")));
		// Wait for the sleep too (it is forked before the exec, so it is already there; bounded anyway).
		const kids = await waitFor(() => {
			const k = childPids(gw.pid);
			return k.length >= 3 && k;
		}, { timeout: 3000, what: "three descendants" });
		assert.ok(kids.includes(fPid) && kids.includes(hPid), `${kids}`);
		assert.ok(kids.some((p) => /^sleep 1000/.test(cmdlineText(p))), kids.map(cmdlineText).join(" | "));
		const snap = snapshot(kids);

		const t0 = Date.now();
		gw.kill(signal);
		const status = await gw.waitExit(8000);
		assert.deepEqual(status, { code: 0, signal: null }, gw.stderrText());
		assert.ok(Date.now() - t0 < 8000);
				await waitFor(() => stillAlive(snap).length === 0, {
			timeout: 3000, what: `no descendants left (alive: ${JSON.stringify(stillAlive(snap))})`,
		});
		assert.match(gw.stderrText(), new RegExp(`shutting down reason="${signal}"`));
		assertOnlyJsonRpc(gw);
	});
}

test("upstream ignoring SIGTERM is SIGKILLed after its shutdown wait", async (t) => {
	const dir = scratchDir();
	const marker = path.join(dir, "signals");
	// A minimal MCP stdio server that ignores SIGTERM and the end of its input.
	const stubborn = `
const fs = require("fs");
const marker = process.env.MARKER;
process.on("SIGTERM", () => fs.appendFileSync(marker, "TERM\\n"));
process.stdin.on("end", () => fs.appendFileSync(marker, "EOF\\n"));
setInterval(() => {}, 1000);
const send = (m) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...m }) + "\\n");
let buf = "";
process.stdin.setEncoding("utf8").on("data", (d) => {
	buf += d;
	for (let i; (i = buf.indexOf("\\n")) >= 0; ) {
		const m = JSON.parse(buf.slice(0, i));
		buf = buf.slice(i + 1);
		if (m.id === undefined) continue;
		if (m.method === "initialize")
			send({ id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "stubborn", version: "1" } } });
		else if (m.method === "tools/list")
			send({ id: m.id, result: { tools: [{ name: "pid", inputSchema: { type: "object" } }] } });
		else if (m.method === "tools/call")
			send({ id: m.id, result: { content: [{ type: "text", text: String(process.pid) }] } });
		else send({ id: m.id, error: { code: -32601, message: "Method not found" } });
	}
});
fs.appendFileSync(marker, "READY\\n");
`;
	const shutdownMs = 500;
	const gw = startStdio({
		config: configOf({
			providers: [
				{
					name: "s", transport: "stdio", command: [nodeBin(), "-e", stubborn],
					env: { MARKER: marker }, restart: { shutdown_ms: shutdownMs },
				},
				faulty("f"),
			],
		}),
	});
	t.after(() => gw.close());
	await gw.initialize();
	const sPid = Number(textOf(await call(gw, "s__pid")));
	const fPid = Number(textOf(await call(gw, "f__pid")));
	const snap = snapshot(childPids(gw.pid));
	assert.ok(snap.some((s) => s.pid === sPid) && snap.some((s) => s.pid === fPid), JSON.stringify(snap));

	const t0 = Date.now();
	const status = await gw.close({ timeout: shutdownMs + 4000 });
	const elapsed = Date.now() - t0;
	assert.deepEqual(status, { code: 0, signal: null }, gw.stderrText());
	assert.ok(elapsed < shutdownMs + 3000, `gateway exited after ${elapsed} ms`);
	assert.ok(elapsed >= shutdownMs - 100, `it waited the shutdown grace (${elapsed} ms) before SIGKILL`);
	await waitFor(() => stillAlive(snap).length === 0, { timeout: 3000, what: "stubborn upstream gone" });
	const seen = fs.readFileSync(marker, "utf8");
	assert.match(seen, /TERM/, `the upstream got SIGTERM first: ${JSON.stringify(seen)}`);
	assertOnlyJsonRpc(gw);
});

test("a replica that exits leaves the other replica's question to the client answerable", async (t) => {
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({
		config: configOf({ admin: sock, providers: [faulty("f", { replicas: 2, env: { FAULTY_FEATURES: "1" } })] }),
	});
	t.after(() => gw.close());
	await gw.initialize({ capabilities: { sampling: {} } });
	await waitFor(() => count(gw.stderrText(), "info stdio: upstream ready provider=f ") === 2,
		{ timeout: 20000, what: "two ready replicas" });
	// one replica asks the client; the other one is killed meanwhile
	const asking = call(gw, "f__ask_sampling", { prompt: "still there?" }, { timeout: 15000 });
	const ask = await gw.next("sampling/createMessage");
	const idle = (await admin(sock, "targets")).body.targets.find((x) => x.provider === "f" && x.inflight === 0);
	assert.ok(idle, "a replica with nothing in flight");
	const sup = (await admin(sock, "supervision")).body.supervisors.find((x) => x.name === "f");
	const victim = sup.children.find((c) => c.name === idle.name);
	assert.ok(victim?.pid > 0, JSON.stringify(sup));
	process.kill(victim.pid, "SIGKILL");
	await waitFor(() => new RegExp(`child exited child=${idle.name} pid=${victim.pid} `).test(gw.stderrText()),
		{ what: "the replica's exit" });
	gw.send({ jsonrpc: "2.0", id: ask.id, result: { role: "assistant", content: { type: "text", text: "yes" }, model: "m" } });
	assert.equal(textOf(await asking), "sampled: yes");
	assertOnlyJsonRpc(gw);
});
