// Hot swap through the admin socket, on the kernel's side: `reload NAME` of an in-process
// provider (t/plugins/loopback.c) and of the circuit breakers while calls run, the old
// generation draining what it kept, the refusals that leave the old generation serving
// (another ABI, a set-up that fails, a successor that cannot take over, a truncated file,
// a plugin in use), load and unload, and a thousand reloads with memory, file descriptors
// and mappings flat. The plugins come from a directory of the test's own, so a test can
// put another file in place.
// Run: MCPFED_BIN=build/mcpfed MCPFED_BUILDDIR=build MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/swap.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import {
	admin, call, logTail, luaConfig, scratchDir, startStdio, textOf, waitFor, withTimeout,
} from "../lib/harness.mjs";

const builddir = path.resolve(process.env.MCPFED_BUILDDIR || "build");
const built = {
	loopback: path.join(builddir, "t/plugins/.libs/loopback.so"),
	failload: path.join(builddir, "t/plugins/failload/.libs/loopback.so"),
	failadopt: path.join(builddir, "t/plugins/failadopt/.libs/loopback.so"),
	oddmajor: path.join(builddir, "t/plugins/.libs/oddmajor.so"),
	breaker: path.join(builddir, "plugins/breaker/.libs/breaker.so"),
	http: path.join(builddir, "plugins/http/.libs/http.so"),
};

// A plugin directory of the test's own with loopback.so and breaker.so in it.
function pluginDir() {
	const dir = path.join(scratchDir(), "plugins");
	fs.mkdirSync(dir);
	fs.copyFileSync(built.loopback, path.join(dir, "loopback.so"));
	fs.copyFileSync(built.breaker, path.join(dir, "breaker.so"));
	return dir;
}
// Put another file in place of dir/name.so, as an install would (a new inode).
function install(dir, name, from) {
	const tmp = path.join(dir, `.${name}.tmp`);
	fs.copyFileSync(from, tmp);
	fs.renameSync(tmp, path.join(dir, `${name}.so`));
}

const log = (gw) => gw.stderrText();
const tail = (gw) => logTail(log(gw), 4000);

// The gateway on stdio, with loopback provider "lb", breakers on, an admin socket.
function start(t, top = {}) {
	const dir = pluginDir();
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({
		config: luaConfig({
			log_level: "info", admin: sock, plugin_dirs: [dir], breaker: { minimum_calls: 1000 },
			providers: [{ name: "lb", transport: "loopback" }], ...top,
		}),
	});
	gw.sock = sock;
	gw.dir = dir;
	t.after(async () => {
		if (!gw.exitStatus()) await gw.close({ timeout: 8000 }).catch(() => {});
		assert.doesNotMatch(log(gw), /ERROR: (Address|Leak)Sanitizer|runtime error:/, tail(gw));
	});
	return gw;
}

async function adminOk(gw, command, code = 200) {
	const r = await admin(gw.sock, command, { timeout: 10000 });
	assert.equal(r.code, code, `admin ${command}: ${JSON.stringify(r)}${tail(gw)}`);
	return r.body;
}
const plugin = async (gw, name) => (await adminOk(gw, "plugins")).plugins.filter((p) => p.name === name);
const current = async (gw, name) => (await plugin(gw, name)).find((p) => p.state === "current");
const gen = async (gw) => textOf(await call(gw, "lb__gen"));

// Calls in a loop until stop() (or max calls, or 60 s): resolves to their outcomes and durations.
function load(gw, make, { callers = 4, max = 200000 } = {}) {
	let running = true;
	const results = [];
	const until = Date.now() + 60000;
	const loops = Array.from({ length: callers }, async (_, k) => {
		for (let i = 0; running && results.length < max && Date.now() < until; i++) {
			const t0 = performance.now();
			const [name, args] = make(k, i);
			const res = await call(gw, name, args, { timeout: 15000 }).catch((e) => ({ error: { message: e.message } }));
			results.push({ t0, t1: performance.now(), name, ok: !!res.result && !res.result.isError, res });
		}
	});
	return { stop: async () => { running = false; await Promise.all(loops); return results; } };
}

