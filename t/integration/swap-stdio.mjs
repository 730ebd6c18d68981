// Hot swap of the stdio plugin (admin `reload stdio`) while it serves, with real processes:
// the client on the gateway's stdin/stdout and the upstream servers (t/servers/faulty.mjs)
// carry on across the switch. Under load every call gets exactly one answer and the
// upstream processes stay the same; requests written just before a switch are not refused;
// replicas keep their ready state and their calls in flight, a replica still starting keeps
// its initialize request and deadline; a question the upstream asks the client survives the
// switch; stdin as a regular file is read on from where the old generation stopped; a
// client slow to read delays the handover until its answers are written, and one that does
// not read makes it fail in time, leaving the old generation serving with nothing lost.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/swap-stdio.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
	admin, closeAfter, assertOnlyJsonRpc, call, faulty, isJsonRpcLine, logTail, luaConfig, mcpfedBin, scratchDir,
	startStdio, textOf, waitFor, withTimeout,
} from "../lib/harness.mjs";

// --- the gateway ------------------------------------------------------------------------------

const log = (gw) => gw.stderrText();
const tail = (gw) => logTail(log(gw), 4000);
const count = (text, re) => (text.match(new RegExp(re, "g")) || []).length;
const logged = (gw, re, timeout = 5000) =>
	waitFor(() => re.test(log(gw)), { timeout, what: `${re} in the log${tail(gw)}` });


// mcpfed --stdio with an admin socket of its own.
function start(t, top) {
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({ config: luaConfig({ log_level: "info", admin: sock, ...top }) });
	gw.sock = sock;
	closeAfter(t, gw);
	return gw;
}

async function adminOk(gw, command) {
	const r = await admin(gw.sock, command);
	assert.equal(r.code, 200, `admin ${command}: ${JSON.stringify(r)}${tail(gw)}`);
	return r.body;
}

// The stdio modules loaded: [{generation, state, instances}], oldest first.
const stdioModules = async (gw) =>
	(await adminOk(gw, "plugins")).plugins.filter((p) => p.name === "stdio").sort((a, b) => a.generation - b.generation);

// reload stdio, which must swap every instance; its report.
async function reloadOk(gw, { timeout = 10000 } = {}) {
	const r = await admin(gw.sock, "reload stdio", { timeout });
	assert.equal(r.code, 200, `reload stdio: ${JSON.stringify(r)}${tail(gw)}`);
	assert.equal(r.body.outcome, "swapped", JSON.stringify(r.body));
	assert.ok(r.body.instances.length > 0 && r.body.instances.every((i) => i.result === "swapped"), JSON.stringify(r.body));
	assert.equal(r.body.generation, r.body.previous_generation + 1, JSON.stringify(r.body));
	return r.body;
}

// The upstream processes of the supervision tree: { "<child name>": pid }.
async function upstreamPids(gw, provider) {
	const sup = (await adminOk(gw, "supervision")).supervisors.find((s) => s.name === provider);
	assert.ok(sup, `supervisor ${provider}${tail(gw)}`);
	return Object.fromEntries(sup.children.map((c) => [c.name, c.pid]));
}

// Every target of provider up; their number.
async function targetsUp(gw, provider, n, timeout = 20000) {
	return waitFor(async () => {
		const ts = (await adminOk(gw, "targets")).targets.filter((x) => x.provider === provider);
		return ts.length === n && ts.every((x) => x.up) && ts;
	}, { timeout, interval: 50, what: `${n} targets of ${provider} up${tail(gw)}` });
}

// Nothing went wrong in the gateway: no error or warning in its log.
function assertQuietLog(gw) {
	const bad = log(gw).split("\n").filter((l) => / (error|warn) /.test(l));
	assert.deepEqual(bad, [], `no error or warning in the log${tail(gw)}`);
}

// Each response id on stdout exactly once.
function assertAnsweredOnce(gw) {
	const seen = new Map();
	for (const line of gw.stdoutLines) {
		const m = JSON.parse(line);
		if (m.id !== undefined && m.method === undefined) seen.set(JSON.stringify(m.id), (seen.get(JSON.stringify(m.id)) || 0) + 1);
	}
	const twice = [...seen].filter(([, n]) => n > 1);
	assert.deepEqual(twice, [], "no request answered twice");
}

const echoPid = (res) => Number(/^pid=(\d+)$/.exec(res.result?.content?.[1]?.text ?? "")?.[1]);

