// Supervision of stdio upstreams with real processes, checked through the admin socket, the
// log and /proc: restart intensity and the cool-down, restarts after outside kills, the stop
// sequence of a child that ignores SIGTERM, process groups and the subreaper, a child that
// closes its stdout, the three strategies over replicas, a child dying before initialize,
// max_processes, the supervision tree itself, the restart backoff's cap and reset, replicas
// starting in order, the gateway's stop order, and SIGTERM from outside as OTP's `shutdown`.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/supervision.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
	admin, call, childPids, cmdlineText, directChildren, faulty, faultyAfter, logTail, luaConfig, nodeBin, procStat, scratchDir,
	snapshot, startStdio, startTime, stillAlive, textOf, waitFor, withTimeout,
} from "../lib/harness.mjs";

const CLK_TCK = (() => {
	try { return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100; } catch { return 100; }
})();

// --- the gateway ------------------------------------------------------------------------------

// mcpfed --stdio with an admin socket of its own; after the test, it is closed and whatever it
// or the test started (extra pids) is killed.
function start(t, top) {
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({ config: luaConfig({ log_level: "info", admin: sock, ...top }) });
	gw.sock = sock;
	gw.extra = [];
	t.after(async () => {
		const snap = snapshot([...childPids(gw.pid), ...gw.extra]);
		if (!gw.exitStatus()) await gw.close({ timeout: 8000 }).catch(() => {});
		for (const { pid } of stillAlive(snap)) {
			try { process.kill(pid, "SIGKILL"); } catch {}
		}
	});
	return gw;
}

const log = (gw) => gw.stderrText();
const tail = (gw) => logTail(log(gw), 4000);
const count = (text, re) => (text.match(new RegExp(re, "g")) || []).length;
const lineTime = (line) => Date.parse(line.slice(0, line.indexOf(" ")));
// The log lines from offset on (an offset into the log text taken earlier).
const linesFrom = (gw, offset = 0) => log(gw).slice(offset).split("\n").filter(Boolean);
const firstIndex = (lines, re, from = 0) => {
	for (let i = from; i < lines.length; i++) if (re.test(lines[i])) return i;
	return -1;
};

async function adminOk(gw, command) {
	const r = await admin(gw.sock, command);
	assert.equal(r.code, 200, `admin ${command}: ${JSON.stringify(r)}`);
	return r.body;
}
const tree = (gw) => adminOk(gw, "supervision");
async function supervisor(gw, name) {
	const s = (await tree(gw)).supervisors.find((x) => x.name === name);
	assert.ok(s, `supervisor ${name} in the tree`);
	return s;
}

const readyLogged = (gw, provider, pid) =>
	new RegExp(`info stdio: upstream ready provider=${provider} replica=\\d+ pid=${pid} `).test(log(gw));

// Wait until supervisor `name` is running with n children, each running, with a pid, and ready
// (it answered initialize: the log says so for that pid), and cond(supervisor) holds.
function settled(gw, name, n, { cond = () => true, timeout = 15000, what } = {}) {
	return waitFor(async () => {
		const s = await supervisor(gw, name);
		const ok = s.state === "running" && s.children.length === n &&
			s.children.every((c) => c.state === "running" && c.pid > 0 && readyLogged(gw, name, c.pid)) && cond(s);
		return ok && s;
	}, { timeout, interval: 50, what: `${what ?? `${n} ready children of ${name}`}${tail(gw)}` });
}

// --- /proc -------------------------------------------------------------------------------------

const zombieChildren = (pid) => directChildren(pid).filter((k) => procStat(k)?.[0] === "Z");
const noZombies = (gw) => waitFor(() => zombieChildren(gw.pid).length === 0,
	{ timeout: 3000, what: `no zombie children of mcpfed (zombies: ${zombieChildren(gw.pid)})` });
const ppidOf = (pid) => Number(procStat(pid)?.[1]);
// utime + stime of pid, in seconds
const cpuSeconds = (pid) => {
	const f = procStat(pid);
	return (Number(f[11]) + Number(f[12])) / CLK_TCK;
};
const gone = (pid) => procStat(pid) === null;   // exited and reaped

// A supervised child: alive, a child of mcpfed, leading a process group and session of its own.
function assertSupervised(gw, pid, what) {
	const f = procStat(pid);
	assert.ok(f, `${what}: pid ${pid} exists`);
	assert.notEqual(f[0], "Z", `${what}: pid ${pid} is not a zombie`);
	assert.equal(Number(f[1]), gw.pid, `${what}: pid ${pid} is a child of mcpfed`);
	assert.equal(Number(f[2]), pid, `${what}: pid ${pid} leads its process group`);
	assert.equal(Number(f[3]), pid, `${what}: pid ${pid} leads its session`);
}

// A minimal MCP stdio server (no SDK), written to a file and run with node. Tools: pid, echo,
// close_stdout (answers, then closes fd 1 and keeps running). Env: MARKER (a file where it
// notes "READY|EOF|TERM|CLOSING <Date.now()> <pid>"), IGNORE_TERM=1 (SIGTERM is noted, not obeyed),
// IGNORE_EOF=1 (the end of its input is noted, not obeyed).
function miniServer() {
	const fs = require("fs");
	const note = (what) => process.env.MARKER && fs.appendFileSync(process.env.MARKER, `${what} ${Date.now()} ${process.pid}\n`);
	if (process.env.IGNORE_TERM === "1") process.on("SIGTERM", () => note("TERM"));
	process.stdin.on("end", () => {
		note("EOF");
		if (process.env.IGNORE_EOF !== "1") process.exit(0);
	});
	setInterval(() => {}, 1000);
	let stdoutOpen = true;
	const send = (m) => { if (stdoutOpen) fs.writeSync(1, JSON.stringify({ jsonrpc: "2.0", ...m }) + "\n"); };
	const text = (s) => ({ content: [{ type: "text", text: String(s) }] });
	let buf = "";
	process.stdin.setEncoding("utf8").on("data", (d) => {
		buf += d;
		for (let i; (i = buf.indexOf("\n")) >= 0; ) {
			const m = JSON.parse(buf.slice(0, i));
			buf = buf.slice(i + 1);
			if (m.id === undefined) continue;
			if (m.method === "initialize") {
				send({ id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "mini", version: "1" } } });
			} else if (m.method === "tools/list") {
				send({ id: m.id, result: { tools: ["pid", "echo", "close_stdout"].map((name) => ({ name, inputSchema: { type: "object" } })) } });
			} else if (m.method === "tools/call") {
				const { name, arguments: args = {} } = m.params;
				if (name === "pid") send({ id: m.id, result: text(process.pid) });
				else if (name === "echo") send({ id: m.id, result: text(args.text) });
				else if (name === "close_stdout") {
					note("CLOSING");   // first: the gateway may kill it as soon as fd 1 is closed
					send({ id: m.id, result: text("closing") });
					fs.closeSync(1);
					stdoutOpen = false;
				} else send({ id: m.id, error: { code: -32602, message: `no tool ${name}` } });
			} else send({ id: m.id, error: { code: -32601, message: "Method not found" } });
		}
	});
	note("READY");
}
function mini(name, env = {}, extra = {}) {
	const file = path.join(scratchDir(), "mini.cjs");
	fs.writeFileSync(file, `(${miniServer.toString()})();\n`);
	return { name, transport: "stdio", command: [nodeBin(), file], env, ...extra };
}
const markerNotes = (file) => {
	let text = "";
	try { text = fs.readFileSync(file, "utf8"); } catch {}
	return text.split("\n").filter(Boolean).map((l) => { const [what, at, pid] = l.split(" "); return { what, at: Number(at), pid: Number(pid) }; });
};

// --- a. crash at once ---------------------------------------------------------------------------

