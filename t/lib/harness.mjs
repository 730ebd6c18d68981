// Helpers for node:test integration tests: spawn mcpfed (or any stdio MCP peer), talk
// newline-delimited JSON-RPC to it, and wait for things with bounded timeouts; write Lua
// configurations; look at processes in /proc; check what a gateway wrote.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const tDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const mcpfedBin = () => process.env.MCPFED_BIN || path.resolve(tDir, "..", "mcpfed");
export const serverPath = (name) => path.join(tDir, "servers", name);
export const nodeBin = () => path.join(tDir, "node");
export const binPath = (pkgBin) => path.join(tDir, "node_modules", ".bin", pkgBin);

const tmpDirs = [];
const live = new Set(); // started processes not yet exited

// What the sanitizers write when they find something (a leak is found at exit).
export const sanitizerReport = /ERROR: (Address|Leak)Sanitizer|runtime error:/;
const reports = []; // [command, stderr] of every finished process whose stderr holds one
// (run directly, or by a shell that execs it)
const isGateway = (child) => child.spawnargs.includes(mcpfedBin());

// A gateway still running once the tests are done is stopped in order (SIGTERM), so that
// under the sanitizers the leak checker looks at it too; SIGKILL if it takes too long.
let stopping = false;
process.on("beforeExit", async () => {
	if (stopping) return;
	stopping = true;
	await Promise.all([...live].filter(isGateway).map((child) => stopGently(child)));
});

// Any sanitizer report of a process the tests started fails the test file, whichever test
// it belonged to and whether or not that test looked at the process's log.
process.on("exit", () => {
	for (const [cmd, text] of reports) {
		const from = Math.max(0, text.search(sanitizerReport) - 2000);
		process.stderr.write(`\n--- sanitizer report of ${cmd} ---\n${text.slice(from, from + 40000)}\n`);
		process.exitCode = 1;
	}
	for (const child of live) {
		for (const pid of [...childPids(child.pid), child.pid]) {
			try { process.kill(pid, "SIGKILL"); } catch {}
		}
	}
	for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export function writeConfig(luaText) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcpfed-t-"));
	tmpDirs.push(dir);
	const file = path.join(dir, "config.lua");
	fs.writeFileSync(file, luaText);
	return file;
}

// JS value -> Lua constructor (strings via JSON escapes, which Lua reads the same for ASCII).
export const lua = (v) => {
	if (typeof v === "string") return JSON.stringify(v);
	if (typeof v === "number" || typeof v === "boolean") return String(v);
	if (Array.isArray(v)) return `{ ${v.map(lua).join(", ")} }`;
	return `{ ${Object.entries(v).map(([k, x]) => `[${JSON.stringify(k)}] = ${lua(x)}`).join(", ")} }`;
};

// A configuration file returning the Lua form of top; its path.
export const luaConfig = (top) => writeConfig(`return ${lua(top)}\n`);

// A fresh directory of the test's own, removed at exit like the configurations.
export const scratchDir = () => path.dirname(writeConfig("-- scratch directory\n"));

// A stdio provider running t/servers/faulty.mjs; extra is merged over it.
export const faulty = (name, extra = {}) => ({
	name, transport: "stdio", command: [nodeBin(), serverPath("faulty.mjs")], ...extra,
});

// faulty run by /bin/sh after the shell commands in prelude (which end in ";" or "&"): an
// upstream that starts late, leaves a process of its own behind, or does not start at all.
export const faultyAfter = (name, prelude, extra = {}) => faulty(name, {
	command: ["/bin/sh", "-c", `${prelude} exec "$0" "$1"`, nodeBin(), serverPath("faulty.mjs")], ...extra,
});

// The text of the first content item of a JSON-RPC tools/call response.
export const textOf = (res) => res.result?.content?.[0]?.text;

// A tools/call answered with a tool error (a result with isError, not a JSON-RPC error)
// whose first text matches re.
export function assertToolError(res, re) {
	assert.equal(res.error, undefined, JSON.stringify(res));
	assert.equal(res.result?.isError, true, JSON.stringify(res));
	assert.match(textOf(res), re);
}

// tools/call over a startProcess/startStdio peer; opts as for request().
export const call = (gw, name, args = {}, opts) => gw.request("tools/call", { name, arguments: args }, opts);

// The tail of a gateway's log, to append to a failure message.
export const logTail = (text, chars = 3000) => `\n--- mcpfed log (tail) ---\n${text?.slice(-chars)}`;

// Race promise against a timer; the rejection names what was awaited.
export function withTimeout(promise, ms, what, detail = () => "") {
	let timer;
	const timeout = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}${detail()}`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function waitFor(fn, { timeout = 5000, interval = 20, what = fn.toString() } = {}) {
	const deadline = Date.now() + timeout;
	let lastError;
	for (;;) {
		try {
			const v = await fn();
			if (v) return v;
		} catch (e) {
			lastError = e;
		}
		if (Date.now() >= deadline) {
			const why = lastError ? ` (last error: ${lastError.message})` : "";
			throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`);
		}
		await new Promise((r) => setTimeout(r, interval));
	}
}