// p50, p99 and max of a list of milliseconds.
function percentiles(ms) {
	const s = [...ms].sort((a, b) => a - b);
	if (!s.length) return "n=0";
	const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)].toFixed(1);
	return `n=${s.length} p50=${at(0.5)} p99=${at(0.99)} max=${at(1)} ms`;
}

// --- under load -------------------------------------------------------------------------------

test("reload stdio ten times under load: every call answered once, same upstream process, no error", async (t) => {
	// echo takes 20 ms upstream, so that many calls are in flight at each switch
	const gw = start(t, { providers: [faulty("p", { env: { FAULTY_SLOW_MS: "20" } })] });
	await gw.initialize();
	await targetsUp(gw, "p", 1);
	const pidsBefore = await upstreamPids(gw, "p");
	const initialGeneration = (await stdioModules(gw))[0].generation;

	// 8 callers, each its calls one after the other on the one stdin; every fourth call sleeps
	// 150 ms upstream
	const calls = []; // {start, end, ok, why}
	let running = true;
	const caller = async (c) => {
		for (let i = 0; running; i++) {
			const slow = i % 4 === 3;
			const began = performance.now();
			let ok = false, why = "";
			try {
				const res = slow ? await call(gw, "p__sleep", { ms: 150 }, { timeout: 15000 })
					: await call(gw, "p__echo", { text: `c${c}-${i}` }, { timeout: 15000 });
				const want = slow ? "slept 150" : `c${c}-${i}`;
				ok = textOf(res) === want && !res.result.isError;
				if (!ok) why = JSON.stringify(res).slice(0, 300);
			} catch (e) {
				why = e.message.slice(0, 300);
			}
			calls.push({ start: began, end: performance.now(), ok, why, slow });
		}
	};
	const callers = Array.from({ length: 8 }, (_, c) => caller(c));

	// ten reloads spread over about 3 s
	const reloads = []; // {start, end}
	let generation = initialGeneration;
	for (let k = 0; k < 10; k++) {
		await new Promise((r) => setTimeout(r, 250));
		const began = performance.now();
		const report = await reloadOk(gw);
		reloads.push({ start: began, end: performance.now() });
		assert.equal(report.previous_generation, generation, JSON.stringify(report));
		generation = report.generation;
		const roles = report.instances.map((i) => `${i.role} ${i.name}`).sort();
		assert.deepEqual(roles, ["provider p", "transport stdio"], JSON.stringify(report));
		const current = (await stdioModules(gw)).filter((m) => m.state === "current");
		assert.deepEqual(current.map((m) => m.generation), [generation], "admin plugins: the new generation is current");
	}
	await new Promise((r) => setTimeout(r, 300));
	running = false;
	await withTimeout(Promise.all(callers), 20000, "the callers to finish");

	const failed = calls.filter((c) => !c.ok);
	assert.equal(failed.length, 0, `failed calls: ${JSON.stringify(failed.slice(0, 5))}${tail(gw)}`);
	assert.ok(calls.length > 100, `calls made: ${calls.length}`);
	assert.equal(generation, initialGeneration + 10);

	// the old generations drain and are unloaded; the current one runs both instances
	await waitFor(async () => (await stdioModules(gw)).length === 1, { what: `one stdio generation left${tail(gw)}` });
	const [mod] = await stdioModules(gw);
	assert.equal(mod.generation, generation);
	assert.deepEqual(mod.instances.map((i) => `${i.role} ${i.state}`).sort(), ["provider running", "transport running"]);

	// the same upstream process throughout: never restarted, never initialized again
	assert.deepEqual(await upstreamPids(gw, "p"), pidsBefore);
	assert.equal(count(log(gw), "info supervisor: child started"), 1, tail(gw));
	assert.equal(count(log(gw), "info stdio: upstream ready"), 1, tail(gw));
	assert.equal(count(log(gw), "info swap: handed over"), 20, tail(gw));
	assert.equal((await targetsUp(gw, "p", 1))[0].up, true);

	// and a call still works on the last generation
	assert.equal(textOf(await call(gw, "p__echo", { text: "after" })), "after");
	assertOnlyJsonRpc(gw);
	assertAnsweredOnce(gw);
	assertQuietLog(gw);

	const overlaps = (c) => reloads.some((r) => c.start <= r.end && c.end >= r.start);
	for (const [what, slow] of [["echo (20 ms)", false], ["sleep (150 ms)", true]]) {
		const mine = calls.filter((c) => c.slow === slow);
		t.diagnostic(`${what} calls overlapping a reload: ${percentiles(mine.filter(overlaps).map((c) => c.end - c.start))}`);
		t.diagnostic(`${what} calls not overlapping one: ${percentiles(mine.filter((c) => !overlaps(c)).map((c) => c.end - c.start))}`);
	}
	t.diagnostic(`reloads (admin round trip): ${percentiles(reloads.map((r) => r.end - r.start))}`);
});

