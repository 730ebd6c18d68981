// The admin socket and mcpfedctl, against a running gateway: the socket's mode and who may
// connect, the reply format of every command, replies in order on one connection (deferred
// ones included), bad input of every kind, the connection cap, a client that leaves before its
// answer, a stale or foreign file where the socket goes, and mcpfedctl's output and exit codes.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins:build/t/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/admin.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import {
	admin, closeAfter, call, faulty, logTail, luaConfig, mcpfedBin, scratchDir, startStdio, textOf, waitFor, withTimeout,
} from "../lib/harness.mjs";

const ctlBin = () => path.join(path.dirname(mcpfedBin()), "tools", "mcpfedctl");
const isRoot = process.getuid?.() === 0;

// A gateway over stdio with one upstream (faulty.mjs as "up") and an admin socket in a fresh
// directory; closed after the test.
async function start(t, top = {}) {
	const dir = scratchDir();
	const sock = path.join(dir, "run", "mcpfed.sock");
	const config = luaConfig({ admin: sock, providers: [faulty("up")], ...top });
	const gw = startStdio({ config });
	gw.sock = sock;
	gw.dir = dir;
	gw.config = config;
	closeAfter(t, gw);
	await gw.initialize();
	await waitFor(async () => (await admin(sock, "status").catch(() => ({ body: {} }))).body.catalog_settled === true,
		{ what: `the catalog settled${logTail(gw.stderrText())}` });
	await waitFor(() => fs.existsSync(sock), { what: `the admin socket ${sock}${logTail(gw.stderrText())}` });
	return gw;
}

// Replies read from a raw connection: each { code, reason, length, body }, parsed strictly
// (status line, exactly length bytes of JSON, a newline).
function rawClient(sockPath) {
	const sock = net.createConnection(sockPath);
	let buf = Buffer.alloc(0);
	const replies = [];
	let wake = () => {};
	let closed = false;
	sock.on("data", (d) => {
		buf = Buffer.concat([buf, d]);
		for (;;) {
			const nl = buf.indexOf(10);
			if (nl < 0) break;
			const head = buf.subarray(0, nl).toString();
			const m = /^(\d{3}) (\d+) (\S.*)$/.exec(head);
			if (!m) throw new Error(`malformed status line ${JSON.stringify(head)}`);
			const end = nl + 1 + Number(m[2]);
			if (buf.length < end + 1) break;
			assert.equal(buf[end], 10, "a newline after the body");
			replies.push({ code: Number(m[1]), reason: m[3], length: Number(m[2]), body: JSON.parse(buf.subarray(nl + 1, end).toString()) });
			buf = buf.subarray(end + 1);
		}
		wake();
	});
	sock.on("error", () => {});
	sock.on("close", () => { closed = true; wake(); });
	const connected = new Promise((resolve, reject) => { sock.once("connect", resolve); sock.once("error", reject); });
	return {
		sock, replies, connected,
		isClosed: () => closed,
		write: (text) => sock.write(text),
		// resolves once n replies have arrived (bounded)
		until(n, what = `${n} replies`) {
			return withTimeout(new Promise((resolve, reject) => {
				const check = () => {
					if (replies.length >= n) resolve(replies.slice(0, n));
					else if (closed) reject(new Error(`closed after ${replies.length} replies; wanted ${what}`));
				};
				wake = check;
				check();
			}), 10000, what);
		},
		closedSoon: () => withTimeout(new Promise((resolve) => {
			const check = () => { if (closed) resolve(); };
			wake = check;
			check();
		}), 5000, "the admin connection closed"),
		end: () => sock.destroy(),
	};
}

// mcpfedctl ARGS...: { code, stdout, stderr }, bounded.
function ctl(args, { uid, gid, env = {} } = {}) {
	return withTimeout(new Promise((resolve, reject) => {
		const p = spawn(ctlBin(), args, { env: { ...process.env, ...env }, ...(uid !== undefined ? { uid, gid } : {}) });
		let stdout = "", stderr = "";
		p.stdout.setEncoding("utf8").on("data", (d) => { stdout += d; });
		p.stderr.setEncoding("utf8").on("data", (d) => { stderr += d; });
		p.on("error", reject);
		p.on("close", (code) => resolve({ code, stdout, stderr }));
	}), 20000, `mcpfedctl ${args.join(" ")}`);
}