// The fields of /proc/<pid>/stat after comm, from state on: [state, ppid, ...]; null if the
// process is gone. comm (field 2) may contain spaces and ')', so parse after the last ')'.
export function procStat(pid) {
	let stat;
	try { stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8"); } catch { return null; }
	return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

// /proc/<pid>/stat start time, so a recycled pid is not mistaken for a live process; null once
// it is gone or a zombie (an orphan waits for init to reap it, which may take a while).
export const startTime = (pid) => {
	const f = procStat(pid);
	return f === null || f[0] === "Z" || f[0] === "X" ? null : f[19];
};

// The argv of pid from /proc/<pid>/cmdline (with the empty string after the last NUL); [] if gone.
export const cmdline = (pid) => {
	try { return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"); } catch { return []; }
};
// The same as one line of text, arguments separated by spaces; "" if gone.
export const cmdlineText = (pid) => cmdline(pid).join(" ").trim();

// What to tell later whether these very processes still run: pid, start time, command line.
export const snapshot = (pids) => pids.map((pid) => ({ pid, start: startTime(pid), cmd: cmdlineText(pid) }));
// The processes of a snapshot that still run (a reused pid does not count).
export const stillAlive = (snap) => snap.filter(({ pid, start }) => start !== null && startTime(pid) === start);

// The direct children of pid, from /proc/<pid>/task/*/children (cheaper than childPids, and
// it sees zombies not reaped yet).
export function directChildren(pid) {
	const out = [];
	let tasks = [];
	try { tasks = fs.readdirSync(`/proc/${pid}/task`); } catch { return out; }
	for (const task of tasks) {
		try {
			out.push(...fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number));
		} catch {}
	}
	return out;
}

// Descendants of pid (children, grandchildren, ...) from /proc/*/stat.
export function childPids(pid) {
	const kids = new Map();
	for (const ent of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(ent)) continue;
		const stat = procStat(ent);
		if (stat === null) continue; // raced exit
		const ppid = Number(stat[1]);
		if (!kids.has(ppid)) kids.set(ppid, []);
		kids.get(ppid).push(Number(ent));
	}
	const out = [];
	for (let todo = [pid]; todo.length; ) {
		for (const k of kids.get(todo.pop()) || []) { out.push(k); todo.push(k); }
	}
	return out;
}

export const isJsonRpcLine = (line) => {
	try {
		const m = JSON.parse(line);
		return m !== null && typeof m === "object" && m.jsonrpc === "2.0";
	} catch {
		return false;
	}
};

// Every stdout line a JSON-RPC message.
export function assertOnlyJsonRpc(gw) {
	const bad = gw.stdoutLines.filter((l) => !isJsonRpcLine(l));
	assert.deepEqual(bad.map((l) => l.slice(0, 200)), [], "stdout carries only JSON-RPC lines");
}

// Every stderr line is one event: <ISO time> <level> <component>: <message> ...
export function assertLogLines(gw) {
	const lines = gw.stderrText().split("\n").filter(Boolean);
	const bad = lines.filter((l) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (error|warn|info|debug) [a-z][a-z0-9_-]*: \S/.test(l));
	assert.deepEqual(bad, [], "log lines in the documented format");
}

const matcher = (p) => (typeof p === "string" ? (m) => m.method === p : p || (() => true));

// Spawn argv with piped stdio; env is merged over process.env.
export function startProcess(argv, env = {}) {
	env = { ...process.env, ...env };
	// under AddressSanitizer, the leak checker is on unless said otherwise
	if (!/detect_leaks=/.test(env.ASAN_OPTIONS || "")) env.ASAN_OPTIONS = [env.ASAN_OPTIONS, "detect_leaks=1"].filter(Boolean).join(":");
	const child = spawn(argv[0], argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
	// Unref'd so a test that forgets close() cannot keep the test process alive; pending
	// waits still hold the event loop through their timers.
	child.unref();
	for (const s of [child.stdin, child.stdout, child.stderr]) s.unref();
	live.add(child);

	const stdoutLines = [];
	let stderr = "";
	let exitStatus; // {code, signal} once exited
	let ended = null; // Error once no more messages can arrive
	let spawnError = null;
	let nextId = 1;
	const queue = []; // unconsumed incoming messages
	const waiters = []; // {match, resolve, reject}
	const responses = new Map(); // request id -> {resolve, reject}
	const exitWaiters = [];

	const tail = () => `\n--- ${argv[0]} stderr (tail) ---\n${stderr.slice(-2000)}`;
	const fail = (err) => {
		ended ??= err;
		for (const w of waiters.splice(0)) w.reject(ended);
		for (const r of responses.values()) r.reject(ended);
		responses.clear();
	};

	child.stderr.setEncoding("utf8").on("data", (d) => { stderr += d; });
	child.stdin.on("error", () => {}); // EPIPE after the peer died shows up as the exit instead
	readline.createInterface({ input: child.stdout, crlfDelay: Infinity })
		.on("line", (line) => {
			stdoutLines.push(line);
			let msg;
			try { msg = JSON.parse(line); } catch { return; } // stays visible in stdoutLines
			const isResponse = msg && msg.id !== undefined && msg.method === undefined;
			if (isResponse && responses.has(msg.id)) {
				responses.get(msg.id).resolve(msg);
				responses.delete(msg.id);
				return;
			}
			const i = waiters.findIndex((w) => w.match(msg));
			if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
			else queue.push(msg);
		})
		.on("close", () => fail(new Error(`stdout of ${argv[0]} closed (process ${exitStatus ? `exited ${JSON.stringify(exitStatus)}` : "still running"})${tail()}`)));
	child.mfClosed = new Promise((resolve) => child.on("close", () => {
		if (sanitizerReport.test(stderr)) reports.push([argv.join(" "), stderr]);
		resolve();
	}));
	child.on("exit", (code, signal) => {
		exitStatus = { code, signal };
		live.delete(child);
		for (const w of exitWaiters.splice(0)) w.resolve(exitStatus);
	});
	child.on("error", (err) => { // e.g. ENOENT: the binary does not exist
		live.delete(child);
		spawnError = new Error(`cannot run ${argv.join(" ")}: ${err.message}`);
		fail(spawnError);
		for (const w of exitWaiters.splice(0)) w.reject(spawnError);
	});

	const gw = {
		child,
		pid: child.pid,
		stdoutLines,
		stderrText: () => stderr,
		unconsumed: () => [...queue],
		exitStatus: () => exitStatus,
		sendRaw: (str) => { child.stdin.write(str); },
		send: (obj) => { child.stdin.write(JSON.stringify(obj) + "\n"); },
		kill: (signal = "SIGTERM") => child.kill(signal),

		// Numeric ids from 1 upwards; hand-written requests via send() should use string ids.
		request(method, params, { timeout = 10000 } = {}) {
			const id = nextId++;
			const p = new Promise((resolve, reject) => {
				if (ended) return reject(ended);
				responses.set(id, { resolve, reject });
			});
			gw.send(params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params });
			return withTimeout(p, timeout, `response to ${method} (id ${id})`, tail)
				.finally(() => responses.delete(id));
		},

		// predicate: function, method name string, or omitted for "any message".
		next(predicate, { timeout = 10000, what } = {}) {
			const match = matcher(predicate);
			const i = queue.findIndex(match);
			if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
			let w;
			const p = new Promise((resolve, reject) => {
				if (ended) return reject(ended);
				w = { match, resolve, reject };
				waiters.push(w);
			});
			const desc = what || (typeof predicate === "string" ? predicate : `message matching ${predicate || "anything"}`);
			return withTimeout(p, timeout, desc, tail).finally(() => {
				const j = waiters.indexOf(w);
				if (j >= 0) waiters.splice(j, 1);
			});
		},

		async initialize(params = {}, { timeout = 10000 } = {}) {
			const res = await gw.request("initialize", {
				protocolVersion: "2025-06-18",
				capabilities: {},
				clientInfo: { name: "harness", version: "1" },
				...params,
			}, { timeout });
			if (!res.result) throw new Error(`initialize failed: ${JSON.stringify(res)}${tail()}`);
			gw.send({ jsonrpc: "2.0", method: "notifications/initialized" });
			return res.result;
		},

		waitExit(timeout = 10000) {
			if (exitStatus) return Promise.resolve(exitStatus);
			if (spawnError) return Promise.reject(spawnError);
			const p = new Promise((resolve, reject) => exitWaiters.push({ resolve, reject }));
			return withTimeout(p, timeout, `exit of ${argv.join(" ")}`, tail);
		},

		// End stdin and wait for exit; SIGKILL if it does not exit in time.
		async close({ timeout = 10000 } = {}) {
			child.stdin.end();
			let status;
			try {
				status = await gw.waitExit(timeout);
			} catch (e) {
				if (spawnError) throw e;
				child.kill("SIGKILL");
				status = await gw.waitExit(5000);
			}
			// and its log read to the end (what the sanitizers say at exit included)
			await withTimeout(child.mfClosed, 3000, "the end of its output").catch(() => {});
			return status;
		},
	};
	return gw;
}

export function startStdio({ config, args = [], env = {} } = {}) {
	const argv = [mcpfedBin(), "--stdio", ...(config ? ["-c", config] : []), ...args];
	return startProcess(argv, env);
}

// After test t: gw is closed (killed if it does not exit in timeout ms), whatever it started
// and left is killed, and what the sanitizers found on the way out (under ASan/UBSan) fails
// the test.
export function closeAfter(t, gw, { timeout = 8000 } = {}) {
	t.after(async () => {
		const snap = snapshot(childPids(gw.pid));
		if (!gw.exitStatus()) await gw.close({ timeout }).catch(() => {});
		for (const { pid } of stillAlive(snap)) {
			try { process.kill(pid, "SIGKILL"); } catch {}
		}
		assert.doesNotMatch(gw.stderrText(), sanitizerReport, logTail(gw.stderrText(), 4000));
	});
	return gw;
}

// SIGTERM child, and SIGKILL it if it has not exited within timeout ms; resolves once it exited.
function stopGently(child, timeout = 10000) {
	const exited = child.mfClosed; // its log read to the end, too
	if (child.exitCode !== null || child.signalCode !== null) return exited;
	child.kill("SIGTERM");
	let timer;
	const late = new Promise((resolve) => { timer = setTimeout(resolve, timeout); });
	return Promise.race([exited, late]).then(() => {
		clearTimeout(timer);
		if (child.exitCode === null && child.signalCode === null) {
			child.kill("SIGKILL");
			return withTimeout(exited, 5000, "the end of a killed process").catch(() => {});
		}
	});
}

// Stop each started process (startProcess) that still runs, one after the other, and wait
// (bounded) for it to exit; for after() hooks that only clean up. A gateway is stopped in
// order (SIGTERM, then SIGKILL after 10 s), so that the sanitizers check it at exit;
// anything else is killed.
export async function killAll(...procs) {
	for (const p of procs) {
		if (!p || p.exitStatus()) continue;
		if (isGateway(p.child)) { await stopGently(p.child); continue; }
		p.kill("SIGKILL");
		await p.waitExit(5000).catch(() => {});
	}
}

// Record what an official SDK (1.x) client transport receives and sends: install before
// client.connect(transport), which keeps the onmessage it finds and calls it first.
// incoming/outgoing are the messages in order; mark() is incoming's length now; when()
// resolves to the first incoming message from index since on that matches predicate
// (function or method name), waiting (bounded) for it if need be; nothing is consumed.
export function recordMessages(transport, label = "client") {
	const incoming = [];
	const outgoing = [];
	const waiters = new Set();
	transport.onmessage = (msg) => {
		incoming.push(msg);
		for (const w of [...waiters]) {
			if (incoming.length - 1 >= w.since && w.match(msg)) { waiters.delete(w); w.resolve(msg); }
		}
	};
	const send = transport.send.bind(transport);
	transport.send = (msg, opts) => { outgoing.push(msg); return send(msg, opts); };
	return {
		incoming,
		outgoing,
		mark: () => incoming.length,
		when(predicate, { since = 0, timeout = 10000, what } = {}) {
			const match = matcher(predicate);
			const found = incoming.slice(since).find(match);
			if (found) return Promise.resolve(found);
			let w;
			const p = new Promise((resolve) => { w = { since, match, resolve }; waiters.add(w); });
			const desc = `${label}: ${what || (typeof predicate === "string" ? predicate : `a message matching ${predicate}`)}`;
			return withTimeout(p, timeout, desc, () => `\n--- ${label} received (last 10) ---\n${incoming.slice(-10).map((m) => JSON.stringify(m).slice(0, 300)).join("\n")}`)
				.finally(() => waiters.delete(w));
		},
	};
}

// One command to a gateway's admin socket (configuration key admin = PATH). The reply is a
// status line "<code> <length> <reason>", <length> bytes of JSON and "\n"; resolves to
// { code, reason, body } (body parsed) once all of it has arrived. Rejects when the socket
// cannot be reached, the reply is malformed, or it is not whole within timeout ms.
export function admin(socketPath, command, { timeout = 5000 } = {}) {
	const sock = net.createConnection(socketPath);
	let buf = Buffer.alloc(0);
	const reply = new Promise((resolve, reject) => {
		sock.on("error", reject);
		sock.on("close", () => reject(new Error(`admin ${socketPath}: closed after ${buf.length} bytes, before a whole reply to ${command}`)));
		sock.on("data", (d) => {
			buf = Buffer.concat([buf, d]);
			const nl = buf.indexOf(10);
			if (nl < 0) return;
			const head = buf.subarray(0, nl).toString();
			const m = /^(\d{3}) (\d+) (.*)$/.exec(head);
			if (!m) return reject(new Error(`admin ${socketPath}: malformed status line ${JSON.stringify(head)}`));
			const end = nl + 1 + Number(m[2]);
			if (buf.length < end + 1) return;
			if (buf[end] !== 10) return reject(new Error(`admin ${socketPath}: the body of ${command} is not followed by a newline`));
			try {
				resolve({ code: Number(m[1]), reason: m[3], body: JSON.parse(buf.subarray(nl + 1, end).toString()) });
			} catch (e) {
				reject(new Error(`admin ${socketPath}: the body of ${command} is not JSON: ${e.message}`));
			}
		});
		sock.write(`${command}\n`);
	});
	return withTimeout(reply, timeout, `the admin socket's reply to ${command}`).finally(() => sock.destroy());
}

// A loopback port nothing listens on.
export async function closedPort() {
	const srv = net.createServer();
	await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
	const port = srv.address().port;
	await new Promise((resolve) => srv.close(resolve));
	return port;
}

// A routing policy file that ranks the targets in configuration order, whatever their
// health; refuse, if given, is Lua code run first (e.g. 'if request.name == "x" then return
// nil, "no" end').
export function inOrderPolicy(refuse = "") {
	const file = path.join(scratchDir(), "in-order.lua");
	fs.writeFileSync(file, `return { route = function(request, candidates)
  ${refuse}
  local ids = {}
  for _, c in ipairs(candidates) do ids[#ids + 1] = c.id end
  return ids
end }
`);
	return file;
}