test("a client that writes requests without waiting: none sent just before a switch is refused or lost", async (t) => {
	// no provider: the kernel answers pings at once, so requests are read in the same loop
	// turns as the reload commands
	const gw = start(t, {});
	await gw.initialize();
	const base = gw.stdoutLines.length;
	let sent = 0, running = true;
	const writer = (async () => {
		while (running) {
			if (sent - (gw.stdoutLines.length - base) < 500)
				for (let i = 0; i < 5; i++) gw.send({ jsonrpc: "2.0", id: `q${sent++}`, method: "ping" });
			await new Promise((r) => setImmediate(r));
		}
	})();
	for (let k = 0; k < 60; k++) await reloadOk(gw);
	running = false;
	await writer;
	await waitFor(() => gw.stdoutLines.length - base === sent, { timeout: 20000, what: `answers to ${sent} pings${tail(gw)}` });
	const answers = gw.stdoutLines.slice(base).map((l) => JSON.parse(l));
	const bad = answers.filter((m) => !m.result);
	assert.deepEqual(bad.slice(0, 3), [], `${bad.length} of ${sent} pings not answered with a result`);
	assert.ok(sent > 1000, `pings sent: ${sent}`);
	assertAnsweredOnce(gw);
	assertQuietLog(gw);
});

// --- replicas -------------------------------------------------------------------------------

test("replicas: both processes, their ready state and their calls in flight survive a reload", async (t) => {
	const gw = start(t, {
		providers: [faulty("p", { replicas: 2, env: { FAULTY_SLOW_MS: "800", FAULTY_ECHO_PID: "1" } })],
	});
	await gw.initialize();
	await targetsUp(gw, "p", 2);
	const pids = await upstreamPids(gw, "p");
	assert.equal(Object.keys(pids).length, 2);

	// two slow calls on each replica, in flight at the switch
	const inflight = [1, 2, 3, 4].map((i) => call(gw, "p__echo", { text: `x${i}` }, { timeout: 15000 }));
	await waitFor(async () => {
		const ts = (await adminOk(gw, "targets")).targets.filter((x) => x.provider === "p");
		return ts.length === 2 && ts.every((x) => x.inflight >= 1);
	}, { what: `calls in flight on both replicas${tail(gw)}` });
	await reloadOk(gw);
	const answers = await Promise.all(inflight);
	assert.deepEqual(answers.map(textOf), ["x1", "x2", "x3", "x4"], JSON.stringify(answers));
	assert.deepEqual(new Set(answers.map(echoPid)), new Set(Object.values(pids)), "both replicas answered");

	// still two ready replicas, the same processes, never initialized again, never down
	const ts = await targetsUp(gw, "p", 2);
	assert.ok(ts.every((x) => x.inflight === 0), JSON.stringify(ts));
	assert.deepEqual(await upstreamPids(gw, "p"), pids);
	assert.equal(count(log(gw), "info stdio: upstream ready"), 2, tail(gw));
	// and the successor spreads new calls over both
	const later = await Promise.all([1, 2, 3, 4].map((i) => call(gw, "p__echo", { text: `y${i}` }, { timeout: 15000 })));
	assert.deepEqual(later.map(textOf), ["y1", "y2", "y3", "y4"]);
	assert.deepEqual(new Set(later.map(echoPid)), new Set(Object.values(pids)), "both replicas serve after the switch");
	assertAnsweredOnce(gw);
	assertQuietLog(gw);
});