test("the socket is private: mode 0600 in a directory of its own, and it answers its owner", async (t) => {
	const gw = await start(t);
	const st = fs.statSync(gw.sock);
	assert.ok(st.isSocket(), "a Unix socket");
	assert.equal(st.mode & 0o777, 0o600, `mode ${(st.mode & 0o777).toString(8)}`);
	assert.equal(st.uid, process.getuid());
	assert.equal(fs.statSync(path.dirname(gw.sock)).mode & 0o777, 0o700, "the directory it made is private");
	const r = await admin(gw.sock, "status");
	assert.equal(r.code, 200);
	assert.equal(r.body.pid, gw.pid);
});

test("another user is refused twice over: by the file mode, and by its credentials when the mode would let it in",
	{ skip: !isRoot && "connecting as another user needs root" }, async (t) => {
		const gw = await start(t);
		// let nobody reach the directory, so only the socket's own mode stands in the way
		fs.chmodSync(gw.dir, 0o711);
		fs.chmodSync(path.dirname(gw.sock), 0o711);
		const asNobody = { uid: 65534, gid: 65534 };
		const denied = await ctl(["--socket", gw.sock, "status"], asNobody);
		assert.equal(denied.code, 2, JSON.stringify(denied));
		assert.match(denied.stderr, /cannot reach mcpfed .*Permission denied/);
		// with the mode opened, the peer credential check still refuses
		fs.chmodSync(gw.sock, 0o666);
		const refused = await ctl(["--socket", gw.sock, "status"], asNobody);
		assert.equal(refused.code, 1, JSON.stringify(refused));
		assert.match(refused.stderr, /403 Forbidden/);
		assert.match(refused.stdout, /only the gateway's user or root may connect/);
		await waitFor(() => /admin.*connection refused.*uid=65534/.test(gw.stderrText()), { what: "the refusal in the log" });
		// and the owner is still served
		assert.equal((await admin(gw.sock, "status")).code, 200);
	});

test("every command in help answers with a status line, its length and JSON; those that need words say which", async (t) => {
	const gw = await start(t);
	const help = await admin(gw.sock, "help");
	assert.equal(help.code, 200);
	const names = help.body.commands.map((c) => c.usage.split(" ")[0]);
	for (const want of ["help", "status", "plugins", "providers", "targets", "sessions", "breakers", "load", "unload",
		"reload", "drain", "undrain", "breaker", "metrics", "policy", "supervision", "scale"]) {
		assert.ok(names.includes(want), `help lists ${want}: ${names}`);
	}
	for (const c of help.body.commands) assert.ok(c.help.length > 0, `${c.usage} says what it does`);
	const bare = {};
	for (const name of new Set(names)) {
		const r = await admin(gw.sock, name);
		bare[name] = r.code;
		assert.ok([200, 400].includes(r.code), `${name}: ${JSON.stringify(r)}`);
		if (r.code === 400) assert.equal(typeof r.body.error, "string", `${name} says what is missing`);
	}
	assert.deepEqual(
		Object.keys(bare).filter((k) => bare[k] === 400).sort(),
		["breaker", "drain", "load", "reload", "scale", "undrain", "unload"],
		"the commands that need words");
	// what the read-only ones report
	const status = await admin(gw.sock, "status");
	assert.equal(status.body.providers, 1);
	assert.equal(status.body.sessions, 1);
	// the malloc the build chose (configure: jemalloc unless --without-jemalloc or the
	// sanitizers), and it is the one the process has mapped
	const built = fs.readFileSync(path.join(path.dirname(mcpfedBin()), "build-config.h"), "utf8");
	const maps = fs.readFileSync(`/proc/${gw.pid}/maps`, "utf8");
	if (/^#define HAVE_JEMALLOC 1$/m.test(built)) {
		assert.match(status.body.allocator, /^jemalloc \d+\.\d+\.\d+$/);
		assert.match(maps, /libjemalloc\.so/, "jemalloc is mapped");
	} else {
		assert.equal(status.body.allocator, "libc");
		assert.doesNotMatch(maps, /libjemalloc\.so/);
	}
	const providers = (await admin(gw.sock, "providers")).body.providers;
	assert.deepEqual(providers.map((p) => [p.name, p.state]), [["up", "up"]]);
	const targets = (await admin(gw.sock, "targets")).body.targets;
	assert.equal(targets.length, 1);
	const metrics = (await admin(gw.sock, "metrics")).body;
	assert.equal(typeof metrics, "object");
	const sessions = (await admin(gw.sock, "sessions")).body.sessions;
	assert.equal(sessions.length, 1);
});

test("bad input: unknown commands, unknown targets, wrong words, an overlong line, empty lines and bytes that are not text", async (t) => {
	const gw = await start(t);
	const target = (await admin(gw.sock, "targets")).body.targets[0].name;
	const cases = [
		["frobnicate", 404, /unknown command/],
		["drain nosuch", 404, /no such target/],
		["breaker nosuch open", 404, /no such target/],
		[`breaker ${target} sideways`, 400, /usage: breaker TARGET open\|close\|auto\|disable/],
		[`breaker ${target}`, 400, /usage/],
		["unload nosuch", 404, /./],
		["reload nosuch", 404, /./],
		["load /nonexistent/plugin.so", 409, /./],
	];
	for (const [cmd, code, re] of cases) {
		const r = await admin(gw.sock, cmd);
		assert.equal(r.code, code, `${cmd}: ${JSON.stringify(r)}`);
		assert.match(r.body.error ?? r.body.reason ?? JSON.stringify(r.body), re, cmd);
	}
	// on one connection: blank lines get no reply, an overlong line gets 400, the next still works
	const c = rawClient(gw.sock);
	await c.connected;
	c.write("\n   \n\t\n");
	c.write(`${"x".repeat(10000)}\n`);
	c.write("\u0000\u0001\u00ff\u00fe garbage\n");
	c.write("status\n");
	const [long, junk, status] = await c.until(3, "replies to the long line, the junk and status");
	assert.equal(long.code, 400);
	assert.match(long.body.error, /line too long/);
	assert.equal(junk.code, 400);
	assert.match(junk.body.error, /NUL byte/);
	assert.equal(status.code, 200);
	assert.equal(status.body.pid, gw.pid);
	c.end();
	// none of it reached the client's session
	const res = await call(gw, "up__echo", { text: "still here" });
	assert.equal(textOf(res), "still here");
});

test("several commands in one write, deferred ones among them, are answered once each and in order", async (t) => {
	const gw = await start(t);
	const c = rawClient(gw.sock);
	await c.connected;
	// reload config and reload policy may answer later than status; the order must hold anyway
	c.write("status\nreload config\nproviders\nreload policy\nstatus\nfrobnicate\nhelp\n");
	const r = await c.until(7);
	assert.deepEqual(r.map((x) => x.code), [200, 200, 200, 200, 200, 404, 200], JSON.stringify(r.map((x) => [x.code, x.body])));
	assert.ok("pid" in r[0].body && "providers" in r[1].body && "providers" in r[2].body && "pid" in r[4].body && "commands" in r[6].body);
	assert.deepEqual(r[1].body.providers.unchanged, ["up"]);
	// and nothing more arrives
	c.write("status\n");
	await c.until(8);
	assert.equal(c.replies.length, 8);
	c.end();
});

test("a client that leaves before its deferred answer costs nothing; the next one is served", async (t) => {
	const gw = await start(t);
	for (let i = 0; i < 20; i++) {
		const c = rawClient(gw.sock);
		await c.connected;
		c.write("reload config\nstatus\n");
		c.end();
	}
	const r = await admin(gw.sock, "status");
	assert.equal(r.code, 200);
	assert.equal(textOf(await call(gw, "up__echo", { text: "ok" })), "ok");
	await waitFor(() => (gw.stderrText().match(/reconfig: configuration applied/g) || []).length >= 1,
		{ what: `a reload in the log${logTail(gw.stderrText())}` });
});

test("at most 64 admin connections at once: the next is refused with 403 and a reason, and served once one leaves", async (t) => {
	const gw = await start(t);
	const held = [];
	for (let i = 0; i < 64; i++) {
		const c = rawClient(gw.sock);
		await c.connected;
		held.push(c);
	}
	// make sure the gateway has accepted all of them
	held[63].write("status\n");
	await held[63].until(1);
	const over = rawClient(gw.sock);
	await over.connected;
	const [refused] = await over.until(1, "the refusal");
	assert.equal(refused.code, 403);
	assert.match(refused.body.error, /too many admin connections/);
	await over.closedSoon();
	held[0].end();
	await waitFor(async () => (await admin(gw.sock, "status").catch(() => ({ code: 0 }))).code === 200,
		{ what: "a connection accepted again once one left" });
	for (const c of held) c.end();
});

test("the socket's path: a stale socket is replaced, a file that is not a socket or a live gateway's socket is refused", async (t) => {
	// a socket nobody listens on any more, left by a gateway that died
	const dir = scratchDir();
	const sockPath = path.join(dir, "stale.sock");
	const holder = spawn(process.execPath, ["-e",
		"require('net').createServer().listen(process.argv[1], () => process.stdout.write('up\\n'))", sockPath]);
	await withTimeout(new Promise((resolve) => holder.stdout.once("data", resolve)), 10000, "the stale socket's listener");
	holder.kill("SIGKILL");
	await new Promise((resolve) => holder.once("exit", resolve));
	assert.ok(fs.statSync(sockPath).isSocket(), "a killed listener leaves its socket file");
	const gw = startStdio({ config: luaConfig({ admin: sockPath }) });
	t.after(() => gw.close({ timeout: 5000 }).catch(() => {}));
	await gw.initialize();
	assert.equal((await admin(sockPath, "status")).body.pid, gw.pid, "the new gateway took the stale path");

	// a second gateway on the same socket must not steal it
	const second = startStdio({ config: luaConfig({ admin: sockPath }) });
	const st2 = await second.waitExit(10000);
	assert.equal(st2.code, 1, second.stderrText());
	assert.match(second.stderrText(), new RegExp(`admin: ${sockPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use by a running gateway`));
	assert.equal((await admin(sockPath, "status")).body.pid, gw.pid, "the first gateway keeps its socket");

	// a regular file where the socket would go is left alone, and named
	const file = path.join(dir, "not-a-socket");
	fs.writeFileSync(file, "keep me\n");
	const third = startStdio({ config: luaConfig({ admin: file }) });
	const st3 = await third.waitExit(10000);
	assert.equal(st3.code, 1, third.stderrText());
	assert.match(third.stderrText(), /exists and is not a socket/);
	assert.equal(fs.readFileSync(file, "utf8"), "keep me\n");
});

test("mcpfedctl: readable output, --json, exit codes, MCPFED_SOCKET, a gateway that is not there, and a reply that never comes", async (t) => {
	const gw = await start(t);
	const human = await ctl(["--socket", gw.sock, "status"]);
	assert.equal(human.code, 0, JSON.stringify(human));
	assert.match(human.stdout, new RegExp(`^pid: ${gw.pid}$`, "m"));
	assert.match(human.stdout, /^providers_up: 1$/m);
	const targets = await ctl(["--socket", gw.sock, "targets"]);
	assert.match(targets.stdout, /^targets:\n\s+name: up/m, targets.stdout);

	const json = await ctl(["--socket", gw.sock, "--json", "providers"]);
	assert.equal(json.code, 0);
	assert.deepEqual(JSON.parse(json.stdout).providers.map((p) => p.name), ["up"]);

	const viaEnv = await ctl(["--json", "status"], { env: { MCPFED_SOCKET: gw.sock } });
	assert.equal(JSON.parse(viaEnv.stdout).pid, gw.pid);

	const target = JSON.parse(json.stdout).providers[0] && (await admin(gw.sock, "targets")).body.targets[0].name;
	const forced = await ctl(["--socket", gw.sock, "--json", "breaker", target, "open"]);
	assert.equal(forced.code, 0, JSON.stringify(forced));
	assert.match(forced.stdout, /forced_open|open/);
	assert.equal((await ctl(["--socket", gw.sock, "breaker", target, "auto"])).code, 0);

	const unknown = await ctl(["--socket", gw.sock, "frobnicate"]);
	assert.equal(unknown.code, 1);
	assert.match(unknown.stderr, /404 Not Found/);
	assert.match(unknown.stdout, /unknown command/);

	const missing = await ctl(["--socket", path.join(gw.dir, "nothing-here.sock"), "status"]);
	assert.equal(missing.code, 2);
	assert.match(missing.stderr, /cannot reach mcpfed at .*nothing-here\.sock/);

	assert.equal((await ctl([])).code, 2, "no command: usage");
	const usage = await ctl(["--help"]);
	assert.equal(usage.code, 0);
	assert.match(usage.stdout, /--timeout/);
	assert.equal((await ctl(["--timeout", "soon", "status"])).code, 2);

	// a listener that accepts and never answers: mcpfedctl gives up after --timeout
	const mute = net.createServer((s) => { s.on("error", () => {}); });
	const mutePath = path.join(gw.dir, "mute.sock");
	await new Promise((resolve) => mute.listen(mutePath, resolve));
	t.after(() => mute.close());
	const began = Date.now();
	const late = await ctl(["--socket", mutePath, "--timeout", "0.3", "status"]);
	assert.equal(late.code, 2, JSON.stringify(late));
	assert.match(late.stderr, /no reply from .* in 0\.3 s/);
	assert.ok(Date.now() - began < 5000);
});