const pct = (xs, p) => {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const summary = (rs) => {
	const d = rs.map((r) => r.t1 - r.t0);
	return `n=${d.length} p50=${pct(d, 50).toFixed(2)}ms p99=${pct(d, 99).toFixed(2)}ms max=${Math.max(...d).toFixed(2)}ms`;
};
const failures = (rs) => rs.filter((r) => !r.ok).map((r) => `${r.name}: ${JSON.stringify(r.res).slice(0, 300)}`);

// --- reloads under load ---------------------------------------------------------------------------

test("reload of a provider plugin under load: no call fails; slow calls finish on the old generation; then it is unloaded", async (t) => {
	const gw = start(t);
	await gw.initialize();
	const g1 = await gen(gw);
	// two callers make slow calls, so that the ten reloads overlap several however fast they go
	const lg = load(gw, (k, i) => (k < 2 && i % 3 === 0 ? ["lb__slow", { ms: 150 }] : ["lb__echo", { k, i }]), { callers: 6 });
	const windows = [];
	for (let r = 0; r < 10; r++) {
		await new Promise((resolve) => setTimeout(resolve, 60));   // let calls pile up between reloads
		const t0 = performance.now();
		const body = await adminOk(gw, "reload loopback");
		windows.push([t0, performance.now()]);
		assert.equal(body.outcome, "swapped", JSON.stringify(body));
		assert.equal(body.generation, r + 2);
		assert.deepEqual(body.instances.map((i) => [i.role, i.name, i.result]), [["provider", "lb", "swapped"]]);
	}
	const rs = await lg.stop();
	assert.deepEqual(failures(rs), [], "no call failed");
	assert.ok(rs.filter((r) => r.name === "lb__slow").length >= 5, "slow calls ran across the reloads");
	const echo = rs.filter((r) => r.name === "lb__echo");
	const during = echo.filter((r) => windows.some(([a, b]) => r.t0 <= b && r.t1 >= a));
	t.diagnostic(`echo calls overlapping a reload: ${summary(during)}; all echo calls: ${summary(echo)}`);
	assert.notEqual(await gen(gw), g1, "the new generation answers");
	// every old generation drains its slow calls and goes
	await waitFor(async () => (await plugin(gw, "loopback")).length === 1, { timeout: 5000, what: `old generations unloaded${tail(gw)}` });
	const only = (await plugin(gw, "loopback"))[0];
	assert.equal(only.generation, 11);
	assert.equal(only.state, "current");
	assert.ok((log(gw).match(/info swap: old generation drained instance="provider lb"/g) || []).length === 10, tail(gw));
	assert.equal((log(gw).match(/info plugin: unloaded plugin=loopback/g) || []).length, 10);
});

test("drain deadline: a call the old generation keeps past drain_timeout_ms is answered with an error, not left hanging", async (t) => {
	const gw = start(t, { drain_timeout_ms: 300 });
	await gw.initialize();
	const slow = call(gw, "lb__slow", { ms: 20000 }, { timeout: 10000 });
	await waitFor(async () => (await adminOk(gw, "status")).calls_in_flight === 1, { timeout: 5000, what: "the slow call in flight" });
	const t0 = Date.now();
	await adminOk(gw, "reload loopback");
	const res = await slow;
	assert.ok(res.error, `answered with an error: ${JSON.stringify(res)}`);
	assert.ok(Date.now() - t0 < 5000, "soon after the deadline");
	assert.match(log(gw), /warn swap: drain deadline passed; stopping the old generation instance="provider lb" generation=1/);
	assert.ok(textOf(await call(gw, "lb__echo", { after: 1 })), "the new generation serves");
});

test("reload of the breaker plugin keeps every breaker's state: a forced-open breaker stays open, counts carry over", async (t) => {
	const gw = start(t);
	await gw.initialize();
	for (let i = 0; i < 5; i++) assert.ok(textOf(await call(gw, "lb__echo", { i })));
	const before = (await adminOk(gw, "breakers")).breakers.find((b) => b.target === "lb#1");
	assert.equal(before.status.calls, 5, JSON.stringify(before));
	await adminOk(gw, "breaker lb open");
	const lg = load(gw, (k, i) => ["lb__echo", { k, i }], { callers: 3 });
	const body = await adminOk(gw, "reload breaker");
	assert.equal(body.outcome, "swapped", JSON.stringify(body));
	assert.equal(body.generation, 2);
	const rs = await lg.stop();
	assert.ok(rs.length > 0 && rs.every((r) => r.res.error?.code === -32013), "refused while forced open, before and after");
	const after = (await adminOk(gw, "breakers")).breakers.find((b) => b.target === "lb#1");
	assert.equal(after.state, "forced_open", JSON.stringify(after));
	assert.equal(after.status.calls, 5, "its window and counts came along");
	assert.equal(after.status.refused, rs.length, JSON.stringify(after));
	await adminOk(gw, "breaker lb auto");
	const lg2 = load(gw, (k, i) => ["lb__echo", { k, i }], { callers: 3 });
	for (let r = 0; r < 5; r++) await adminOk(gw, "reload breaker");
	const rs2 = await lg2.stop();
	assert.deepEqual(failures(rs2), [], "no call failed across breaker reloads");
	assert.equal((await current(gw, "breaker")).generation, 7);
	await waitFor(async () => (await plugin(gw, "breaker")).length === 1, { timeout: 5000, what: "old breaker generations unloaded" });
});

// --- refusals -------------------------------------------------------------------------------------

test("refused reloads leave the old generation serving: another ABI, a failing set-up, a successor that cannot take over, a truncated file", async (t) => {
	const gw = start(t);
	await gw.initialize();
	const g1 = await gen(gw);
	const lg = load(gw, (k, i) => ["lb__echo", { k, i }], { callers: 3 });
	t.after(() => lg.stop());
	const cases = [
		["another ABI", () => {
			// oddmajor under the name loopback.so: its stamp is read before any of it is mapped
			install(gw.dir, "loopback", built.oddmajor);
		}, /its stamp says SDK \d+\.\d+, this kernel speaks SDK \d+\.\d+ \(another major version/],
		["a set-up that fails", () => install(gw.dir, "loopback", built.failload), /load failed: deliberate failure to set up/],
		["a successor that cannot take over", () => install(gw.dir, "loopback", built.failadopt),
			/"name":"lb","result":"refused","reason":"generation \d+ failed to start: deliberate failure to take over"/],
		["a truncated file", () => {
			const whole = fs.readFileSync(built.loopback);
			fs.writeFileSync(path.join(gw.dir, ".trunc"), whole.subarray(0, Math.floor(whole.length / 3)));
			fs.renameSync(path.join(gw.dir, ".trunc"), path.join(gw.dir, "loopback.so"));
		}, /loopback\.so/],
	];
	for (const [what, put, reason] of cases) {
		put();
		const r = await admin(gw.sock, "reload loopback", { timeout: 10000 });
		assert.equal(r.code, 409, `${what}: ${JSON.stringify(r)}`);
		const text = JSON.stringify(r.body);
		assert.match(text, reason, what);
		assert.match(text, /old generation keeps serving/, what);
		assert.equal(await gen(gw), g1, `${what}: the old generation still answers`);
		const cur = await current(gw, "loopback");
		assert.equal(cur.generation, 1, `${what}: generation 1 is current`);
		await waitFor(async () => (await plugin(gw, "loopback")).length === 1, { timeout: 5000, what: `${what}: nothing of the refused file stays loaded` });
	}
	const rs = await lg.stop();
	assert.deepEqual(failures(rs), [], "no call failed through the refusals");
	// the good file back: the reload goes through
	install(gw.dir, "loopback", built.loopback);
	const ok = await adminOk(gw, "reload loopback");
	assert.equal(ok.outcome, "swapped");
	assert.notEqual(await gen(gw), g1);
});

test("unload refuses a plugin in use and names its users; load and unload a plugin nothing uses; bad commands", async (t) => {
	const gw = start(t);
	await gw.initialize();
	let r = await admin(gw.sock, "unload loopback");
	assert.equal(r.code, 409, JSON.stringify(r));
	assert.match(r.body.error, /plugin loopback is in use by provider lb; it stays loaded/);
	r = await admin(gw.sock, "unload breaker");
	assert.equal(r.code, 409, JSON.stringify(r));
	assert.match(r.body.error, /circuit breakers/);
	r = await admin(gw.sock, "unload stdio");
	assert.equal(r.code, 409, JSON.stringify(r));
	assert.match(r.body.error, /transport stdio/);
	assert.ok(textOf(await call(gw, "lb__echo", { still: 1 })), "still serving");

	assert.equal((await plugin(gw, "http")).length, 0, "http is not loaded here");
	const loaded = await adminOk(gw, `load ${built.http}`);
	assert.equal(loaded.name, "http");
	assert.deepEqual(loaded.roles, ["transport", "provider"]);
	assert.equal((await plugin(gw, "http")).length, 1);
	r = await admin(gw.sock, `load ${built.http}`);
	assert.equal(r.code, 409, "loaded already");
	const gone = await adminOk(gw, "unload http");
	assert.equal(gone.unloaded, true);
	assert.equal((await plugin(gw, "http")).length, 0);
	assert.match(log(gw), /info plugin: unloaded plugin=http generation=1/);

	r = await admin(gw.sock, `load ${built.oddmajor}`);
	assert.equal(r.code, 409);
	assert.match(r.body.error, /another major version/);
	r = await admin(gw.sock, "load /nonexistent/x.so");
	assert.equal(r.code, 409);
	assert.match(r.body.error, /\/nonexistent\/x\.so/);
	r = await admin(gw.sock, "reload nosuch");
	assert.equal(r.code, 404, JSON.stringify(r));
	r = await admin(gw.sock, "reload");
	assert.equal(r.code, 400);
	r = await admin(gw.sock, "unload");
	assert.equal(r.code, 400);
	assert.ok(textOf(await call(gw, "lb__echo", { end: 1 })));
});

// --- a thousand reloads ---------------------------------------------------------------------------

// One admin connection for many commands: replies come in order.
function adminSession(sockPath) {
	const sock = net.createConnection(sockPath);
	let buf = Buffer.alloc(0);
	const waiting = [];
	sock.on("data", (d) => {
		buf = Buffer.concat([buf, d]);
		for (;;) {
			const nl = buf.indexOf(10);
			if (nl < 0) return;
			const m = /^(\d{3}) (\d+) /.exec(buf.subarray(0, nl).toString());
			const end = nl + 1 + Number(m[2]);
			if (buf.length < end + 1) return;
			const body = JSON.parse(buf.subarray(nl + 1, end).toString());
			buf = buf.subarray(end + 1);
			waiting.shift()({ code: Number(m[1]), body });
		}
	});
	return {
		send: (command) => withTimeout(new Promise((resolve) => { waiting.push(resolve); sock.write(`${command}\n`); }), 10000, command),
		close: () => sock.destroy(),
	};
}

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const mappedPlugins = (pid) => new Set(fs.readFileSync(`/proc/${pid}/maps`, "utf8").split("\n")
	.filter((l) => /mcpfed-plugin-/.test(l)).map((l) => l.split(/\s+/).slice(5).join(" "))).size;

test("a thousand reloads: memory, file descriptors and mapped plugin copies stay flat", { timeout: 240000 }, async (t) => {
	const gw = start(t);
	await gw.initialize();
	const a = adminSession(gw.sock);
	t.after(() => a.close());
	const reload = async (name) => {
		const r = await a.send(`reload ${name}`);
		assert.equal(r.code, 200, JSON.stringify(r));
	};
	const round = async (n) => {
		for (let i = 0; i < n; i++) {
			await reload(i % 2 ? "breaker" : "loopback");
			if (i % 10 === 0) assert.ok(textOf(await call(gw, "lb__echo", { i })));
		}
		// the last old generations go on a later turn
		await waitFor(async () => (await a.send("plugins")).body.plugins.length === 3, { timeout: 5000, what: "old generations unloaded" });
	};
	await round(100);   // warm-up: allocators and caches reach their working size
	const before = { rss: rssKb(gw.pid), fds: fds(gw.pid), maps: mappedPlugins(gw.pid) };
	await round(1000);
	const after = { rss: rssKb(gw.pid), fds: fds(gw.pid), maps: mappedPlugins(gw.pid) };
	t.diagnostic(`after 100 reloads: ${JSON.stringify(before)}; after 1100: ${JSON.stringify(after)}`);
	assert.equal(after.fds, before.fds, "file descriptors");
	assert.equal(after.maps, before.maps, "mapped plugin copies");
	assert.ok(after.maps <= 3, `only the current loopback, breaker and stdio are mapped (${after.maps})`);
	// Under AddressSanitizer the resident memory is mostly the sanitizer's, which keeps some
	// 4 kB for every plugin mapped and unmapped; its leak check covers the gateway's there.
	// (gcc links the sanitizer's library, clang puts it in the binary: either names __asan_init)
	const sanitized = fs.readFileSync(`/proc/${gw.pid}/exe`).includes("__asan_init");
	if (!sanitized) assert.ok(after.rss - before.rss < 1024, `resident memory grew by ${after.rss - before.rss} kB`);
	const gens = (await a.send("plugins")).body.plugins.filter((p) => p.name !== "stdio").map((p) => [p.name, p.generation]).sort();
	assert.deepEqual(gens, [["breaker", 551], ["loopback", 551]]);
});

// --- watch_plugins --------------------------------------------------------------------------------

test("watch_plugins: a new file in place of a running plugin is swapped in under load; a bad one is refused; a new plugin is loaded", async (t) => {
	const gw = start(t, { watch_plugins: true });
	await gw.initialize();
	await waitFor(() => new RegExp(`info watch: watching plugin directory dir=${gw.dir}`).test(log(gw)), { what: "the watch" });
	const g1 = await gen(gw);
	const lg = load(gw, (k, i) => ["lb__echo", { k, i }], { callers: 3 });
	t.after(() => lg.stop());
	install(gw.dir, "loopback", built.loopback);
	await waitFor(() => /info swap: reloaded plugin=loopback generation=2/.test(log(gw)), { timeout: 5000, what: `the reload${tail(gw)}` });
	assert.notEqual(await gen(gw), g1, "the new file serves");
	// written in place, in pieces: one reload once the writes are over
	const whole = fs.readFileSync(built.loopback);
	const fd = fs.openSync(path.join(gw.dir, "loopback.so"), "w");
	for (let off = 0; off < whole.length; off += 65536) {
		fs.writeSync(fd, whole, off, Math.min(65536, whole.length - off));
		await new Promise((resolve) => setTimeout(resolve, 5));
	}
	fs.closeSync(fd);
	await waitFor(() => /info swap: reloaded plugin=loopback generation=3/.test(log(gw)), { timeout: 5000, what: `the second reload${tail(gw)}` });
	install(gw.dir, "loopback", built.oddmajor);
	await waitFor(() => /warn swap: reload refused plugin=loopback .*another major version/.test(log(gw)), { timeout: 5000, what: `the refusal${tail(gw)}` });
	const g3 = await gen(gw);
	assert.equal((await current(gw, "loopback")).generation, 3, "the old generation serves on");
	fs.copyFileSync(built.http, path.join(gw.dir, "http.so"));
	await waitFor(async () => (await plugin(gw, "http")).length === 1, { timeout: 5000, what: `http loaded${tail(gw)}` });
	const rs = await lg.stop();
	assert.deepEqual(failures(rs), [], "no call failed");
	assert.equal(await gen(gw), g3);
	assert.equal((log(gw).match(/info swap: reloaded plugin=loopback/g) || []).length, 2, "one reload per new file");
});