test("a replica still starting at the switch keeps its initialize request and deadline", async (t) => {
	// held: the process does not read its input, so it cannot answer initialize yet
	const hold = path.join(scratchDir(), "hold");
	fs.writeFileSync(hold, "");
	const gw = start(t, {
		providers: [faulty("p", { init_timeout_ms: 2500, env: { FAULTY_HOLD_FILE: hold } })],
	});
	await logged(gw, /info supervisor: child started child=p pid=\d+/);
	// a call waits for the replica, in the provider's queue, across the switch
	const waiting = call(gw, "p__echo", { text: "queued" }, { timeout: 20000 });
	await new Promise((r) => setTimeout(r, 1200));
	await reloadOk(gw);
	// the deadline carried over: the successor gives up 2.5 s after the start, not after the
	// switch (which would be 3.7 s or more); times from the gateway's log
	await logged(gw, /no answer to initialize in time/, 6000);
	const at = (re) => Date.parse(log(gw).split("\n").find((l) => re.test(l)).split(" ")[0]);
	const tookMs = at(/no answer to initialize in time/) - at(/info supervisor: child started child=p /);
	const switchMs = at(/info swap: handed over instance="provider p"/) - at(/info supervisor: child started child=p /);
	assert.ok(switchMs >= 1200, `the switch came ${switchMs} ms after the start`);
	assert.ok(tookMs >= 2400 && tookMs < 3200, `the initialize deadline passed ${tookMs} ms after the start${tail(gw)}`);
	// released, the restarted process answers initialize to the successor
	fs.rmSync(hold);
	await targetsUp(gw, "p", 1);
	await gw.initialize();
	assert.equal(textOf(await waiting), "queued");
	assert.equal(textOf(await call(gw, "p__echo", { text: "later" })), "later");
	assertAnsweredOnce(gw);
});

test("initialize unanswered at the switch: the process answers the successor, which takes it as ready", async (t) => {
	// held: the process reads nothing until the hold file goes, so the initialize the old
	// generation wrote waits in its pipe across the switch
	const hold = path.join(scratchDir(), "hold");
	fs.writeFileSync(hold, "");
	const gw = start(t, { providers: [faulty("p", { env: { FAULTY_HOLD_FILE: hold } })] });
	await logged(gw, /info supervisor: child started child=p pid=\d+/);
	await reloadOk(gw);
	fs.rmSync(hold);
	await targetsUp(gw, "p", 1);
	assert.equal(count(log(gw), "info supervisor: child started"), 1, tail(gw));
	await gw.initialize();
	assert.equal(textOf(await call(gw, "p__echo", { text: "up" })), "up");
	assertAnsweredOnce(gw);
	assertQuietLog(gw);
});

// --- the upstream asks the client ---------------------------------------------------------------

test("a question the upstream asks the client across a reload is answered to the right process", async (t) => {
	const gw = start(t, { providers: [faulty("p", { env: { FAULTY_FEATURES: "1" } })] });
	await gw.initialize({ capabilities: { sampling: {} } });
	await targetsUp(gw, "p", 1);
	const pending = call(gw, "p__ask_sampling", { prompt: "hello" }, { timeout: 15000 });
	const ask = await gw.next("sampling/createMessage");
	await reloadOk(gw);
	gw.send({ jsonrpc: "2.0", id: ask.id, result: { role: "assistant", content: { type: "text", text: "hi there" }, model: "m" } });
	assert.equal(textOf(await pending), "sampled: hi there");
	assertAnsweredOnce(gw);
	assertQuietLog(gw);
});

// --- stdin as a regular file -----------------------------------------------------------------

// mcpfed with stdin read from file and stdout written to a regular file of its own; resolves
// once it exited, to its exit status, with lines() the messages it wrote.
function runWithFiles(t, file, top) {
	const sock = path.join(scratchDir(), "admin.sock");
	const outFile = path.join(scratchDir(), "stdout.jsonl");
	const config = luaConfig({ log_level: "info", admin: sock, ...top });
	const fdIn = fs.openSync(file, "r");
	const fdOut = fs.openSync(outFile, "w");
	const child = spawn(mcpfedBin(), ["--stdio", "-c", config], { stdio: [fdIn, fdOut, "pipe"] });
	fs.closeSync(fdIn);
	fs.closeSync(fdOut);
	let stderr = "";
	child.stderr.setEncoding("utf8").on("data", (d) => { stderr += d; });
	// exited, and all it logged read
	const exited = Promise.all([
		new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal }))),
		new Promise((resolve) => child.stderr.on("close", resolve)),
	]).then(([status]) => status);
	const gw = {
		pid: child.pid, sock, stderrText: () => stderr, exitStatus: () => null,
		lines: () => fs.readFileSync(outFile, "utf8").split("\n").filter(Boolean),
		close: async () => { child.kill("SIGKILL"); await exited; },
	};
	exited.then((s) => { gw.exitStatus = () => s; });
	closeAfter(t, gw);
	return { gw, exited };
}