test("restart.intensity = 0 allows no restart: the first exit gives up", async (t) => {
	const gw = start(t, {
		providers: [
			{ name: "c", transport: "stdio", command: ["/bin/sh", "-c", "exit 3"],
				restart: { intensity: 0, period_ms: 60000, cooldown_ms: 60000 } },
			faulty("g"),
		],
	});
	await gw.initialize();
	await waitFor(() => /warn supervisor: restart intensity exceeded; giving up for now supervisor=c /.test(log(gw)),
		{ timeout: 8000, what: `the supervisor of c giving up${tail(gw)}` });
	const text = log(gw);
	assert.equal(count(text, "info supervisor: child started child=c "), 1, `started once, never restarted${tail(gw)}`);
	assert.doesNotMatch(text, /restarting child child=c /, tail(gw));
	const s = await supervisor(gw, "c");
	assert.equal(s.state, "failed", JSON.stringify(s));
	assert.equal(s.intensity, 0);
});

test("a child that crashes at once: 1 + intensity starts, given up, no CPU spin, started again after the cool-down", async (t) => {
	const cooldownMs = 1500;
	const gw = start(t, {
		providers: [
			{ name: "c", transport: "stdio", command: ["/bin/sh", "-c", "exit 3"],
				restart: { intensity: 3, period_ms: 60000, cooldown_ms: cooldownMs } },
			faulty("g"),
		],
	});
	await gw.initialize();
	await waitFor(() => /warn supervisor: restart intensity exceeded; giving up for now supervisor=c /.test(log(gw)),
		{ timeout: 8000, what: `the supervisor of c giving up${tail(gw)}` });
	const cpuAtGiveUp = cpuSeconds(gw.pid);
	const text = log(gw);
	assert.equal(count(text, "info supervisor: child started child=c "), 4, `started once, restarted 3 times${tail(gw)}`);
	assert.equal(count(text, "info supervisor: child exited child=c pid=\\d+ status=3 signal=0"), 4, tail(gw));
	// the delay doubles per consecutive failure
	const delays = [...text.matchAll(/restarting child child=c in_ms=(\d+) reason="exited with status 3"/g)].map((m) => Number(m[1]));
	assert.deepEqual(delays, [100, 200, 400], tail(gw));
	assert.match(text, /giving up for now supervisor=c reason="more than 3 restarts in 60000 ms; last: exited with status 3" cooldown_ms=1500/);
	await waitFor(() => /warn registry: provider failed provider=c /.test(log(gw)), { timeout: 3000, what: "provider failed in the log" });

	const s = await supervisor(gw, "c");
	assert.equal(s.state, "failed", JSON.stringify(s));
	assert.equal(s.gave_up, 1);
	assert.equal(s.intensity, 3);
	assert.equal(s.period_ms, 60000);
	assert.equal(s.strategy, "one_for_one");
	assert.equal(s.children.length, 1, JSON.stringify(s));
	assert.deepEqual(
		{ ...s.children[0] },
		{ name: "c", pid: 0, state: "stopped", restart: "permanent", restarts: 3, last_exit: "exited with status 3" });
	const prov = (await adminOk(gw, "providers")).providers.find((p) => p.name === "c");
	assert.equal(prov?.state, "failed", JSON.stringify(prov));
	const gPid = Number(textOf(await call(gw, "g__pid")));
	assert.equal((await adminOk(gw, "status")).processes, 1, "only g runs");
	assert.deepEqual(directChildren(gw.pid), [gPid], "no shell left behind, no zombie");

	// while it is failed, nothing runs: the gateway idles until the cool-down
	await waitFor(() => /info supervisor: cool-down over; starting again supervisor=c/.test(log(gw)),
		{ timeout: cooldownMs + 5000, what: `the cool-down of c${tail(gw)}` });
	const cpuIdle = cpuSeconds(gw.pid) - cpuAtGiveUp;
	assert.ok(cpuIdle < 0.3, `the gateway used ${cpuIdle} s of CPU while c was failed`);
	const lines = linesFrom(gw);
	const gaveUpAt = lineTime(lines.find((l) => /giving up for now supervisor=c /.test(l)));
	const cooledAt = lineTime(lines.find((l) => /cool-down over; starting again supervisor=c/.test(l)));
	assert.ok(cooledAt - gaveUpAt >= cooldownMs - 20 && cooledAt - gaveUpAt < cooldownMs + 1000,
		`cool-down of ${cooledAt - gaveUpAt} ms (configured ${cooldownMs})`);
	const coolIndex = firstIndex(lines, /cool-down over; starting again supervisor=c/);
	assert.equal(lines.slice(0, coolIndex).filter((l) => /child started child=c /.test(l)).length, 4, "no start while failed");

	// it starts again, crashes again, and is given up on again after the same count
	await waitFor(async () => (await supervisor(gw, "c")).gave_up === 2, { timeout: 10000, what: `a second give-up${tail(gw)}` });
	assert.equal(count(log(gw), "info supervisor: child started child=c "), 8, tail(gw));
	assert.equal((await supervisor(gw, "c")).state, "failed");
	const cpuTotal = cpuSeconds(gw.pid);
	assert.ok(cpuTotal < 1, `the gateway used ${cpuTotal} s of CPU in all`);
	console.log(`# crash loop: CPU while failed ${cpuIdle.toFixed(2)} s, in all ${cpuTotal.toFixed(2)} s; cool-down ${cooledAt - gaveUpAt} ms`);
	await noZombies(gw);
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

test("a listed provider that starts crashing at once: calls get -32010 at once, back after the cool-down", async (t) => {
	const broken = path.join(scratchDir(), "broken");
	const cooldownMs = 2000;
	const gw = start(t, {
		providers: [faultyAfter("b", 'if [ -e "$BROKEN" ]; then exit 3; fi;', {
			env: { BROKEN: broken }, restart: { intensity: 3, period_ms: 60000, cooldown_ms: cooldownMs },
		})],
	});
	await gw.initialize();
	const pid1 = Number(textOf(await call(gw, "b__pid")));
	fs.writeFileSync(broken, "");
	process.kill(pid1, "SIGKILL");
	await waitFor(() => /warn registry: provider failed provider=b /.test(log(gw)),
		{ timeout: 8000, what: `provider b failed${tail(gw)}` });
	assert.equal(count(log(gw), "info supervisor: child started child=b "), 4, `1 + 3 starts${tail(gw)}`);
	assert.match(log(gw), /giving up for now supervisor=b reason="more than 3 restarts in 60000 ms; last: exited with status 3"/);

	const t0 = Date.now();
	const r = await call(gw, "b__echo", { text: "x" });
	const elapsed = Date.now() - t0;
	assert.equal(r.error?.code, -32010, JSON.stringify(r));
	assert.match(r.error.message, /provider b is unavailable: more than 3 restarts/);
	assert.ok(elapsed < 500, `answered in ${elapsed} ms`);
	assert.equal((await supervisor(gw, "b")).state, "failed");
	assert.equal((await adminOk(gw, "providers")).providers.find((p) => p.name === "b")?.state, "failed");
	assert.equal((await adminOk(gw, "status")).processes, 0);

	fs.rmSync(broken);
	const unexpected = [];
	const pid2 = await waitFor(async () => {
		const x = await call(gw, "b__pid", {}, { timeout: 5000 });
		if (x.error && x.error.code !== -32010) unexpected.push(x);
		return x.result && Number(textOf(x));
	}, { timeout: cooldownMs + 8000, interval: 100, what: `b back after its cool-down${tail(gw)}` });
	assert.deepEqual(unexpected, [], "until it is back, calls fail with -32010 only");
	assert.notEqual(pid2, pid1);
	const lines = linesFrom(gw);
	const down = lineTime(lines.find((l) => /giving up for now supervisor=b /.test(l)));
	const cooled = lineTime(lines.find((l) => /cool-down over; starting again supervisor=b/.test(l)));
	assert.ok(cooled - down >= cooldownMs - 20, `cool-down of ${cooled - down} ms`);
	const s = await settled(gw, "b", 1);
	assert.equal(s.children[0].pid, pid2);
	assertSupervised(gw, pid2, "b after the cool-down");
	assert.equal(textOf(await call(gw, "b__echo", { text: "back" })), "back");
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

// --- b. killed now and then ---------------------------------------------------------------------

test("a child SIGKILLed from outside, twice: restarted each time with a new pid; calls work after", async (t) => {
	const gw = start(t, { providers: [faulty("f")] });
	await gw.initialize();
	let s = await settled(gw, "f", 1);
	let pid = s.children[0].pid;
	assert.equal(Number(textOf(await call(gw, "f__pid"))), pid, "the admin socket names the pid that answers");
	assertSupervised(gw, pid, "f");
	for (const [n, delay] of [[1, 100], [2, 200]]) {
		const old = pid;
		process.kill(old, "SIGKILL");
		s = await settled(gw, "f", 1, { cond: (x) => x.children[0].pid !== old, what: `restart ${n} of f` });
		pid = s.children[0].pid;
		assert.equal(s.children[0].restarts, n, JSON.stringify(s));
		assert.equal(s.children[0].last_exit, "killed by signal 9");
		assert.equal(s.restarts_in_period, n);
		assert.equal(s.gave_up, 0);
		assertSupervised(gw, pid, `f after restart ${n}`);
		await waitFor(() => gone(old), { timeout: 3000, what: `pid ${old} reaped` });
		assert.match(log(gw), new RegExp(`info supervisor: child exited child=f pid=${old} status=0 signal=9`));
		assert.match(log(gw), new RegExp(`info supervisor: restarting child child=f in_ms=${delay} reason="killed by signal 9"`));
		assert.match(log(gw), new RegExp(`info supervisor: child started child=f pid=${pid}\\n`));
		assert.equal(Number(textOf(await call(gw, "f__pid"))), pid);
		assert.equal(textOf(await call(gw, "f__echo", { text: `after ${n}` })), `after ${n}`);
	}
	assert.equal((await adminOk(gw, "status")).processes, 1);
	assert.deepEqual(directChildren(gw.pid), [pid]);
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

test("a child killed by a signal is reported as killed, not as having closed its stdout", async (t) => {
	const gw = start(t, { providers: [faulty("f")] });
	await gw.initialize();
	let pid = (await settled(gw, "f", 1)).children[0].pid;
	for (let n = 1; n <= 3; n++) {
		const old = pid;
		process.kill(old, "SIGKILL");
		pid = (await settled(gw, "f", 1, { cond: (x) => x.children[0].pid !== old, what: `restart ${n} of f` })).children[0].pid;
		assert.match(log(gw), new RegExp(`child exited child=f pid=${old} status=0 signal=9`));
		assert.doesNotMatch(log(gw), new RegExp(`child closed its stdout; killing it child=f pid=${old}`),
			`pid ${old} died of SIGKILL: it neither closed its stdout while running nor was killed by mcpfed${tail(gw)}`);
	}
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

// --- c. SIGTERM ignored -------------------------------------------------------------------------

test("a child that ignores SIGTERM: end of input, SIGTERM after 300 ms, SIGKILL after shutdown_ms; the gateway exits 0", async (t) => {
	const marker = path.join(scratchDir(), "notes");
	const shutdownMs = 500;
	const gw = start(t, {
		providers: [mini("s", { MARKER: marker, IGNORE_TERM: "1", IGNORE_EOF: "1" }, { restart: { shutdown_ms: shutdownMs } })],
	});
	await gw.initialize();
	const pid = Number(textOf(await call(gw, "s__pid")));
	assertSupervised(gw, pid, "s");
	const snap = snapshot([pid]);

	const t0 = Date.now();
	gw.kill("SIGTERM");
	const status = await gw.waitExit(5000);
	const elapsed = Date.now() - t0;
	assert.deepEqual(status, { code: 0, signal: null }, tail(gw));
	await waitFor(() => stillAlive(snap).length === 0, { timeout: 3000, what: "the stubborn child gone" });
	const notes = markerNotes(marker);
	const eof = notes.find((n) => n.what === "EOF");
	const term = notes.find((n) => n.what === "TERM");
	assert.ok(eof && term, `it saw the end of its input, then SIGTERM: ${JSON.stringify(notes)}`);
	// the child notices the end of its input a little after the gateway closed it
	assert.ok(term.at - eof.at >= 150 && term.at - eof.at < 1000, `SIGTERM ${term.at - eof.at} ms after the end of input`);
	const lines = linesFrom(gw);
	const killLine = lines.find((l) => new RegExp(`warn supervisor: child ignored SIGTERM; killing its group child=s pid=${pid}`).test(l));
	assert.ok(killLine, tail(gw));
	const killAt = lineTime(killLine);
	assert.ok(killAt - term.at >= shutdownMs - 50 && killAt - term.at < shutdownMs + 1000,
		`SIGKILL ${killAt - term.at} ms after SIGTERM (shutdown_ms ${shutdownMs})`);
	assert.match(log(gw), new RegExp(`child exited child=s pid=${pid} status=0 signal=9`));
	assert.ok(elapsed >= 300 + shutdownMs - 100 && elapsed < 4000, `the gateway exited ${elapsed} ms after SIGTERM`);
	console.log(`# stubborn child: SIGTERM ${term.at - eof.at} ms after EOF, SIGKILL ${killAt - term.at} ms after SIGTERM; gateway exit after ${elapsed} ms`);
});

// --- d. grandchildren -----------------------------------------------------------------------------

test("descendants: the group dies with its leader, a setsid escapee is adopted and reaped, and killed at shutdown", async (t) => {
	// sleep 300 stays in the child's group; sleep 301 makes a session of its own
	const gw = start(t, {
		providers: [faultyAfter("d", "sleep 300 </dev/null >/dev/null 2>&1 & setsid sleep 301 </dev/null >/dev/null 2>&1 &")],
	});
	await gw.initialize();
	const sleepsOf = (pid, arg) => childPids(pid).filter((p) => cmdlineText(p) === `sleep ${arg}`);
	const family = async () => {
		const s = await settled(gw, "d", 1);
		const leader = s.children[0].pid;
		const [inGroup, escaped] = await waitFor(() => {
			const a = sleepsOf(leader, 300), b = sleepsOf(leader, 301);
			return a.length === 1 && b.length === 1 && [a[0], b[0]];
		}, { timeout: 3000, what: `the two sleeps of ${leader}` });
		gw.extra.push(inGroup, escaped);
		return { leader, inGroup, escaped };
	};
	const gen1 = await family();
	assert.equal(Number(textOf(await call(gw, "d__pid"))), gen1.leader);
	assert.equal(Number(procStat(gen1.inGroup)[2]), gen1.leader, "sleep 300 is in the child's process group");
	assert.equal(Number(procStat(gen1.escaped)[3]), gen1.escaped, "sleep 301 leads a session of its own");

	process.kill(gen1.leader, "SIGKILL");
	await waitFor(() => gone(gen1.inGroup), { timeout: 3000, what: `sleep 300 (${gen1.inGroup}) killed with its leader and reaped` });
	await waitFor(() => ppidOf(gen1.escaped) === gw.pid, { timeout: 3000, what: `sleep 301 (${gen1.escaped}) adopted by mcpfed` });
	assert.notEqual(startTime(gen1.escaped), null, "the escapee still runs");
	await noZombies(gw);
	const gen2 = await family();
	assert.notEqual(gen2.leader, gen1.leader);
	assert.equal(Number(textOf(await call(gw, "d__pid"))), gen2.leader);

	// an adopted orphan that exits is reaped by mcpfed (nobody else can while it runs)
	process.kill(gen1.escaped, "SIGKILL");
	await waitFor(() => gone(gen1.escaped), { timeout: 3000, what: `the adopted sleep 301 (${gen1.escaped}) reaped` });
	await noZombies(gw);

	// an orphan still running at shutdown (gen2's), and the escapee of the child running then (gen3's)
	process.kill(gen2.leader, "SIGKILL");
	await waitFor(() => gone(gen2.inGroup), { timeout: 3000, what: "gen2's sleep 300 reaped" });
	await waitFor(() => ppidOf(gen2.escaped) === gw.pid, { timeout: 3000, what: "gen2's sleep 301 adopted" });
	const gen3 = await family();
	await noZombies(gw);
	const kids = directChildren(gw.pid).sort((a, b) => a - b);
	assert.deepEqual(kids, [gen2.escaped, gen3.leader].sort((a, b) => a - b), "mcpfed's children: the upstream and the adopted orphan");
	assert.equal((await adminOk(gw, "status")).processes, 1, "the orphan is not a supervised process");

	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(8000), { code: 0, signal: null }, tail(gw));
	const all = [gen2.escaped, gen3.leader, gen3.inGroup, gen3.escaped];
	await waitFor(() => all.every(gone), {
		timeout: 3000, what: `every descendant gone after the exit (left: ${all.filter((p) => !gone(p)).map((p) => `${p} ${procStat(p)?.[0]} ${cmdlineText(p)}`)})`,
	});
});

// --- e. stdout closed ---------------------------------------------------------------------------

test("a child that closes its stdout but keeps running is killed and restarted", async (t) => {
	const marker = path.join(scratchDir(), "notes");
	const gw = start(t, { providers: [mini("e", { MARKER: marker })] });
	await gw.initialize();
	const s = await settled(gw, "e", 1);
	const pid1 = s.children[0].pid;
	assert.equal(Number(textOf(await call(gw, "e__pid"))), pid1);
	const closing = await call(gw, "e__close_stdout");
	assert.equal(textOf(closing), "closing", JSON.stringify(closing));
	assert.ok(markerNotes(marker).some((n) => n.what === "CLOSING"), JSON.stringify(markerNotes(marker)));
	const s2 = await settled(gw, "e", 1, { cond: (x) => x.children[0].pid !== pid1, what: "e restarted" });
	const pid2 = s2.children[0].pid;
	assert.match(log(gw), new RegExp(`warn supervisor: child closed its stdout; killing it child=e pid=${pid1}`));
	assert.match(log(gw), new RegExp(`child exited child=e pid=${pid1} status=0 signal=9`));
	assert.equal(s2.children[0].restarts, 1);
	await waitFor(() => gone(pid1), { timeout: 3000, what: `pid ${pid1} killed and reaped` });
	assertSupervised(gw, pid2, "e after the restart");
	assert.equal(Number(textOf(await call(gw, "e__pid"))), pid2);
	assert.equal(textOf(await call(gw, "e__echo", { text: "works" })), "works");
	await noZombies(gw);
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

// --- f. strategies --------------------------------------------------------------------------------

for (const [strategy, changed] of [["one_for_all", ["s#1", "s#2", "s#3"]], ["rest_for_one", ["s#2", "s#3"]], ["one_for_one", ["s#2"]]]) {
	test(`${strategy}, replicas = 3: SIGKILL of s#2 restarts ${changed.join(", ")}`, async (t) => {
		const gw = start(t, { providers: [faulty("s", { replicas: 3, restart: { strategy } })] });
		await gw.initialize();
		const before = await settled(gw, "s", 3);
		assert.equal(before.strategy, strategy);
		assert.deepEqual(before.children.map((c) => c.name), ["s#1", "s#2", "s#3"]);
		const pids = Object.fromEntries(before.children.map((c) => [c.name, c.pid]));
		for (const c of before.children) assertSupervised(gw, c.pid, c.name);
		const snap = Object.fromEntries(before.children.map((c) => [c.name, snapshot([c.pid])]));
		assert.equal((await adminOk(gw, "status")).processes, 3);

		const mark = log(gw).length;
		process.kill(pids["s#2"], "SIGKILL");
		const after = await settled(gw, "s", 3, {
			cond: (x) => x.children.every((c) => changed.includes(c.name) === (c.pid !== pids[c.name])),
			what: `new pids for ${changed.join(", ")}`,
		});
		const now = Object.fromEntries(after.children.map((c) => [c.name, c.pid]));
		for (const c of after.children) {
			if (changed.includes(c.name)) {
				assert.notEqual(c.pid, pids[c.name], `${c.name} has a new pid`);
				assert.equal(c.restarts, 1, `${c.name}: ${JSON.stringify(c)}`);
				await waitFor(() => gone(pids[c.name]), { timeout: 3000, what: `old ${c.name} (${pids[c.name]}) reaped` });
			} else {
				assert.equal(c.pid, pids[c.name], `${c.name} keeps its pid`);
				assert.equal(c.restarts, 0, `${c.name}: ${JSON.stringify(c)}`);
				assert.equal(stillAlive(snap[c.name]).length, 1, `${c.name} is the same process`);
			}
			assertSupervised(gw, c.pid, c.name);
		}
		assert.equal(after.restarts_in_period, 1, "a restart of a group counts once");

		const lines = linesFrom(gw, mark);
		const exitedAt = (name) => firstIndex(lines, new RegExp(`info supervisor: child exited child=${name} pid=${pids[name]} `));
		const startedAt = (name) => firstIndex(lines, new RegExp(`info supervisor: child started child=${name} pid=${now[name]}$`));
		const killed = exitedAt("s#2");
		assert.ok(killed >= 0 && /status=0 signal=9/.test(lines[killed]), lines.join("\n"));
		const stopped = changed.filter((n) => n !== "s#2");
		// the siblings stop last started first, all before any restart; starts go in start order
		const stops = stopped.map(exitedAt);
		for (const [i, n] of stops.entries()) assert.ok(n > killed, `${stopped[i]} stopped after the kill:\n${lines.join("\n")}`);
		const stopOrder = [...stopped].sort((a, b) => exitedAt(a) - exitedAt(b));
		assert.deepEqual(stopOrder, [...stopped].reverse(), `stopped last started first:\n${lines.join("\n")}`);
		const starts = changed.map(startedAt);
		assert.ok(starts.every((i) => i > Math.max(killed, ...stops)), `restarts after the stops:\n${lines.join("\n")}`);
		assert.deepEqual([...starts].sort((a, b) => a - b), starts, `started in order ${changed}:\n${lines.join("\n")}`);
		for (const name of ["s#1", "s#2", "s#3"].filter((n) => !changed.includes(n))) {
			assert.equal(exitedAt(name), -1, `${name} was not stopped`);
			assert.equal(firstIndex(lines, new RegExp(`child started child=${name} `)), -1, `${name} was not started`);
		}

		const answers = await Promise.all(Array.from({ length: 6 }, () => call(gw, "s__pid")));
		for (const a of answers) assert.ok(Object.values(now).includes(Number(textOf(a))), JSON.stringify(a));
		assert.equal(textOf(await call(gw, "s__echo", { text: strategy })), strategy);
		assert.equal((await adminOk(gw, "status")).processes, 3);
		assert.deepEqual(directChildren(gw.pid).sort((a, b) => a - b), Object.values(now).sort((a, b) => a - b));
		assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
	});
}

test("rest_for_one: a sibling killed while the group restarts leaves no process outside the tree", async (t) => {
	// The replicas ignore the end of their input, so stopping one takes 300 ms before SIGTERM:
	// s#2 is killed inside that window, while the supervisor restarts the group for s#1.
	const marker = path.join(scratchDir(), "notes");
	const gw = start(t, {
		providers: [mini("s", { MARKER: marker, IGNORE_EOF: "1" }, { replicas: 3, restart: { strategy: "rest_for_one", backoff_min_ms: 20 } })],
	});
	await gw.initialize();
	const before = await settled(gw, "s", 3);
	const [p1, p2, p3] = before.children.map((c) => c.pid);
	process.kill(p1, "SIGKILL");
	await waitFor(() => markerNotes(marker).some((n) => n.what === "EOF" && n.pid === p3),
		{ timeout: 3000, what: `s#3 (${p3}) being stopped${tail(gw)}` });
	process.kill(p2, "SIGKILL");
	assert.equal(startTime(p3) !== null, true, "s#3 was still stopping when s#2 was killed");

	// the end: three supervised children, and nothing else; and it still shuts down
	let seen;
	const settledErr = await waitFor(async () => {
		const s = await supervisor(gw, "s");
		const st = await adminOk(gw, "status");
		const tree = s.children.map((c) => c.pid).sort((a, b) => a - b);
		const kids = directChildren(gw.pid).sort((a, b) => a - b);
		seen = { state: s.state, tree, kids, processes: st.processes };
		return s.state === "running" && s.children.every((c) => c.state === "running" && c.pid > 0 && readyLogged(gw, "s", c.pid)) &&
			st.processes === 3 && JSON.stringify(tree) === JSON.stringify(kids);
	}, { timeout: 8000, interval: 100, what: "three ready children, the same in the tree and in /proc" }).then(() => null, (e) => e);
	const strays = (seen?.kids ?? []).filter((k) => !seen.tree.includes(k)).map((k) => `${k} (${cmdlineText(k).slice(0, 60)})`);
	if (!settledErr) {
		const answers = await Promise.all(Array.from({ length: 6 }, () => call(gw, "s__pid")));
		for (const a of answers) assert.ok(seen.tree.includes(Number(textOf(a))), JSON.stringify(a));
	}
	const snap = snapshot(childPids(gw.pid));
	gw.extra.push(...snap.map((x) => x.pid));   // killed after the test, should they outlive the gateway
	gw.kill("SIGTERM");
	const exit = await gw.waitExit(8000).catch(() => null);
	if (!exit) gw.kill("SIGKILL");
	const left = await waitFor(() => stillAlive(snap).length === 0, { timeout: 3000 }).then(() => [], () => stillAlive(snap));
	const after = `after SIGTERM the gateway ${exit ? `exited ${JSON.stringify(exit)}` : "had not exited 8 s later"}; ` +
		`processes left: ${JSON.stringify(left)}`;
	assert.equal(settledErr, null, `${settledErr?.message}: last seen ${JSON.stringify(seen)}; ` +
		`children of mcpfed outside the tree: ${strays.join(", ")}; ${after}${tail(gw)}`);
	for (const p of [p1, p2, p3]) assert.ok(gone(p), `${p} is gone`);
	assert.deepEqual(exit, { code: 0, signal: null }, after);
	assert.deepEqual(left, [], after);
});

// --- g. death before initialize ---------------------------------------------------------------------

test("a child that dies before answering initialize fails the call waiting for it at once with -32010", async (t) => {
	const marker = path.join(scratchDir(), "slow-fail");
	const gw = start(t, {
		providers: [faultyAfter("g", 'if [ -e "$SLOW_FAIL" ]; then sleep 0.3; exit 1; fi;', {
			env: { SLOW_FAIL: marker }, timeout_ms: 30000,
		})],
	});
	await gw.initialize();
	const pid1 = Number(textOf(await call(gw, "g__pid")));
	fs.writeFileSync(marker, "");
	process.kill(pid1, "SIGKILL");
	// sent once the gateway knows the replica is gone, so the call waits for the restart
	await waitFor(() => new RegExp(`child exited child=g pid=${pid1} `).test(log(gw)), { timeout: 3000, what: "the exit of g" });
	const t0 = Date.now();
	const r = await call(gw, "g__echo", { text: "x" }, { timeout: 35000 });
	const answeredAt = Date.now();
	assert.equal(r.error?.code, -32010, JSON.stringify(r));
	assert.match(r.error.message, /provider g: upstream exited with status 1 before it answered initialize/);
	assert.ok(answeredAt - t0 < 5000, `answered after ${answeredAt - t0} ms (its timeout is 30000 ms)`);
	const lines = linesFrom(gw);
	const started = lines.find((l) => /child started child=g pid=(\d+)$/.test(l) && !l.endsWith(`pid=${pid1}`));
	assert.ok(started, tail(gw));
	const pid2 = Number(/pid=(\d+)$/.exec(started)[1]);
	const exitLine = lines.find((l) => l.includes(`child exited child=g pid=${pid2} status=1 signal=0`));
	assert.ok(exitLine, tail(gw));
	assert.ok(answeredAt - lineTime(exitLine) < 1000, `answered ${answeredAt - lineTime(exitLine)} ms after the start failed`);

	fs.rmSync(marker);
	const back = await waitFor(async () => {
		const x = await call(gw, "g__echo", { text: "back" }, { timeout: 10000 });
		return x.result && x;
	}, { timeout: 15000, interval: 100, what: `g back${tail(gw)}` });
	assert.equal(textOf(back), "back");
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

// --- h. max_processes ---------------------------------------------------------------------------------

test("max_processes = 2 and replicas = 3: the third spawn fails naming max_processes; the two serve", async (t) => {
	const gw = start(t, { max_processes: 2, providers: [faulty("m", { replicas: 3 })] });
	await gw.initialize();
	await waitFor(() => /warn supervisor: spawn failed child=m#3 reason="cannot start \S+: the limit of max_processes is reached"/.test(log(gw)),
		{ timeout: 5000, what: `the refused spawn${tail(gw)}` });
	const s = await waitFor(async () => {
		const x = await supervisor(gw, "m");
		const [a, b, c] = x.children;
		return a.state === "running" && b.state === "running" && readyLogged(gw, "m", a.pid) && readyLogged(gw, "m", b.pid) &&
			c.pid === 0 && x;
	}, { timeout: 10000, what: `m#1 and m#2 ready${tail(gw)}` });
	assert.deepEqual(s.children.map((c) => c.name), ["m#1", "m#2", "m#3"]);
	assert.ok(["starting", "restarting", "stopped"].includes(s.children[2].state), JSON.stringify(s.children[2]));
	assert.match(s.children[2].last_exit, /max_processes/);
	const root = await tree(gw);
	assert.equal(root.processes, 2);
	assert.equal(root.max_processes, 2);
	assert.equal((await adminOk(gw, "status")).processes, 2);
	const running = s.children.slice(0, 2).map((c) => c.pid);
	assert.deepEqual(directChildren(gw.pid).sort((a, b) => a - b), [...running].sort((a, b) => a - b));
	const answers = await Promise.all(Array.from({ length: 8 }, () => call(gw, "m__pid")));
	for (const a of answers) assert.ok(running.includes(Number(textOf(a))), JSON.stringify(a));
	assert.equal(textOf(await call(gw, "m__echo", { text: "two" })), "two");
	assert.equal(count(log(gw), "child started child=m#3 "), 0, "m#3 never ran");
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

test("a restart refused by max_processes fails the calls waiting for it with that reason", async (t) => {
	// max_processes = 2: a (one child, restarted after 1 s) and b#1 run; b#2 retries every 50 ms,
	// so when a is killed, b#2 takes its place and a's restart is refused.
	const gw = start(t, {
		max_processes: 2,
		providers: [
			faulty("a", { timeout_ms: 5000, restart: { backoff_min_ms: 1000, backoff_max_ms: 1000 } }),
			faulty("b", { replicas: 2, restart: { backoff_min_ms: 50, backoff_max_ms: 50, intensity: 100000, period_ms: 1 } }),
		],
	});
	await gw.initialize();
	const aPid = Number(textOf(await call(gw, "a__pid")));
	process.kill(aPid, "SIGKILL");
	await waitFor(() => new RegExp(`child exited child=a pid=${aPid} `).test(log(gw)), { timeout: 3000, what: "the exit of a" });
	const t0 = Date.now();
	const pending = call(gw, "a__echo", { text: "x" }, { timeout: 12000 });
	await waitFor(() => /warn supervisor: spawn failed child=a reason="[^"]*max_processes/.test(log(gw)),
		{ timeout: 5000, what: `a's restart refused${tail(gw)}` });
	const refusedAt = lineTime(linesFrom(gw).find((l) => /spawn failed child=a /.test(l)));
	const r = await pending;
	const elapsed = Date.now() - t0;
	assert.equal(r.error?.code, -32010, `${JSON.stringify(r)} after ${elapsed} ms${tail(gw)}`);
	assert.match(r.error.message, /max_processes/);
	assert.ok(Date.now() - refusedAt < 1000, `answered ${Date.now() - refusedAt} ms after the refusal`);
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

// --- i. the tree ----------------------------------------------------------------------------------------

test("admin: the supervision tree matches /proc; status, providers, sessions, help; mode 0600", async (t) => {
	const gw = start(t, {
		providers: [faulty("f"), faulty("r", { replicas: 2, restart: { strategy: "rest_for_one", intensity: 5, period_ms: 30000 } })],
	});
	await gw.initialize();
	await settled(gw, "f", 1);
	await settled(gw, "r", 2);
	const st = fs.statSync(gw.sock);
	assert.ok(st.isSocket(), "a Unix socket");
	assert.equal(st.mode & 0o777, 0o600, `mode ${(st.mode & 0o777).toString(8)}`);

	const root = await tree(gw);
	assert.equal(root.name, "root");
	assert.equal(root.processes, 3);
	assert.equal(root.max_processes, 1024);
	assert.deepEqual(root.supervisors.map((s) => s.name).sort(), ["f", "r"]);
	const f = root.supervisors.find((s) => s.name === "f");
	const r = root.supervisors.find((s) => s.name === "r");
	assert.deepEqual({ ...f, children: undefined },
		{ name: "f", strategy: "one_for_one", state: "running", intensity: 10, period_ms: 60000, gave_up: 0, restarts_in_period: 0, children: undefined });
	assert.deepEqual({ ...r, children: undefined },
		{ name: "r", strategy: "rest_for_one", state: "running", intensity: 5, period_ms: 30000, gave_up: 0, restarts_in_period: 0, children: undefined });
	const kids = [...f.children, ...r.children];
	assert.deepEqual(kids.map((c) => c.name), ["f", "r#1", "r#2"]);
	for (const c of kids) {
		assert.deepEqual({ ...c, pid: undefined }, { name: c.name, pid: undefined, state: "running", restart: "permanent", restarts: 0, last_exit: "" });
		assertSupervised(gw, c.pid, c.name);
		assert.match(cmdlineText(c.pid), /faulty\.mjs/);
	}
	assert.deepEqual(directChildren(gw.pid).sort((a, b) => a - b), kids.map((c) => c.pid).sort((a, b) => a - b),
		"the tree names every child of mcpfed");
	assert.equal(Number(textOf(await call(gw, "f__pid"))), f.children[0].pid);

	const status = await adminOk(gw, "status");
	assert.equal(status.pid, gw.pid);
	assert.equal(status.processes, 3);
	assert.equal(status.providers, 2);
	assert.equal(status.providers_up, 2);
	assert.equal(status.sessions, 1);
	const providers = (await adminOk(gw, "providers")).providers;
	assert.deepEqual(providers.map((p) => [p.name, p.state, p.transport]), [["f", "up", "stdio"], ["r", "up", "stdio"]]);
	assert.equal(providers[0].listed?.tools, 7, JSON.stringify(providers[0]));
	const sessions = (await adminOk(gw, "sessions")).sessions;
	assert.equal(sessions.length, 1, JSON.stringify(sessions));
	assert.equal(sessions[0].initialized, true);
	const help = (await adminOk(gw, "help")).commands.map((c) => c.usage.split(" ")[0]);
	for (const c of ["help", "status", "providers", "sessions", "supervision"]) assert.ok(help.includes(c), `help lists ${c}: ${help}`);
	const unknown = await admin(gw.sock, "no-such-command");
	assert.equal(unknown.code, 404, JSON.stringify(unknown));

	// a killed child shows as such, then with its new pid
	const old = r.children[1].pid;
	process.kill(old, "SIGKILL");
	const r2 = await settled(gw, "r", 2, { cond: (x) => x.children[1].pid !== old });
	assert.equal(r2.children[1].restarts, 1);
	assert.equal(r2.children[1].last_exit, "killed by signal 9");
	assert.equal(r2.restarts_in_period, 1);
	assert.equal(r2.children[0].pid, r.children[0].pid, "rest_for_one keeps the one before");
	assertSupervised(gw, r2.children[1].pid, "r#2");
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
	await waitFor(() => !fs.existsSync(gw.sock), { timeout: 2000, what: "the admin socket removed at exit" });
});

// --- j. backoff, start order, stop order, exit reasons ------------------------------------------------

test("restart backoff: doubles up to backoff_max_ms and stays there; a run of backoff_reset_ms brings it back to backoff_min_ms", async (t) => {
	const crash = path.join(scratchDir(), "crash");
	const resetMs = 4000;
	const gw = start(t, {
		providers: [faultyAfter("k", 'if [ -e "$CRASH" ]; then exit 3; fi;', {
			env: { CRASH: crash },
			restart: { backoff_min_ms: 50, backoff_max_ms: 400, backoff_reset_ms: resetMs, intensity: 1000, period_ms: 60000 },
		})],
	});
	await gw.initialize();
	const pid1 = (await settled(gw, "k", 1)).children[0].pid;
	const restarts = (from) => linesFrom(gw, from).filter((l) => /info supervisor: restarting child child=k /.test(l));
	const delayOf = (line) => Number(/in_ms=(\d+) /.exec(line)[1]);

	// a crash loop: 50, 100, 200, then the cap
	let mark = log(gw).length;
	fs.writeFileSync(crash, "");
	process.kill(pid1, "SIGKILL");
	await waitFor(() => restarts(mark).length >= 6, { timeout: 10000, what: `six restarts of k${tail(gw)}` });
	fs.rmSync(crash);
	const pid2 = (await settled(gw, "k", 1, { cond: (x) => x.children[0].pid !== pid1, what: "k serving again" })).children[0].pid;
	const loop = restarts(mark);
	assert.deepEqual(loop.slice(0, 6).map(delayOf), [50, 100, 200, 400, 400, 400], loop.join("\n"));
	assert.ok(loop.slice(6).every((l) => delayOf(l) === 400), loop.join("\n"));
	// each delay is kept: the next start comes no sooner
	const lines = linesFrom(gw, mark);
	for (const [i, l] of lines.entries()) {
		if (!/restarting child child=k /.test(l)) continue;
		const next = lines.slice(i + 1).find((x) => /info supervisor: (child started|spawn failed) child=k /.test(x));
		assert.ok(next, lines.join("\n"));
		assert.ok(lineTime(next) - lineTime(l) >= delayOf(l) - 5, `started ${lineTime(next) - lineTime(l)} ms after: ${l}`);
	}

	// a short run does not reset it (the failures in a row go on: still the cap)
	const started2 = lineTime(linesFrom(gw).find((l) => l.endsWith(`child started child=k pid=${pid2}`)));
	mark = log(gw).length;
	assert.ok(Date.now() - started2 < resetMs, `k ran ${Date.now() - started2} ms before the kill: too slow a machine for this test`);
	process.kill(pid2, "SIGKILL");
	const pid3 = (await settled(gw, "k", 1, { cond: (x) => x.children[0].pid !== pid2, what: "k after a short run" })).children[0].pid;
	assert.deepEqual(restarts(mark).map(delayOf), [400], tail(gw));

	// a run longer than backoff_reset_ms does: the next delay is backoff_min_ms again
	const started3 = lineTime(linesFrom(gw).find((l) => l.endsWith(`child started child=k pid=${pid3}`)));
	await new Promise((r) => setTimeout(r, Math.max(0, started3 + resetMs + 200 - Date.now())));   // the run itself is what is tested
	mark = log(gw).length;
	process.kill(pid3, "SIGKILL");
	const s = await settled(gw, "k", 1, { cond: (x) => x.children[0].pid !== pid3, what: "k after a long run" });
	assert.deepEqual(restarts(mark).map(delayOf), [50], tail(gw));
	assert.equal(s.children[0].last_exit, "killed by signal 9");
	assert.equal(textOf(await call(gw, "k__echo", { text: "steady" })), "steady");
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

test("replicas start in order: each once the one before answered initialize, or died trying", async (t) => {
	// every process waits 0.3 s before it can answer initialize; the very first one to run (s#1)
	// dies instead, so its start ends in an exit, and s#2 follows that
	const dir = scratchDir();
	const gw = start(t, {
		providers: [faultyAfter("s", 'if mkdir "$ONCE/first" 2>/dev/null; then sleep 0.3; exit 3; fi; sleep 0.3;', {
			env: { ONCE: dir }, replicas: 3, restart: { backoff_min_ms: 10 },
		})],
	});
	await gw.initialize();
	const s = await settled(gw, "s", 3);
	const lines = linesFrom(gw);
	const at = (re) => firstIndex(lines, re);
	const started = (name) => at(new RegExp(`info supervisor: child started child=${name} `));
	const ready = (replica, pid) => at(new RegExp(`info stdio: upstream ready provider=s replica=${replica} pid=${pid} `));
	const pids = s.children.map((c) => c.pid);
	const firstExit = at(/info supervisor: child exited child=s#1 pid=\d+ status=3 /);
	assert.ok(firstExit >= 0, lines.join("\n"));
	assert.ok(started("s#1") < firstExit && firstExit < started("s#2"), `s#2 started after s#1's start failed:\n${lines.join("\n")}`);
	assert.ok(ready(1, pids[1]) >= 0 && ready(1, pids[1]) < started("s#3"), `s#3 started after s#2 was ready:\n${lines.join("\n")}`);
	// s#1's restart waits its turn too: after the starts already under way
	const restart1 = at(new RegExp(`info supervisor: child started child=s#1 pid=${pids[0]}$`));
	assert.ok(restart1 > ready(2, pids[2]), `s#1 restarted after s#3 was ready:\n${lines.join("\n")}`);
	// each start took its 0.3 s: the log says so in time too
	const t2 = lineTime(lines[started("s#2")]), t3 = lineTime(lines[started("s#3")]);
	assert.ok(t3 - t2 >= 300, `s#3 started ${t3 - t2} ms after s#2`);
	const answers = await Promise.all(Array.from({ length: 6 }, () => call(gw, "s__pid")));
	for (const a of answers) assert.ok(pids.includes(Number(textOf(a))), JSON.stringify(a));
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

test("gateway shutdown: providers stop last started first, one after another; replicas last first", async (t) => {
	// every child ignores the end of its input and SIGTERM, so each stop takes its full time and
	// two stops at once would overlap
	const marker = path.join(scratchDir(), "notes");
	const shutdownMs = 600;   // each stop: 300 ms after the end of input, SIGTERM, 600 ms, SIGKILL
	const stubborn = { MARKER: marker, IGNORE_TERM: "1", IGNORE_EOF: "1" };
	const gw = start(t, {
		providers: [
			mini("a", stubborn, { restart: { shutdown_ms: shutdownMs } }),
			mini("b", stubborn, { replicas: 2, restart: { shutdown_ms: shutdownMs } }),
		],
	});
	await gw.initialize();
	const a = (await settled(gw, "a", 1)).children[0].pid;
	const [b1, b2] = (await settled(gw, "b", 2)).children.map((c) => c.pid);
	const t0 = Date.now();
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, tail(gw));
	const elapsed = Date.now() - t0;
	const order = [["b#2", b2], ["b#1", b1], ["a", a]];
	const lines = linesFrom(gw);
	const killedAt = (name, pid) => {
		const l = lines.find((x) => x.includes(`warn supervisor: child ignored SIGTERM; killing its group child=${name} pid=${pid}`));
		assert.ok(l, `${name} killed after the wait${tail(gw)}`);
		return lineTime(l);
	};
	const exits = order.map(([name, pid]) => firstIndex(lines, new RegExp(`child exited child=${name} pid=${pid} status=0 signal=9`)));
	assert.ok(exits.every((i) => i >= 0), tail(gw));
	assert.deepEqual([...exits].sort((x, y) => x - y), exits, `stopped b#2, b#1, a:\n${lines.join("\n")}`);
	const notes = markerNotes(marker);
	const eofOf = (pid) => notes.find((n) => n.what === "EOF" && n.pid === pid)?.at;
	for (let i = 1; i < order.length; i++) {
		const [prev, prevPid] = order[i - 1];
		const [name, pid] = order[i];
		const eof = eofOf(pid);
		assert.ok(eof, `${name} saw the end of its input: ${JSON.stringify(notes)}`);
		assert.ok(eof >= killedAt(prev, prevPid) - 5,
			`${name}'s stop began ${killedAt(prev, prevPid) - eof} ms before ${prev} was killed: the stops overlap`);
	}
	assert.ok(elapsed >= 3 * (300 + shutdownMs) - 100, `three stops one after another took ${elapsed} ms`);
	for (const [, pid] of order) await waitFor(() => gone(pid), { timeout: 3000, what: `${pid} gone` });
});

test("a shutdown that outlasts the gateway's own bound kills every child left and exits 1", async (t) => {
	// two providers whose children ignore SIGTERM for 3 s each: one after the other they need
	// more than shutdown_ms (100) + 5 s, so the bound ends the sequence
	const marker = path.join(scratchDir(), "notes");
	const stubborn = { MARKER: marker, IGNORE_TERM: "1", IGNORE_EOF: "1" };
	const gw = start(t, {
		shutdown_ms: 100,
		providers: [mini("a", stubborn, { restart: { shutdown_ms: 3000 } }), mini("b", stubborn, { restart: { shutdown_ms: 3000 } })],
	});
	await gw.initialize();
	const a = (await settled(gw, "a", 1)).children[0].pid;
	const b = (await settled(gw, "b", 1)).children[0].pid;
	const snap = snapshot([a, b]);
	gw.extra.push(a, b);
	const t0 = Date.now();
	gw.kill("SIGTERM");
	const status = await gw.waitExit(15000);
	const elapsed = Date.now() - t0;
	assert.deepEqual(status, { code: 1, signal: null }, tail(gw));
	assert.match(log(gw), /error kernel: shutdown took too long; killing what is left and exiting/);
	assert.ok(elapsed >= 5100 - 100 && elapsed < 9000, `exited ${elapsed} ms after SIGTERM`);
	// b (started last) was stopped first and was gone; a was still in its SIGTERM wait, and is killed
	assert.match(log(gw), new RegExp(`child exited child=b pid=${b} status=0 signal=9`));
	assert.doesNotMatch(log(gw), new RegExp(`child exited child=a pid=${a} `));
	await waitFor(() => stillAlive(snap).length === 0, { timeout: 3000, what: `no child outlives the gateway: ${JSON.stringify(stillAlive(snap))}` });
});

test("a transient child stopped by SIGTERM from outside is not restarted (shutdown); one killed by SIGKILL is", async (t) => {
	const gw = start(t, {
		providers: [faulty("tr", { replicas: 2, restart: { type: "transient", backoff_min_ms: 10 } })],
	});
	await gw.initialize();
	const [p1, p2] = (await settled(gw, "tr", 2)).children.map((c) => c.pid);
	process.kill(p1, "SIGTERM");
	await waitFor(() => new RegExp(`child exited child=tr#1 pid=${p1} status=0 signal=15`).test(log(gw)),
		{ timeout: 3000, what: `the exit of tr#1${tail(gw)}` });
	process.kill(p2, "SIGKILL");
	const s = await waitFor(async () => {
		const x = await supervisor(gw, "tr");
		const [c1, c2] = x.children;
		return c2.pid && c2.pid !== p2 && c2.state === "running" && readyLogged(gw, "tr", c2.pid) && c1.state === "stopped" && x;
	}, { timeout: 5000, what: `tr#2 restarted, tr#1 not${tail(gw)}` });
	assert.deepEqual({ ...s.children[0] },
		{ name: "tr#1", pid: 0, state: "stopped", restart: "transient", restarts: 0, last_exit: "killed by signal 15" });
	assert.equal(s.children[1].restarts, 1);
	assert.equal(count(log(gw), "child started child=tr#1 "), 1, "tr#1 started once");
	assert.doesNotMatch(log(gw), /restarting child child=tr#1 /);
	assert.equal(Number(textOf(await call(gw, "tr__pid"))), s.children[1].pid, "the other serves");
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

// --- k. a dynamic pool ------------------------------------------------------------------------------

test("simple_one_for_one: scale grows the pool in order and shrinks it, draining the last started, then stopping them last first", async (t) => {
	const slow = path.join(scratchDir(), "slow");
	const gw = start(t, {
		providers: [faulty("p", {
			replicas: 1, max_processes: 3, env: { FAULTY_SLOW_FILE: slow, FAULTY_ECHO_PID: "1" },
			restart: { strategy: "simple_one_for_one", backoff_min_ms: 10 },
		})],
	});
	await gw.initialize();
	const one = await settled(gw, "p", 1);
	assert.equal(one.strategy, "simple_one_for_one");
	assert.deepEqual(one.children.map((c) => c.name), ["p#1"]);
	const p1 = one.children[0].pid;

	// growing: the new children start one after the other
	let mark = log(gw).length;
	assert.deepEqual(await adminOk(gw, "scale p 3"), { provider: "p", replicas: 3 });
	const three = await settled(gw, "p", 3);
	assert.deepEqual(three.children.map((c) => c.name), ["p#1", "p#2", "p#3"]);
	assert.equal(three.children[0].pid, p1, "p#1 untouched");
	let lines = linesFrom(gw, mark);
	const ready2 = firstIndex(lines, new RegExp(`upstream ready provider=p replica=1 pid=${three.children[1].pid} `));
	assert.ok(ready2 >= 0 && ready2 < firstIndex(lines, /child started child=p#3 /), `p#3 started once p#2 was ready:\n${lines.join("\n")}`);

	// beyond max_processes: refused, saying so
	const over = await admin(gw.sock, "scale p 4");
	assert.equal(over.code, 409, JSON.stringify(over));
	assert.equal(over.body.error, "provider p: 4 replicas is more than its max_processes (3)");
	const notPool = await admin(gw.sock, "scale nope 2");
	assert.equal(notPool.code, 404, JSON.stringify(notPool));

	// a pool's child is restarted alone
	const [, p2old, p3] = three.children.map((c) => c.pid);
	process.kill(p2old, "SIGKILL");
	const after = await settled(gw, "p", 3, { cond: (x) => x.children[1].pid !== p2old, what: "p#2 restarted" });
	const pids = after.children.map((c) => c.pid);
	assert.deepEqual([pids[0], pids[2]], [p1, p3], "its siblings keep their processes");
	assert.equal(after.restarts_in_period, 1);

	// shrinking while every replica is busy: p#3 and p#2 finish their calls, then stop, p#3 first
	fs.writeFileSync(slow, pids.map((p) => `${p} 1500`).join("\n"));
	const calls = Array.from({ length: 3 }, (_, i) => call(gw, "p__echo", { text: `c${i}` }, { timeout: 15000 }));
	await waitFor(async () => (await adminOk(gw, "status")).calls_in_flight === 3, { timeout: 5000, what: "three calls in flight" });
	mark = log(gw).length;
	assert.deepEqual(await adminOk(gw, "scale p 1"), { provider: "p", replicas: 1 });
	const busy = await admin(gw.sock, "scale p 2");
	assert.equal(busy.code, 409, JSON.stringify(busy));
	assert.match(busy.body.error, /2 replicas are still finishing their calls/);
	const answers = await Promise.all(calls);
	for (const a of answers) assert.ok(a.result, `answered, not cut off: ${JSON.stringify(a)}${tail(gw)}`);
	const servedBy = answers.map((a) => Number(/pid=(\d+)/.exec(a.result.content[1].text)[1]));
	assert.deepEqual([...new Set(servedBy)].sort(), [...pids].sort(), `each replica had a call: ${servedBy}`);
	const small = await waitFor(async () => {
		const s = await supervisor(gw, "p");
		return s.children.length === 1 && s;
	}, { timeout: 8000, what: `the pool down to one${tail(gw)}` });
	assert.equal(small.children[0].pid, p1);
	await waitFor(() => /info stdio: pool scaled provider=p replicas=1/.test(log(gw)), { timeout: 3000, what: "pool scaled" });
	lines = linesFrom(gw, mark);
	const exited = (i) => firstIndex(lines, new RegExp(`child exited child=p#${i + 1} pid=${pids[i]} status=0 signal=0`));
	assert.ok(exited(2) >= 0 && exited(1) > exited(2), `p#3 stopped, then p#2, each leaving on its own:\n${lines.join("\n")}`);
	assert.equal(firstIndex(lines, /child started child=p#/), -1, "a stopped pool child is not restarted");
	await waitFor(() => gone(pids[1]) && gone(pids[2]), { timeout: 3000, what: "both reaped" });
	assert.equal((await adminOk(gw, "status")).processes, 1);
	assert.deepEqual(directChildren(gw.pid), [p1]);
	fs.rmSync(slow);
	assert.equal(textOf(await call(gw, "p__echo", { text: "one" })), "one");

	// and it grows again
	await adminOk(gw, "scale p 2");
	const two = await settled(gw, "p", 2);
	assert.equal(two.children[0].pid, p1);
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});

test("scale: a provider that is not a pool refuses, naming the strategy", async (t) => {
	const gw = start(t, { providers: [faulty("f", { replicas: 2 })] });
	await gw.initialize();
	await settled(gw, "f", 2);
	const r = await admin(gw.sock, "scale f 3");
	assert.equal(r.code, 409, JSON.stringify(r));
	assert.equal(r.body.error, 'provider f is not a dynamic pool (restart.strategy = "simple_one_for_one")');
	const bad = await admin(gw.sock, "scale f zero");
	assert.equal(bad.code, 400, JSON.stringify(bad));
	assert.equal((await supervisor(gw, "f")).children.length, 2);
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, tail(gw));
});