test("stdin and stdout as regular files: reloads while stdin is read go on from the same offsets", async (t) => {
	// requests, then a 512 MiB line of NULs (a hole in a sparse file: read, dropped as too long,
	// while the reloads happen), then more requests; slow calls are in flight meanwhile
	const dir = scratchDir();
	const file = path.join(dir, "requests.jsonl");
	const req = (id, method, params) => JSON.stringify({ jsonrpc: "2.0", id, method, params });
	const calls = (ids) => ids.map((id) => req(id, "tools/call", { name: "p__echo", arguments: { text: id } })).join("\n") + "\n";
	const head = [
		req("init", "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "file", version: "1" } }),
		JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
	].join("\n") + "\n" + calls(["a1", "a2", "a3"]);
	const hole = 512 * 1024 * 1024;
	const fd = fs.openSync(file, "w");
	fs.writeSync(fd, head);
	fs.writeSync(fd, "\n" + calls(["b1", "b2", "b3"]), Buffer.byteLength(head) + hole);
	fs.closeSync(fd);

	const { gw, exited } = runWithFiles(t, file, {
		max_message_bytes: 65536, providers: [faulty("p", { env: { FAULTY_SLOW_MS: "600" } })],
	});
	await waitFor(async () => (await admin(gw.sock, "plugins")).code === 200, { what: `the admin socket${tail(gw)}` });
	// reloads every 20 ms or so (reading the file takes longer), until it is read
	let reloads = 0;
	while (!/info stdio: client closed stdin/.test(log(gw)) && reloads < 40) {
		const r = await admin(gw.sock, "reload stdio", { timeout: 10000 }).catch((e) => ({ code: 0, body: e.message }));
		if (/client closed stdin/.test(log(gw)) && r.code !== 200) break; // shutting down
		assert.equal(r.code, 200, `reload ${reloads + 1}: ${JSON.stringify(r)}${tail(gw)}`);
		reloads++;
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
	const status = await withTimeout(exited, 20000, `the gateway to exit once every request is answered${tail(gw)}`);
	assert.deepEqual(status, { code: 0, signal: null }, tail(gw));

	// handovers happened while the file was being read
	const text = log(gw);
	const eofAt = text.indexOf("info stdio: client closed stdin");
	const during = count(text.slice(0, eofAt), 'info swap: handed over instance="transport stdio"');
	assert.ok(during >= 2, `transport handovers before the end of the file: ${during} (reloads ${reloads})${tail(gw)}`);
	t.diagnostic(`reloads while reading the file: ${during} of ${reloads}`);

	// every request answered exactly once, the too-long line once with its whole length
	const lines = gw.lines();
	assert.deepEqual(lines.filter((l) => !isJsonRpcLine(l)), [], "stdout carries only JSON-RPC lines");
	const msgs = lines.map((l) => JSON.parse(l));
	const ids = msgs.map((m) => m.id);
	assert.deepEqual(ids.filter((id) => id !== null).sort(), ["a1", "a2", "a3", "b1", "b2", "b3", "init"], JSON.stringify(msgs).slice(0, 2000));
	for (const m of msgs.filter((x) => /^[ab]\d$/.test(x.id))) assert.equal(textOf(m), m.id);
	const overflow = msgs.filter((m) => m.id === null);
	assert.equal(overflow.length, 1, JSON.stringify(overflow));
	assert.match(overflow[0].error.message, new RegExp(`message of ${hole} bytes exceeds`));
	assert.equal(count(text, "info supervisor: child started"), 1, tail(gw));
	assert.deepEqual(text.split("\n").filter((l) => / error /.test(l)), [], tail(gw));
});

// --- a client slow to read its answers -------------------------------------------------------

// Answers of 200 KiB each (a ping echoes its id) that the client does not read: more than the
// pipe and the client's own buffer take, less than the transport's high water mark, so they
// wait in the gateway's write queue while it goes on reading. Resolves once they are queued.
const big = (i) => `big-${i}-${"x".repeat(200 * 1024)}`;
async function fillWriteQueue(gw, marker) {
	gw.child.stdout.pause();
	for (let i = 0; i < 4; i++) gw.send({ jsonrpc: "2.0", id: big(i), method: "ping" });
	// handled in order: once the kernel ignored this, the pings are answered
	gw.send({ jsonrpc: "2.0", method: `notifications/${marker}` });
	await logged(gw, new RegExp(`notification ignored method=notifications/${marker}`));
}
async function bigAnswers(gw) {
	for (let i = 0; i < 4; i++) {
		const m = await gw.next((x) => x.id === big(i), { what: `the answer to big ping ${i}` });
		assert.deepEqual(m.result, {});
	}
}

test("a client that does not read its answers: the reload is refused in time, the old generation serves on", async (t) => {
	// no provider: the transport is the plugin's only instance, so the refusal is whole
	const gw = start(t, { handover_timeout_ms: 300, log_level: "debug" });
	await gw.initialize();
	await fillWriteQueue(gw, "marker_one");
	const r = await admin(gw.sock, "reload stdio", { timeout: 5000 });
	assert.equal(r.code, 409, JSON.stringify(r));
	const item = r.body.instances.find((i) => i.role === "transport");
	assert.equal(item.result, "refused", JSON.stringify(r.body));
	assert.match(item.reason, /did not hand over within handover_timeout_ms \(300 ms\)/);
	assert.match(r.body.outcome, /refused: the old generation keeps serving/);
	assert.ok(/warn swap: handover refused instance="transport stdio"/.test(log(gw)), tail(gw));

	// resumed, it reads its input again while its answers still wait
	gw.send({ jsonrpc: "2.0", method: "notifications/marker_two" });
	await logged(gw, /notification ignored method=notifications\/marker_two/);
	// and once the client reads, it gets every answer, whole, from the same generation
	gw.child.stdout.resume();
	await bigAnswers(gw);
	assert.ok((await gw.request("ping")).result);
	await waitFor(async () => (await stdioModules(gw)).length === 1, { what: `the refused generation unloaded${tail(gw)}` });
	const mods = await stdioModules(gw);
	assert.deepEqual(mods.map((m) => [m.generation, m.state, m.instances.map((i) => `${i.role} ${i.state}`)]),
		[[1, "current", ["transport running"]]]);

	// and once the client keeps up, a reload goes through
	await reloadOk(gw);
	assert.ok((await gw.request("ping")).result);
	assertOnlyJsonRpc(gw);
	assertAnsweredOnce(gw);
});

test("a client slow to read: the handover waits for its answers to be written; those held meanwhile follow", async (t) => {
	const gw = start(t, { log_level: "debug", providers: [faulty("p", { env: { FAULTY_SLOW_MS: "400" } })] });
	await gw.initialize();
	await targetsUp(gw, "p", 1);
	// calls in flight upstream, then answers piling up unread
	const slow = [1, 2, 3].map((i) => call(gw, "p__echo", { text: `slow${i}` }, { timeout: 15000 }));
	await fillWriteQueue(gw, "marker_one");
	const reload = admin(gw.sock, "reload stdio", { timeout: 10000 });
	// the transport waits for its write queue; the upstream answers meanwhile, to the successor
	// provider, and the kernel holds those answers for the transport
	await waitFor(async () => {
		const [mod] = await stdioModules(gw);
		return mod.instances.some((i) => i.role === "transport" && i.state === "handing over") &&
			(await adminOk(gw, "status")).calls_in_flight === 0;
	}, { what: `the transport handing over with the slow calls answered${tail(gw)}` });
	gw.child.stdout.resume();
	const r = await reload;
	assert.equal(r.code, 200, JSON.stringify(r));
	assert.equal(r.body.outcome, "swapped");
	await bigAnswers(gw);
	assert.deepEqual((await Promise.all(slow)).map(textOf), ["slow1", "slow2", "slow3"]);
	// what the old generation queued went out whole before anything of its successor
	const index = (pred) => gw.stdoutLines.findIndex((l) => pred(JSON.parse(l)));
	const lastBig = Math.max(...[0, 1, 2, 3].map((i) => index((m) => m.id === big(i))));
	const firstSlow = index((m) => /^slow/.test(m.result?.content?.[0]?.text ?? ""));
	assert.ok(lastBig < firstSlow, `big answers (last at line ${lastBig}) before the held ones (first at ${firstSlow})`);
	assert.equal(textOf(await call(gw, "p__echo", { text: "after" })), "after");
	assertOnlyJsonRpc(gw);
	assertAnsweredOnce(gw);
	assertQuietLog(gw);
});
