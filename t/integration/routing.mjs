// Routing with real upstream processes (t/servers/faulty.mjs), checked through the answers
// (which process answered: faulty's pid tool, or echo with FAULTY_ECHO_PID=1), the admin
// socket (targets, breakers, drain, breaker, policy) and the log: replicas killed under load,
// a slow replica's circuit breaker opening and closing again, fallback providers, the policy
// file edited while the gateway runs, refusals and what the policy is told, the policy's
// sandbox (what it leaves out, instruction and memory budgets, and the ways around a budget
// that must not stall the gateway), health checks, admin overrides, and retries of
// idempotent calls.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/routing.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
	admin, closeAfter, call, faulty, faultyAfter, logTail, luaConfig, mcpfedBin, scratchDir, startProcess,
	startStdio, textOf, waitFor, withTimeout,
} from "../lib/harness.mjs";

// --- the gateway ------------------------------------------------------------------------------

// mcpfed --stdio with an admin socket of its own; after the test, it is closed (killed if it
// does not exit in closeTimeout ms) and whatever it started is killed.
function start(t, top, { closeTimeout = 8000 } = {}) {
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = startStdio({ config: luaConfig({ log_level: "info", admin: sock, ...top }) });
	gw.sock = sock;
	return closeAfter(t, gw, { timeout: closeTimeout });
}

const log = (gw) => gw.stderrText();
const tail = (gw) => logTail(log(gw), 4000);
const count = (text, re) => (text.match(new RegExp(re, "g")) || []).length;
// The log reaches us on its own pipe, after answers that came later: wait (bounded) for a line.
const logged = (gw, re, timeout = 5000) =>
	waitFor(() => re.test(log(gw)), { timeout, what: `${re} in the log${tail(gw)}` });

async function adminOk(gw, command) {
	const r = await admin(gw.sock, command);
	assert.equal(r.code, 200, `admin ${command}: ${JSON.stringify(r)}`);
	return r.body;
}
const targets = async (gw) => (await adminOk(gw, "targets")).targets;
const target = async (gw, name) => {
	const x = (await targets(gw)).find((y) => y.name === name);
	assert.ok(x, `target ${name} in admin targets`);
	return x;
};
const breakerOf = async (gw, name) => {
	const b = (await adminOk(gw, "breakers")).breakers.find((y) => y.target === name);
	assert.ok(b, `target ${name} in admin breakers`);
	return b;
};
const policyStatus = (gw) => adminOk(gw, "policy");

// The exit status of a process run to its end, once all it wrote on stderr has arrived too.
async function exited(proc, timeout = 10000) {
	const status = await proc.waitExit(timeout);
	const err = proc.child.stderr;
	if (!err.closed) await withTimeout(new Promise((resolve) => err.once("close", resolve)), timeout, "the end of stderr");
	return status;
}

// Wait until every one of the n targets of provider is up and its process answered initialize;
// resolves to { "<provider>#<i>": pid }.
async function allReady(gw, provider, n, timeout = 20000) {
	return waitFor(async () => {
		const ts = (await targets(gw)).filter((x) => x.provider === provider);
		if (ts.length !== n || !ts.every((x) => x.up)) return false;
		const sup = (await adminOk(gw, "supervision")).supervisors.find((s) => s.name === provider);
		if (!sup || sup.children.length !== n) return false;
		const pids = {};
		for (const c of sup.children) {
			const name = n === 1 ? `${provider}#1` : c.name;
			if (!(c.pid > 0) || !new RegExp(`info stdio: upstream ready provider=${provider} replica=\\d+ pid=${c.pid} `).test(log(gw))) return false;
			pids[name] = c.pid;
		}
		return pids;
	}, { timeout, interval: 50, what: `${n} ready targets of ${provider}${tail(gw)}` });
}

// The process that answered: echo's "pid=N" item (FAULTY_ECHO_PID=1), or the pid tool's text.
const echoPid = (res) => Number(/^pid=(\d+)$/.exec(res.result?.content?.[1]?.text ?? "")?.[1]);
const pidOf = (res) => Number(textOf(res));
async function pidCall(gw, name = "p__pid") {
	const res = await call(gw, name);
	assert.ok(res.result && !res.result.isError, `${name} answered: ${JSON.stringify(res)}${tail(gw)}`);
	return pidOf(res);
}
// n calls of the pid tool one after the other: the pids that answered, in order.
async function pidCalls(gw, n, name = "p__pid") {
	const out = [];
	for (let i = 0; i < n; i++) out.push(await pidCall(gw, name));
	return out;
}

// A policy file in a directory of its own; its path.
function policyFile(text, name = "policy.lua") {
	const file = path.join(scratchDir(), name);
	fs.writeFileSync(file, text);
	return file;
}

// A policy that puts the candidate whose target is `want` first, the rest in their order.
const prefer = (want) => `-- everything to ${want} while it can take it
local want = ${JSON.stringify(want)}
return {
  route = function(request, candidates)
    local ids = {}
    for _, c in ipairs(candidates) do
      if c.target == want then table.insert(ids, 1, c.id) else ids[#ids + 1] = c.id end
    end
    return ids
  end,
}
`;

// The candidates in the order given, whatever their state: what the kernel itself enforces shows.
const asGiven = `return {
  route = function(request, candidates)
    local ids = {}
    for i, c in ipairs(candidates) do ids[i] = c.id end
    return ids
  end,
}
`;

// --- a. a replica killed under load ------------------------------------------------------------

test("a replica killed under load: only its calls in flight fail (-32011); later calls go to the other replicas", async (t) => {
	const gw = start(t, {
		providers: [faulty("p", {
			replicas: 3, restart: { type: "temporary" },
			env: { FAULTY_SLOW_MS: "40", FAULTY_ECHO_PID: "1" },
		})],
	});
	await gw.initialize();
	const pids = await allReady(gw, "p", 3);
	const victim = pids["p#2"];
	const others = new Set([pids["p#1"], pids["p#3"]]);

	const CONCURRENCY = 12;
	const AFTER = 150;   // calls sent once the gateway saw the replica gone
	const records = [];
	let outstanding = 0;
	let phase = "before";   // "before" the kill, "killed", "seen" (admin says the target is down)
	let stop = false;
	let afterSeen = 0;
	const worker = async (w) => {
		for (let i = 0; !stop; i++) {
			const rec = { phase, text: `w${w}-${i}` };
			if (phase === "seen") afterSeen++;
			outstanding++;
			try {
				rec.res = await call(gw, "p__echo", { text: rec.text }, { timeout: 10000 });
			} finally {
				outstanding--;
			}
			records.push(rec);
			if (afterSeen >= AFTER) stop = true;
		}
	};
	const workers = Array.from({ length: CONCURRENCY }, (_, w) => worker(w));
	try {
		// every replica takes its share before the kill
		await waitFor(() => Object.values(pids).every((pid) => records.some((r) => echoPid(r.res) === pid)),
			{ timeout: 10000, what: `answers from all three replicas${tail(gw)}` });
		const atKill = outstanding;
		phase = "killed";
		process.kill(victim, "SIGKILL");
		await waitFor(async () => !(await target(gw, "p#2")).up, { timeout: 5000, what: `p#2 down in admin targets${tail(gw)}` });
		phase = "seen";
		await withTimeout(Promise.all(workers), 30000, `${AFTER} calls after the kill`);

		const failed = records.filter((r) => !r.res.result);
		for (const r of failed) {
			assert.equal(r.res.error?.code, -32011, `a failed call is one lost with the replica: ${JSON.stringify(r.res)}`);
			assert.match(r.res.error.message, /provider p: upstream killed by signal 9 while handling the request/);
			assert.notEqual(r.phase, "seen", "no call sent after the gateway saw the replica gone fails");
		}
		assert.ok(failed.length <= atKill, `${failed.length} failed calls, at most the ${atKill} in flight at the kill`);
		const ok = records.filter((r) => r.res.result);
		assert.equal(ok.length + failed.length, records.length);
		for (const r of ok) assert.equal(textOf(r.res), r.text, "echo answers with the call's own text");

		t.diagnostic(`${records.length} calls; ${atKill} in flight at the kill; ${failed.length} lost with the replica`);
		const later = records.filter((r) => r.phase === "seen");
		assert.ok(later.length >= AFTER, `${later.length} calls after the kill`);
		const laterPids = later.map((r) => echoPid(r.res));
		assert.ok(laterPids.every((pid) => others.has(pid)),
			`after the kill only the other replicas answer: ${[...new Set(laterPids)]} vs ${[...others]}`);
		for (const pid of others) {
			assert.ok(laterPids.filter((x) => x === pid).length >= AFTER / 6,
				`replica ${pid} takes a share of the load: ${laterPids.filter((x) => x === pid).length} of ${later.length}`);
		}
		await logged(gw, new RegExp(`info supervisor: child exited child=p#2 pid=${victim} status=0 signal=9`));
		const p2 = await target(gw, "p#2");
		assert.equal(p2.up, false);
		assert.equal(p2.inflight, 0, "no call counted in flight on the dead target");
		assert.equal(gw.exitStatus(), undefined, "the gateway runs on");
	} finally {
		stop = true;
		await Promise.allSettled(workers);
	}
});

// --- b. a slow replica's circuit breaker --------------------------------------------------------

// Turn by turn over the candidates, whatever their state: a target whose breaker refuses is
// skipped by the kernel, not by the policy.
const rotate = `local n = 0
return {
  route = function(request, candidates)
    n = n + 1
    local ids = {}
    for i = 1, #candidates do ids[i] = candidates[(n + i - 2) % #candidates + 1].id end
    return ids
  end,
}
`;

test("a slow replica: its breaker opens on slow calls, calls avoid it, then half-open probes close it again", async (t) => {
	const slowFile = path.join(scratchDir(), "slow");
	const openWaitMs = 2500;
	const gw = start(t, {
		policy: policyFile(rotate),
		breaker: {
			window: "count", window_size: 4, minimum_calls: 4, failure_rate: 50, slow_call_ms: 400, slow_call_rate: 50,
			open_wait_ms: openWaitMs, permitted_half_open: 2,
		},
		providers: [faulty("p", { replicas: 2, env: { FAULTY_SLOW_FILE: slowFile, FAULTY_ECHO_PID: "1" } })],
	});
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	const echoes = async (n, tag) => {
		const res = await Promise.all(Array.from({ length: n }, (_, i) => call(gw, "p__echo", { text: `${tag}${i}` })));
		res.forEach((r, i) => assert.equal(textOf(r), `${tag}${i}`, `answered: ${JSON.stringify(r)}${tail(gw)}`));
		return res.map(echoPid);
	};

	// fast: both take calls, the breakers stay closed
	const fast = await echoes(8, "fast");
	assert.equal(fast.filter((p) => p === pids["p#2"]).length, 4, `turn by turn: ${fast}`);
	assert.equal((await breakerOf(gw, "p#2")).state, "closed");

	// p#2 slow (800 ms > slow_call_ms): its four calls fill the window, all slow, and it opens
	fs.writeFileSync(slowFile, `${pids["p#2"]} 800\n`);
	const started = Date.now();
	const slow = await echoes(8, "slow");
	assert.equal(slow.filter((p) => p === pids["p#2"]).length, 4, `p#2 still took its turns: ${slow}`);
	assert.ok(Date.now() - started >= 800, "p#2 was slow");
	const open = await breakerOf(gw, "p#2");
	assert.equal(open.state, "open", JSON.stringify(open));
	assert.ok(open.status.slow >= 4, JSON.stringify(open));
	// the window (4 calls) held two fast calls when the second slow one reached the threshold;
	// the slow calls recorded after it opened count for nothing
	assert.equal(open.status.slow_call_rate, 50, JSON.stringify(open));
	assert.ok(open.status.opens_in_ms > 0 && open.status.opens_in_ms <= openWaitMs, JSON.stringify(open));
	assert.equal((await breakerOf(gw, "p#1")).state, "closed", "the fast replica's breaker stays closed");
	assert.equal((await target(gw, "p#2")).breaker, "open", "targets says so too");

	// open: the calls whose turn is p#2 are refused by its breaker and go to p#1
	const refusedBefore = open.status.refused;
	const avoided = await echoes(6, "avoid");
	assert.deepEqual(avoided, Array(6).fill(pids["p#1"]), "only p#1 answers while p#2's breaker is open");
	const stillOpen = await breakerOf(gw, "p#2");
	assert.equal(stillOpen.state, "open", "still open: this took less than open_wait_ms");
	assert.ok(stillOpen.status.refused >= refusedBefore + 3, `p#2 refused its turns: ${JSON.stringify(stillOpen)}`);

	// fast again; after open_wait_ms the breaker is half-open (no call needed to see it)
	fs.writeFileSync(slowFile, "");
	await waitFor(async () => (await breakerOf(gw, "p#2")).state === "half_open",
		{ timeout: openWaitMs + 3000, interval: 50, what: `p#2 half-open${tail(gw)}` });
	// it opened once a slow call (800 ms) ended, and stays open open_wait_ms
	assert.ok(Date.now() - started >= 800 + openWaitMs - 20, `not before open_wait_ms: ${Date.now() - started} ms`);
	// two fast trial calls close it
	const probes = [];
	await waitFor(async () => {
		probes.push(...await echoes(1, "probe"));
		return (await breakerOf(gw, "p#2")).state === "closed";
	}, { timeout: 5000, what: `p#2's breaker closed by fast trial calls (answers so far ${probes})${tail(gw)}` });
	assert.equal(probes.filter((p) => p === pids["p#2"]).length, 2, `exactly permitted_half_open trial calls: ${probes}`);
	const back = await echoes(4, "back");
	assert.equal(back.filter((p) => p === pids["p#2"]).length, 2, `p#2 takes its turns again: ${back}`);
});

// --- c. fallback providers ------------------------------------------------------------------------

test("the whole primary group down (crash-looping, given up): calls are answered by the fallback provider", async (t) => {
	const flag = path.join(scratchDir(), "crash");
	const gw = start(t, {
		providers: [
			faultyAfter("primary", `[ -e '${flag}' ] && exit 1;`, {
				replicas: 2, fallback: ["backup"],
				restart: { intensity: 2, period_ms: 60000, backoff_min_ms: 10, backoff_max_ms: 20, cooldown_ms: 60000 },
				env: { FAULTY_NAME: "primary" },
			}),
			faulty("backup", { env: { FAULTY_NAME: "backup" } }),
		],
	});
	await gw.initialize();
	const primary = await allReady(gw, "primary", 2);
	const backup = (await allReady(gw, "backup", 1))["backup#1"];
	// up: the owner's targets come first
	const before = await pidCalls(gw, 4, "primary__pid");
	assert.ok(before.every((p) => Object.values(primary).includes(p)), `the primary answers while up: ${before} ${JSON.stringify(primary)}`);

	// every replica of the primary dies and cannot start again: the supervisor gives up
	fs.writeFileSync(flag, "");
	for (const pid of Object.values(primary)) process.kill(pid, "SIGKILL");
	await waitFor(async () => (await adminOk(gw, "providers")).providers.find((p) => p.name === "primary")?.state === "failed",
		{ timeout: 10000, interval: 50, what: `primary failed${tail(gw)}` });
	await logged(gw, /warn registry: provider failed provider=primary /);
	const ts = (await targets(gw)).filter((x) => x.provider === "primary");
	assert.ok(ts.every((x) => !x.up), JSON.stringify(ts));

	const after = await pidCalls(gw, 6, "primary__pid");
	assert.deepEqual(after, Array(6).fill(backup), "the backup answers the primary's calls");
	const echo = await call(gw, "primary__echo", { text: "via backup" });
	assert.equal(textOf(echo), "via backup", JSON.stringify(echo));
	// the backup's own tools are still its own
	assert.equal(await pidCall(gw, "backup__pid"), backup);
	// calls that never reached the primary count for nothing against its breakers
	for (const x of ts) assert.equal(x.breaker_status.failures, 0, JSON.stringify(x));
});

// --- d. the policy file edited while the gateway runs -------------------------------------------

test("the policy file edited during a run: saved in place or renamed over, it decides the next calls; a broken edit keeps the old one", async (t) => {
	const file = policyFile(prefer("p#1"));
	const dir = path.dirname(file);
	const gw = start(t, { policy: file, providers: [faulty("p", { replicas: 2 })] });
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	const loaded = () => count(log(gw), "info policy: loaded file=");
	const refused = () => count(log(gw), "error policy: new policy refused; the old one stays ");
	assert.equal(loaded(), 1);
	assert.deepEqual(await pidCalls(gw, 4), Array(4).fill(pids["p#1"]), "v1 sends everything to p#1");

	// saved in place
	let status = await policyStatus(gw);
	assert.equal(status.file, file);
	assert.equal(status.reloads, 0);
	fs.writeFileSync(file, prefer("p#2"));
	await waitFor(() => loaded() === 2, { timeout: 5000, what: `policy: loaded after the save in place${tail(gw)}` });
	assert.deepEqual(await pidCalls(gw, 4), Array(4).fill(pids["p#2"]), "after the save: p#2");
	status = await policyStatus(gw);
	assert.equal(status.reloads, 1, JSON.stringify(status));
	assert.equal(status.failed_reloads, 0, JSON.stringify(status));

	// replaced by rename, as editors save
	const tmp = path.join(dir, ".policy.lua.swp");
	fs.writeFileSync(tmp, prefer("p#1"));
	fs.renameSync(tmp, file);
	await waitFor(() => loaded() === 3, { timeout: 5000, what: `policy: loaded after the rename${tail(gw)}` });
	assert.deepEqual(await pidCalls(gw, 4), Array(4).fill(pids["p#1"]), "after the rename: p#1");
	assert.equal((await policyStatus(gw)).reloads, 2);

	// and back to p#2 by rename, so that what follows shows the last good policy stays
	fs.writeFileSync(tmp, prefer("p#2"));
	fs.renameSync(tmp, file);
	await waitFor(() => loaded() === 4, { timeout: 5000, what: `policy: loaded after the second rename${tail(gw)}` });
	assert.deepEqual(await pidCalls(gw, 3), Array(3).fill(pids["p#2"]));

	// a syntax error (line 3): refused, logged with file and line; the old policy keeps deciding
	fs.writeFileSync(file, "return {\n  route = function(request, candidates)\n    return { 1, 2\n  end,\n}\n");
	await waitFor(() => refused() === 1, { timeout: 5000, what: `the refusal of the broken policy${tail(gw)}` });
	const line = log(gw).split("\n").find((l) => l.includes("policy: new policy refused; the old one stays"));
	assert.ok(line.includes(`reason="policy ${file}:4:`), `the log names the file and line: ${line}`);
	status = await policyStatus(gw);
	assert.equal(status.failed_reloads, 1, JSON.stringify(status));
	assert.equal(status.reloads, 3, JSON.stringify(status));
	assert.ok(status.last_error?.includes(`${file}:4:`), JSON.stringify(status));
	assert.deepEqual(await pidCalls(gw, 4), Array(4).fill(pids["p#2"]), "the previous policy still routes");

	// no route function; a route that fails the self-check (an id that is no candidate); a
	// file whose top level raises: each refused, the old policy stays
	const broken = [
		["return { rout = function() return { 1 } end }\n", "must return a table with a route function"],
		["return { route = function(r, c) return { 7 } end }\n", "self-check failed: route returned an id out of range at position 1"],
		["local x = 1\nerror(\"not today\")\nreturn { route = function() return { 1 } end }\n", `${file}:2: not today`],
	];
	for (const [i, [text, why]] of broken.entries()) {
		fs.writeFileSync(file, text);
		await waitFor(() => refused() === 2 + i, { timeout: 5000, what: `the refusal of broken policy ${i}${tail(gw)}` });
		status = await policyStatus(gw);
		assert.equal(status.failed_reloads, 2 + i, JSON.stringify(status));
		assert.ok(status.last_error?.includes(why), `last_error says ${why}: ${JSON.stringify(status)}`);
		assert.ok(status.last_error?.includes(file), `last_error names the file: ${JSON.stringify(status)}`);
		assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]), `the previous policy still routes after broken ${i}`);
	}
	assert.equal(loaded(), 4, "no broken version was loaded");
	assert.equal((await policyStatus(gw)).errors, 0, "no decision failed meanwhile");

	// a good save after broken ones is taken, and clears last_error
	fs.writeFileSync(file, prefer("p#1"));
	await waitFor(() => loaded() === 5, { timeout: 5000, what: `policy: loaded after the fix${tail(gw)}` });
	assert.deepEqual(await pidCalls(gw, 3), Array(3).fill(pids["p#1"]));
	status = await policyStatus(gw);
	assert.equal(status.last_error, null, JSON.stringify(status));
});

// --- e. refusals, and what the policy is told ----------------------------------------------------

test("a policy refusal: -32013 with the policy's reason for that tool; other tools work; the request and candidates as documented", async (t) => {
	const file = policyFile(`local function list(t) local o = {} for i, v in ipairs(t) do o[i] = tostring(v) end return table.concat(o, ",") end
return {
  route = function(request, candidates)
    if request.name == "p__pid" then return nil, "not for you" end
    if request.name == "p__sleep" then
      local c = request.client
      return nil, string.format("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", request.method, request.name, request.upstream,
        request.provider, math.type(request.session), request.protocol, request.args_size, c.name, c.version, tostring(c.missing))
    end
    if request.name == "p__hang" then
      local out = {}
      for i, x in ipairs(candidates) do
        out[i] = string.format("%d %s %s %s %s %s %s %d %g [%s] %s %s %s", x.id, x.provider, x.target, tostring(x.healthy),
          tostring(x.draining), tostring(x.fallback), x.breaker, x.inflight, x.weight, list(x.tags),
          type(x.latency_ms), type(x.p99_ms), type(x.error_rate))
      end
      return nil, table.concat(out, "; ")
    end
    local ids = {}
    for i, c in ipairs(candidates) do ids[i] = c.id end
    return ids
  end,
}
`);
	const gw = start(t, {
		policy: file,
		providers: [
			faulty("p", { weight: 2.5, tags: ["blue", "eu"], fallback: ["q"] }),
			faulty("q"),
		],
	});
	await gw.initialize({ clientInfo: { name: "routing-test", version: "7.1" } });
	await allReady(gw, "p", 1);
	await allReady(gw, "q", 1);

	const refused = await call(gw, "p__pid");
	assert.equal(refused.error?.code, -32013, JSON.stringify(refused));
	assert.equal(refused.error.message, "not for you");
	const echo = await call(gw, "p__echo", { text: "fine" });
	assert.equal(textOf(echo), "fine", JSON.stringify(echo));
	assert.ok(pidOf(await call(gw, "q__pid")) > 0, "q's own pid tool is not refused");

	const req = await call(gw, "p__sleep", { ms: 1 });
	assert.equal(req.error?.code, -32013, JSON.stringify(req));
	assert.equal(req.error.message,
		`tools/call|p__sleep|sleep|p|integer|2025-06-18|${JSON.stringify({ ms: 1 }).length}|routing-test|7.1|nil`);

	const cands = await call(gw, "p__hang");
	assert.equal(cands.error?.code, -32013, JSON.stringify(cands));
	assert.equal(cands.error.message,
		"1 p p#1 true false false closed 0 2.5 [blue,eu] number number number; " +
		"2 q q#1 true false true closed 0 1 [] number number number");
	const status = await policyStatus(gw);
	assert.equal(status.errors, 0, JSON.stringify(status));
	assert.ok(status.decisions >= 5, JSON.stringify(status));
});

test("reload policy: a good file decides the next calls; a broken one is refused with 409 naming file and line, the old one deciding on", async (t) => {
	const file = policyFile(prefer("p#1"));
	const gw = start(t, { policy: file, providers: [faulty("p", { replicas: 2 })] });
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#1"]));
	fs.writeFileSync(file, prefer("p#2"));
	const good = await admin(gw.sock, "reload policy");
	assert.equal(good.code, 200, JSON.stringify(good));
	assert.ok(good.body.reloads >= 1, JSON.stringify(good.body));
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]), "the reloaded policy decides at once");
	fs.writeFileSync(file, "return { route = function(request, candidates)\n  return { 1 \nend }\n");
	const bad = await admin(gw.sock, "reload policy");
	assert.equal(bad.code, 409, JSON.stringify(bad));
	assert.match(bad.body.error, /the new policy was refused; the old one stays/);
	assert.match(JSON.stringify(bad.body), new RegExp(`${path.basename(file)}:3:`), "the reason names file and line");
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]), "the old policy decides on");
});

// --- the examples in lua/examples ---------------------------------------------------------------

const examplesDir = path.resolve(process.env.MCPFED_LUA_PATH || path.join(import.meta.dirname, "..", "..", "lua"), "examples");

test("every policy in lua/examples loads and passes its self-check", async () => {
	const files = fs.readdirSync(examplesDir).filter((f) => f.endsWith(".lua"));
	assert.ok(files.length >= 4, files.join(","));
	for (const f of files) {
		const check = startProcess([mcpfedBin(), "--check", "-c", luaConfig({ policy: path.join(examplesDir, f), providers: [faulty("p")] })]);
		const st = await exited(check);
		assert.equal(st.code, 0, `${f}: ${check.stderrText()}`);
	}
});

test("the canary example sends about 5% of calls to the provider tagged canary, the rest to the stable one", async (t) => {
	const gw = start(t, {
		policy: path.join(examplesDir, "canary.lua"),
		providers: [faulty("s", { fallback: ["n"] }), faulty("n", { tags: ["canary"] })],
	});
	await gw.initialize();
	const stable = (await allReady(gw, "s", 1))["s#1"];
	const canary = (await allReady(gw, "n", 1))["n#1"];
	const n = 400;
	const pids = await Promise.all(Array.from({ length: n }, () => pidCall(gw, "s__pid")));
	const toCanary = pids.filter((p) => p === canary).length;
	assert.equal(pids.filter((p) => p === stable).length + toCanary, n, "every call answered by one of the two");
	// binomial(400, 0.05): 20 expected; 4..44 is more than 3.5 standard deviations either side
	assert.ok(toCanary >= 4 && toCanary <= 44, `${toCanary} of ${n} calls went to the canary`);
});

// --- f. the sandbox ---------------------------------------------------------------------------------

// Policies whose top level reaches for what the sandbox leaves out, the message that says so,
// and a file each would have written or touched had it worked.
const escapes = (marker) => [
	["io.open", `local f = io.open(${JSON.stringify(marker)}, "w")`, /attempt to index a nil value \(global 'io'\)/],
	["os.execute", `os.execute("touch ${marker}")`, /attempt to call a nil value \(field 'execute'\)/],
	["require", `local m = require("io")`, /attempt to call a nil value \(global 'require'\)/],
	["load", `local f = load("return 1")`, /attempt to call a nil value \(global 'load'\)/],
	["dofile", `dofile("/dev/null")`, /attempt to call a nil value \(global 'dofile'\)/],
	["loadfile", `loadfile("/dev/null")`, /attempt to call a nil value \(global 'loadfile'\)/],
	["collectgarbage", `collectgarbage()`, /attempt to call a nil value \(global 'collectgarbage'\)/],
	["print", `print("hello")`, /attempt to call a nil value \(global 'print'\)/],
	["os.getenv", `local h = os.getenv("HOME")`, /attempt to call a nil value \(field 'getenv'\)/],
	["os.remove", `os.remove(${JSON.stringify(marker)})`, /attempt to call a nil value \(field 'remove'\)/],
	["os.exit", `os.exit(0)`, /attempt to call a nil value \(field 'exit'\)/],
	["package.loadlib", `local f = package.loadlib("libc.so.6", "system")`, /attempt to index a nil value \(global 'package'\)/],
	["debug", `debug.sethook()`, /attempt to index a nil value \(global 'debug'\)/],
];
const escapePolicy = (code) => `-- reaching out\n${code}\nreturn { route = function(request, candidates) return { 1 } end }\n`;

test("sandbox: a policy that calls io.open, os.execute, require, load (and the rest left out) at load time is refused by --check and at start", async (t) => {
	const marker = path.join(scratchDir(), "escaped");
	for (const [what, code, message] of escapes(marker)) {
		const file = policyFile(escapePolicy(code));
		const config = luaConfig({ policy: file, providers: [faulty("p")] });
		const check = startProcess([mcpfedBin(), "--check", "-c", config]);
		const checked = await exited(check);
		assert.equal(checked.code, 1, `--check with ${what}: exit 1${logTail(check.stderrText())}`);
		assert.ok(check.stderrText().includes(`${file}:2:`), `--check names the file and line for ${what}: ${check.stderrText()}`);
		assert.match(check.stderrText(), message, `--check says what is missing for ${what}`);

		const run = startProcess([mcpfedBin(), "-c", config]);
		const ran = await exited(run);
		assert.equal(ran.code, 1, `start with ${what}: exit 1${logTail(run.stderrText())}`);
		const line = run.stderrText().split("\n").find((l) => l.includes(`policy ${file}:`));
		assert.ok(line, `the start failure names the policy for ${what}: ${run.stderrText()}`);
		assert.ok(line.includes(`${file}:2:`), `the log line names the file and line for ${what}: ${line}`);
		assert.match(line, message, `the log line says what is missing for ${what}`);
		assert.doesNotMatch(run.stderrText(), /supervisor: child started/, `no upstream started with ${what}`);
		assert.equal(fs.existsSync(marker), false, `${what} touched nothing`);
	}
	// what the sandbox keeps works: os.time/clock/date/difftime, string, table, math, utf8, mcpfed.hash/log
	const ok = policyFile(`local t = os.time() + os.clock() + os.difftime(2, 1)
assert(type(os.date("%Y")) == "string" and utf8.char(72) == "H" and math.max(1, 2) == 2)
assert(mcpfed.hash("a") == mcpfed.hash("a") and math.type(mcpfed.hash("a")) == "integer")
mcpfed.log("policy says hello")
return { route = function(request, candidates) return { 1 } end }
`);
	const good = startProcess([mcpfedBin(), "--check", "-c", luaConfig({ policy: ok, providers: [faulty("p")] })]);
	assert.equal((await exited(good)).code, 0, `the allowed library passes --check${logTail(good.stderrText())}`);
});

// A policy that misbehaves on calls of p__echo (the self-check and other tools are routed to
// p#2 first); echo answers say which replica answered.
const misbehaving = (body) => `return {
  route = function(request, candidates)
    if request.name == "p__echo" then
${body}
    end
    return { 2, 1 }
  end,
}
`;

async function misbehavingGateway(t, body, top = {}, opts = {}) {
	const gw = start(t, {
		policy: policyFile(misbehaving(body)),
		providers: [faulty("p", { replicas: 2, env: { FAULTY_ECHO_PID: "1" } })],
		...top,
	}, opts);
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	return { gw, pids };
}

// Each echo call answered (within timeout ms), by p#1: the candidates kept their order.
async function echoesKeepOrder(gw, pids, n, timeout = 10000) {
	for (let i = 0; i < n; i++) {
		const started = Date.now();
		const res = await call(gw, "p__echo", { text: `e${i}` }, { timeout });
		assert.equal(textOf(res), `e${i}`, `echo ${i} answered: ${JSON.stringify(res)}${tail(gw)}`);
		assert.equal(echoPid(res), pids["p#1"], "the candidates kept their order: p#1 first");
		assert.ok(Date.now() - started < 5000, `echo ${i} answered in ${Date.now() - started} ms`);
	}
}

test("sandbox: a route that loops forever overruns its budget on each decision, counted; calls are still answered", async (t) => {
	const { gw, pids } = await misbehavingGateway(t, "      while true do end");
	await echoesKeepOrder(gw, pids, 3);
	let status = await policyStatus(gw);
	assert.equal(status.budget_overruns, 3, JSON.stringify(status));
	assert.equal(status.errors, 3, JSON.stringify(status));
	assert.equal(status.memory_overruns, 0, JSON.stringify(status));
	assert.equal(status.instruction_budget, 1000000);
	assert.match(status.last_error, /instruction budget exceeded/);
	await logged(gw, /warn policy: decision failed; candidates keep their order errors=3 reason=".*instruction budget exceeded/);
	// the policy's state survives: other calls are still routed by it (p#2 first)
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]));
	status = await policyStatus(gw);
	assert.equal(status.errors, 3, JSON.stringify(status));
});

// Pattern matching runs in C, out of the count hook's reach, and backtracks: each search is
// charged its worst case up front, so one that could take longer than the budget never starts.
test("sandbox: a pattern search that would backtrack past the budget is an overrun, not a stall; ordinary patterns route", async (t) => {
	const { gw, pids } = await misbehavingGateway(t, `      local s = string.rep("a", 5000)
      if s:find(".-.-.-.-x") then return { 1, 2 } end
      return { 2, 1 }`, { policy_instructions: 100000 }, { closeTimeout: 1000 });
	const started = Date.now();
	await echoesKeepOrder(gw, pids, 3, 5000);
	assert.ok(Date.now() - started < 3000, `three decisions that would each backtrack for hours took ${Date.now() - started} ms`);
	const status = await policyStatus(gw);
	assert.equal(status.budget_overruns, 3, JSON.stringify(status));
	assert.match(status.last_error, /instruction budget exceeded \(100000\): a pattern search over 5000 bytes/);

	// the pattern functions still work, as methods and as functions, and route by what they find
	const file = policyFile(`return {
  route = function(request, candidates)
    if request.name ~= "p__echo" then return { 1, 2 } end
    local server, tool = request.name:match("^(%w+)__(.+)$")
    assert(server == "p" and string.find(tool, "ech", 1, true) and select(2, tool:gsub("[aeiou]", "")) >= 1)
    local n = 0
    for _ in string.gmatch("a,b,c", "[^,]+") do n = n + 1 end
    if tool == "echo" and n == 3 then return { 2, 1 } end   -- p#2 first, as the candidates come
    return { 1, 2 }
  end,
}
`);
	const gw2 = start(t, { policy: file, providers: [faulty("p", { replicas: 2, env: { FAULTY_ECHO_PID: "1" } })] });
	await gw2.initialize();
	const pids2 = await allReady(gw2, "p", 2);
	for (let i = 0; i < 3; i++) assert.equal(echoPid(await call(gw2, "p__echo", { text: `m${i}` })), pids2["p#2"]);
	assert.equal((await policyStatus(gw2)).errors, 0);
});

test("sandbox: a route that allocates without end overruns its memory on each decision, counted; calls are still answered", async (t) => {
	const { gw, pids } = await misbehavingGateway(t,
		"      local t = {}\n      while true do t[#t + 1] = string.rep(\"x\", 4096) .. #t end",
		{ policy_memory_bytes: 2 * 1024 * 1024 });
	await echoesKeepOrder(gw, pids, 3);
	let status = await policyStatus(gw);
	assert.equal(status.memory_overruns, 3, JSON.stringify(status));
	assert.equal(status.errors, 3, JSON.stringify(status));
	assert.equal(status.budget_overruns, 0, JSON.stringify(status));
	assert.ok(status.memory_bytes <= 2 * 1024 * 1024, `the state stays within its cap: ${JSON.stringify(status)}`);
	await logged(gw, /warn policy: decision failed; candidates keep their order errors=1 reason="not enough memory"/);
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]), "the policy routes the other calls again");
	status = await policyStatus(gw);
	assert.equal(status.errors, 3, JSON.stringify(status));
});

// The budget is an error raised by a count hook; pcall catches errors, and finalizers run with
// hooks off: a policy must not stall the gateway through either.
test("sandbox: a route that catches its budget overrun with pcall and loops on is stopped too", async (t) => {
	const { gw, pids } = await misbehavingGateway(t, "      while true do pcall(function() while true do end end) end",
		{ policy_instructions: 100000 }, { closeTimeout: 1000 });
	await echoesKeepOrder(gw, pids, 2, 5000);
	const status = await policyStatus(gw);
	assert.equal(status.budget_overruns, 2, JSON.stringify(status));
	assert.equal(status.errors, 2, JSON.stringify(status));
});

test("sandbox: a route whose garbage has a finalizer that never returns does not stall the gateway", async (t) => {
	const { gw, pids } = await misbehavingGateway(t, `      for i = 1, 100 do setmetatable({}, { __gc = function() while true do end end }) end
      local junk = {}
      for i = 1, 2000 do junk[i] = string.rep("y", 100) .. i end`, {}, { closeTimeout: 1000 });
	await echoesKeepOrder(gw, pids, 3, 5000);
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]));
});

const catchesItsOverrun = `-- catches the budget's error and goes on
while true do pcall(function() while true do end end) end
return { route = function(request, candidates) return { 1 } end }
`;

test("sandbox: a policy whose top level catches its budget overrun and loops on is refused by --check, in bounded time", async (t) => {
	const file = policyFile(catchesItsOverrun);
	const check = startProcess([mcpfedBin(), "--check", "-c", luaConfig({ policy: file, policy_instructions: 100000, providers: [faulty("p")] })]);
	t.after(() => { if (!check.exitStatus()) check.kill("SIGKILL"); });
	const status = await exited(check, 5000);
	assert.equal(status.code, 1, check.stderrText());
	assert.match(check.stderrText(), /instruction budget exceeded/);
});

test("sandbox: saving a policy whose top level catches its budget overrun keeps the old policy deciding", async (t) => {
	const file = policyFile(prefer("p#2"));
	const gw = start(t, { policy: file, policy_instructions: 100000, providers: [faulty("p", { replicas: 2 })] }, { closeTimeout: 1000 });
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]));
	fs.writeFileSync(file, catchesItsOverrun);
	await logged(gw, /error policy: new policy refused; the old one stays reason=".*instruction budget exceeded/);
	assert.equal((await policyStatus(gw)).failed_reloads, 1);
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]));
});

// --- health checks -------------------------------------------------------------------------------

test("health: a replica that stops answering pings is unhealthy and the default policy sends it nothing; healthy again, it takes calls", async (t) => {
	const gw = start(t, {
		providers: [faulty("p", {
			replicas: 2, health: { interval_ms: 100, timeout_ms: 300, failures: 2, successes: 1 },
			env: { FAULTY_ECHO_PID: "1", FAULTY_SLOW_MS: "20" },
		})],
	});
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	const burst = async (n) => {
		const res = await Promise.all(Array.from({ length: n }, (_, i) => call(gw, "p__echo", { text: `h${i}` })));
		res.forEach((r, i) => assert.equal(textOf(r), `h${i}`, JSON.stringify(r)));
		return res.map(echoPid);
	};
	const share = (list, pid) => list.filter((x) => x === pid).length;
	assert.ok(share(await burst(8), pids["p#2"]) >= 2, "both healthy: both take calls");

	// stopped, p#2 answers no ping (nor anything else): unhealthy after two missed pings
	process.kill(pids["p#2"], "SIGSTOP");
	let stopped = true;
	t.after(() => { if (stopped) try { process.kill(pids["p#2"], "SIGCONT"); } catch {} });
	await waitFor(async () => !(await target(gw, "p#2")).healthy,
		{ timeout: 5000, interval: 50, what: `p#2 unhealthy${tail(gw)}` });
	await logged(gw, /warn router: target unhealthy target=p#2 /);
	const sick = await target(gw, "p#2");
	assert.equal(sick.up, true, "still up: its process runs");
	assert.equal(share(await burst(8), pids["p#2"]), 0, "an unhealthy target gets nothing while another is healthy");
	assert.equal((await target(gw, "p#1")).healthy, true);

	process.kill(pids["p#2"], "SIGCONT");
	stopped = false;
	await waitFor(async () => (await target(gw, "p#2")).healthy,
		{ timeout: 5000, interval: 50, what: `p#2 healthy again${tail(gw)}` });
	await logged(gw, /info router: target healthy target=p#2/);
	assert.ok(share(await burst(8), pids["p#2"]) >= 2, "healthy again: it takes calls");
});

test("health: with checks on, calls that time out count as failed pings and make a target unhealthy before the next ping", async (t) => {
	const gw = start(t, {
		policy: policyFile(asGiven),
		providers: [faulty("p", {
			replicas: 2, timeout_ms: 300,
			// the first ping would come after the test: only calls can tell
			health: { interval_ms: 600000, timeout_ms: 300, failures: 2, successes: 1 },
		})],
	}, { closeTimeout: 1000 });
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	process.kill(pids["p#1"], "SIGSTOP");
	t.after(() => { try { process.kill(pids["p#1"], "SIGCONT"); } catch {} });
	for (let i = 0; i < 2; i++) assert.equal((await call(gw, "p__pid")).error?.code, -32001, "timed out on p#1");
	await logged(gw, /warn router: target unhealthy target=p#1 reason="a call timed out"/);
	assert.equal((await target(gw, "p#1")).healthy, false);
	assert.equal((await target(gw, "p#2")).healthy, true);
	process.kill(pids["p#1"], "SIGCONT");
});

test("health: an owner that hangs (its pings fail) gives way to a ready fallback with the default policy; back, it serves again", async (t) => {
	const gw = start(t, {
		providers: [
			faulty("primary", { fallback: ["backup"], health: { interval_ms: 100, timeout_ms: 300, failures: 2, successes: 1 },
				env: { FAULTY_NAME: "primary" } }),
			faulty("backup", { env: { FAULTY_NAME: "backup" } }),
		],
	});
	await gw.initialize();
	const primary = (await allReady(gw, "primary", 1))["primary#1"];
	const backup = (await allReady(gw, "backup", 1))["backup#1"];
	assert.deepEqual(await pidCalls(gw, 3, "primary__pid"), Array(3).fill(primary), "the owner serves while healthy");
	process.kill(primary, "SIGSTOP");
	let stopped = true;
	t.after(() => { if (stopped) try { process.kill(primary, "SIGCONT"); } catch {} });
	await waitFor(async () => !(await target(gw, "primary#1")).healthy,
		{ timeout: 5000, interval: 50, what: `primary#1 unhealthy${tail(gw)}` });
	const started = Date.now();
	assert.deepEqual(await pidCalls(gw, 4, "primary__pid"), Array(4).fill(backup), "the fallback answers while the owner hangs");
	assert.ok(Date.now() - started < 2000, `answered at once, not after a timeout: ${Date.now() - started} ms`);
	process.kill(primary, "SIGCONT");
	stopped = false;
	await waitFor(async () => (await target(gw, "primary#1")).healthy,
		{ timeout: 5000, interval: 50, what: `primary#1 healthy again${tail(gw)}` });
	assert.deepEqual(await pidCalls(gw, 3, "primary__pid"), Array(3).fill(primary), "healthy again, the owner serves");
});

// --- g. admin overrides: drain, undrain, breaker -------------------------------------------------

test("admin: drain/undrain and breaker open|close|auto|disable change where calls go", async (t) => {
	const gw = start(t, { policy: policyFile(asGiven), providers: [faulty("p", { replicas: 2 })] });
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	const p1 = Array(3).fill(pids["p#1"]);
	const p2 = Array(3).fill(pids["p#2"]);
	assert.deepEqual(await pidCalls(gw, 3), p1, "the policy's order: p#1 first");

	let r = await adminOk(gw, "drain p#1");
	assert.equal(r.name, "p#1");
	assert.equal(r.draining, true, JSON.stringify(r));
	await logged(gw, /info admin: target draining target=p#1/);
	assert.deepEqual(await pidCalls(gw, 3), p2, "a draining target gets no call, whatever the policy says");
	assert.equal((await target(gw, "p#1")).draining, true);
	r = await adminOk(gw, "undrain p#1");
	assert.equal(r.draining, false, JSON.stringify(r));
	assert.deepEqual(await pidCalls(gw, 3), p1, "back in routing after undrain");

	r = await adminOk(gw, "breaker p#1 open");
	assert.equal(r.breaker, "forced_open", JSON.stringify(r));
	const refusedBefore = (await breakerOf(gw, "p#1")).status.refused;
	assert.deepEqual(await pidCalls(gw, 3), p2, "a forced-open breaker refuses its target's calls");
	const forced = await breakerOf(gw, "p#1");
	assert.equal(forced.state, "forced_open");
	assert.equal(forced.status.refused, refusedBefore + 3, JSON.stringify(forced));
	r = await adminOk(gw, "breaker p#1 close");
	assert.equal(r.breaker, "closed", JSON.stringify(r));
	assert.deepEqual(await pidCalls(gw, 3), p1, "closed again");

	await adminOk(gw, "breaker p#1 open");
	assert.deepEqual(await pidCalls(gw, 2), p2.slice(1));
	r = await adminOk(gw, "breaker p#1 auto");
	assert.equal(r.breaker, "closed", JSON.stringify(r));
	assert.deepEqual(await pidCalls(gw, 3), p1, "auto: the breaker decides again, from closed");

	r = await adminOk(gw, "breaker p#1 disable");
	assert.equal(r.breaker, "disabled", JSON.stringify(r));
	assert.deepEqual(await pidCalls(gw, 3), p1, "a disabled breaker lets every call through");
	await adminOk(gw, "breaker p#1 auto");

	// every target refused by its breaker: -32013
	await adminOk(gw, "breaker p#1 open");
	await adminOk(gw, "breaker p#2 open");
	const none = await call(gw, "p__pid");
	assert.equal(none.error?.code, -32013, JSON.stringify(none));
	assert.match(none.error.message, /^circuit breaker open/);
	await adminOk(gw, "breaker p#2 auto");
	assert.deepEqual(await pidCalls(gw, 2), p2.slice(1));
	await adminOk(gw, "breaker p#1 auto");
	assert.deepEqual(await pidCalls(gw, 2), p1.slice(1));

	// malformed commands
	let bad = await admin(gw.sock, "drain p#9");
	assert.equal(bad.code, 404, JSON.stringify(bad));
	bad = await admin(gw.sock, "drain");
	assert.equal(bad.code, 400, JSON.stringify(bad));
	bad = await admin(gw.sock, "breaker p#1 sideways");
	assert.equal(bad.code, 400, JSON.stringify(bad));
	assert.equal((await breakerOf(gw, "p#1")).state, "closed", "a malformed command changes nothing");
});

test("admin: with the default policy, a drained target gets no call and an undrained one gets its share again", async (t) => {
	const gw = start(t, { providers: [faulty("p", { replicas: 2, env: { FAULTY_ECHO_PID: "1", FAULTY_SLOW_MS: "20" } })] });
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	const burst = async (n) => (await Promise.all(Array.from({ length: n }, (_, i) => call(gw, "p__echo", { text: `b${i}` })))).map(echoPid);
	const share = (list, pid) => list.filter((x) => x === pid).length;
	assert.ok(share(await burst(8), pids["p#2"]) >= 2, "least in flight: both take calls");
	await adminOk(gw, "drain p#2");
	assert.equal(share(await burst(8), pids["p#2"]), 0, "the drained target gets none");
	await adminOk(gw, "undrain p#2");
	assert.ok(share(await burst(8), pids["p#2"]) >= 2, "undrained: it takes calls again");
});

// A gateway with two replicas of p in the order given (p#1 first), which started once;
// then p#1 is killed and its restart held before initialize (FAULTY_HOLD_FILE, removed to
// let it go on): resolves once the new process runs and its target is down.
async function heldRestart(t) {
	const hold = path.join(scratchDir(), "hold");
	const gw = start(t, {
		policy: policyFile(asGiven),
		providers: [faulty("p", { replicas: 2, env: { FAULTY_HOLD_FILE: hold } })],
	});
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#1"]), "the policy's order: p#1 first");
	fs.writeFileSync(hold, "");
	process.kill(pids["p#1"], "SIGKILL");
	await waitFor(async () => {
		const sup = (await adminOk(gw, "supervision")).supervisors.find((s) => s.name === "p");
		const c = sup?.children.find((x) => x.name === "p#1");
		return c && c.pid > 0 && c.pid !== pids["p#1"];
	}, { timeout: 5000, what: `p#1 restarted${tail(gw)}` });
	assert.equal((await target(gw, "p#1")).up, false, "p#1 is held before initialize");
	return { gw, pids, hold };
}
// What the admin socket counts on a target and its breaker.
const counters = async (gw, name) => {
	const t = await target(gw, name);
	const b = (await breakerOf(gw, name)).status;
	return { calls: t.calls, failures: t.failures, breakerCalls: b.calls, breakerFailures: b.failures, refused: b.refused };
};

test("a call the policy sends to a replica that is not ready goes to the next target, and is counted once, there", async (t) => {
	const { gw, pids, hold } = await heldRestart(t);
	const before = { p1: await counters(gw, "p#1"), p2: await counters(gw, "p#2") };
	assert.deepEqual(await pidCalls(gw, 4), Array(4).fill(pids["p#2"]), "p#2 serves what the policy gave p#1 first");
	const after = { p1: await counters(gw, "p#1"), p2: await counters(gw, "p#2") };
	assert.deepEqual(after.p1, before.p1, "nothing counted on p#1, which could not take the calls, nor on its breaker");
	assert.deepEqual(after.p2, { ...before.p2, calls: before.p2.calls + 4, breakerCalls: before.p2.breakerCalls + 4 },
		"each call counted once on p#2 and its breaker, none refused");
	assert.equal((await target(gw, "p#1")).inflight + (await target(gw, "p#2")).inflight, 0, "no call left in flight");
	fs.rmSync(hold);
	await allReady(gw, "p", 2);
	const p1 = (await adminOk(gw, "supervision")).supervisors.find((s) => s.name === "p").children.find((x) => x.name === "p#1").pid;
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(p1), "ready again, p#1 takes the policy's calls");
	assert.equal((await target(gw, "p#1")).calls, after.p1.calls + 2);
});

const waiting = async (gw) => (await adminOk(gw, "status")).calls_waiting;

test("a replica that is not ready never hands its call to one whose breaker is open: the call waits for its own replica", async (t) => {
	const { gw, hold } = await heldRestart(t);
	await adminOk(gw, "breaker p#2 open");
	const before = { p1: await counters(gw, "p#1"), p2: await counters(gw, "p#2") };
	// p#2 can take nothing (its breaker is forced open): the call waits in the kernel for p#1's restart
	const pending = call(gw, "p__pid", {}, { timeout: 15000 });
	await waitFor(async () => (await waiting(gw)) === 1, { timeout: 5000, what: `the call waiting for a target${tail(gw)}` });
	fs.rmSync(hold);
	const res = await pending;
	assert.ok(res.result && !res.result.isError, `answered: ${JSON.stringify(res)}${tail(gw)}`);
	const p1 = (await adminOk(gw, "supervision")).supervisors.find((s) => s.name === "p").children.find((x) => x.name === "p#1").pid;
	assert.equal(pidOf(res), p1, "the restarted p#1 served it, not p#2 behind its open breaker");
	const after = { p1: await counters(gw, "p#1"), p2: await counters(gw, "p#2") };
	assert.deepEqual(after.p2, { ...before.p2, refused: before.p2.refused + 1 },
		"nothing ran or counted on p#2: its breaker refused the call once, before it waited");
	assert.deepEqual(after.p1, { ...before.p1, calls: before.p1.calls + 1, breakerCalls: before.p1.breakerCalls + 1 },
		"counted once on p#1 and its breaker");
});

// --- g2. calls no target can take wait in the kernel ----------------------------------------------

// The child of provider p named name in the supervision tree.
const childOf = async (gw, name) =>
	(await adminOk(gw, "supervision")).supervisors.find((s) => s.name === "p")?.children.find((x) => x.name === name);

test("a call no target can take waits in the kernel and goes to the first replica ready, not the one ranked first", async (t) => {
	// one_for_all: when p#2 is killed, p#1 restarts at once (held before initialize by the hold
	// file) and p#2 only after its backoff of 8 s; the policy ranks p#2 first
	const hold = path.join(scratchDir(), "hold");
	const gw = start(t, {
		policy: policyFile(prefer("p#2")),
		providers: [faulty("p", {
			replicas: 2, timeout_ms: 7000, env: { FAULTY_HOLD_FILE: hold },
			restart: { strategy: "one_for_all", backoff_min_ms: 8000, backoff_max_ms: 8000 },
		})],
	});
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	assert.deepEqual(await pidCalls(gw, 2), Array(2).fill(pids["p#2"]), "the policy's order: p#2 first");
	fs.writeFileSync(hold, "");
	process.kill(pids["p#2"], "SIGKILL");
	const p1 = await waitFor(async () => {
		const c = await childOf(gw, "p#1");
		return c && c.pid > 0 && c.pid !== pids["p#1"] && c.pid;
	}, { timeout: 5000, what: `p#1 restarted${tail(gw)}` });
	const ts = await targets(gw);
	assert.ok(ts.every((x) => !x.up), `neither target is ready: ${JSON.stringify(ts)}`);
	const before = { p1: await counters(gw, "p#1"), p2: await counters(gw, "p#2") };
	const pending = call(gw, "p__pid", {}, { timeout: 10000 });
	await waitFor(async () => (await waiting(gw)) === 1, { timeout: 5000, what: `the call waiting for a target${tail(gw)}` });
	const released = Date.now();
	fs.rmSync(hold);
	const res = await pending;
	const ms = Date.now() - released;
	assert.ok(res.result && !res.result.isError, `answered: ${JSON.stringify(res)}${tail(gw)}`);
	assert.equal(pidOf(res), p1, "p#1, ready first, served the call ranked to p#2");
	assert.ok(ms < 3000, `served ${ms} ms after p#1 could start, well before p#2's backoff of 8 s`);
	assert.equal((await target(gw, "p#2")).up, false, "p#2 is still in its backoff");
	const after = { p1: await counters(gw, "p#1"), p2: await counters(gw, "p#2") };
	assert.deepEqual(after.p1, { ...before.p1, calls: before.p1.calls + 1, breakerCalls: before.p1.breakerCalls + 1 },
		"counted once on p#1");
	assert.deepEqual(after.p2, before.p2, "nothing counted on p#2");
	assert.equal(await waiting(gw), 0, "no call left waiting");
});

test("a waiting call cancelled by the client is dropped: no answer, and its upstream never gets it", async (t) => {
	const hold = path.join(scratchDir(), "hold");
	const flag = path.join(scratchDir(), "ran");
	const gw = start(t, { providers: [faulty("p", { timeout_ms: 20000, env: { FAULTY_HOLD_FILE: hold, FAULTY_ROUTING_TOOLS: "1" } })] });
	await gw.initialize();
	const pids = await allReady(gw, "p", 1);
	fs.writeFileSync(hold, "");
	process.kill(pids["p#1"], "SIGKILL");
	await waitFor(async () => {
		const c = await childOf(gw, "p");   /* one replica: the child is named after the provider */
		return c && c.pid > 0 && c.pid !== pids["p#1"] && !(await target(gw, "p#1")).up;
	}, { timeout: 5000, what: `p restarted, held before initialize${tail(gw)}` });
	gw.send({ jsonrpc: "2.0", id: "w1", method: "tools/call", params: { name: "p__die_once", arguments: { flag } } });
	await waitFor(async () => (await waiting(gw)) === 1, { timeout: 5000, what: `the call waiting for a target${tail(gw)}` });
	gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "w1", reason: "test" } });
	await waitFor(async () => (await waiting(gw)) === 0, { timeout: 5000, what: `the cancelled call gone${tail(gw)}` });
	fs.rmSync(hold);
	await allReady(gw, "p", 1);
	assert.ok(pidOf(await call(gw, "p__pid")) > 0, "p serves again");
	assert.equal(fs.existsSync(flag), false, "the cancelled call never reached the upstream");
	assert.equal((await target(gw, "p#1")).calls, 1, "only the later call ran");
	assert.equal(gw.unconsumed().filter((m) => m.id === "w1").length, 0, "no answer to the cancelled call");
});

// --- h. idempotent retries ----------------------------------------------------------------------------

const retryPolicy = (idempotent) => `return {
  route = function(request, candidates)
    if request.name == "p__die_once" then return { targets = { 1, 2 }, idempotent = ${idempotent} } end
    return { 1, 2 }
  end,
}
`;

async function dieOnce(t, idempotent) {
	const flag = path.join(scratchDir(), "died");
	const gw = start(t, {
		policy: policyFile(retryPolicy(idempotent)),
		providers: [faulty("p", { replicas: 2, env: { FAULTY_ROUTING_TOOLS: "1" } })],
	});
	await gw.initialize();
	const pids = await allReady(gw, "p", 2);
	const res = await call(gw, "p__die_once", { flag }, { timeout: 10000 });
	assert.equal(fs.readFileSync(flag, "utf8"), String(pids["p#1"]), "p#1 got the call first and died with it");
	await waitFor(() => new RegExp(`info supervisor: child exited child=p#1 pid=${pids["p#1"]} status=3 `).test(log(gw)),
		{ timeout: 5000, what: `p#1's exit in the log${tail(gw)}` });
	return { gw, pids, res };
}

test("idempotent: a call whose first target dies with it is retried on the next target and succeeds", async (t) => {
	const { gw, pids, res } = await dieOnce(t, true);
	assert.ok(res.result && !res.result.isError, `answered: ${JSON.stringify(res)}${tail(gw)}`);
	assert.equal(pidOf(res), pids["p#2"], "p#2 answered the retry");
	const p1 = await target(gw, "p#1");
	assert.equal(p1.failures, 1, `the lost call counts against p#1: ${JSON.stringify(p1)}`);
	assert.equal((await target(gw, "p#2")).failures, 0);
});

test("attempt_timeout_ms: an idempotent call to a hung target is tried on the next one in time; without it the deadline is spent on the first", async (t) => {
	const hung = async (extra) => {
		const gw = start(t, {
			policy: policyFile(`return { route = function(request, candidates)
  if request.name == "p__pid" then return { targets = { 1, 2 }, idempotent = true } end
  return { 1, 2 }
end }
`),
			providers: [faulty("p", { replicas: 2, timeout_ms: 3000, ...extra })],
		}, { closeTimeout: 1000 });
		await gw.initialize();
		const pids = await allReady(gw, "p", 2);
		process.kill(pids["p#1"], "SIGSTOP");
		t.after(() => { try { process.kill(pids["p#1"], "SIGCONT"); } catch {} });
		const started = Date.now();
		const res = await call(gw, "p__pid", {}, { timeout: 10000 });
		const ms = Date.now() - started;
		process.kill(pids["p#1"], "SIGCONT");
		return { gw, pids, res, ms };
	};
	const withShare = await hung({ attempt_timeout_ms: 400 });
	assert.equal(pidOf(withShare.res), withShare.pids["p#2"], `p#2 answered: ${JSON.stringify(withShare.res)}`);
	assert.ok(withShare.ms >= 350 && withShare.ms < 2500, `after about the share: ${withShare.ms} ms`);
	assert.equal((await target(withShare.gw, "p#1")).failures, 1, "the timed-out try counts against p#1");

	const without = await hung({});
	assert.equal(without.res.error?.code, -32001, `the deadline passed on p#1: ${JSON.stringify(without.res)}`);
	assert.ok(without.ms >= 2900, `after the whole deadline: ${without.ms} ms`);
});

test("not idempotent: a call whose target dies with it is not retried; the client gets -32011", async (t) => {
	const { gw, res } = await dieOnce(t, false);
	assert.equal(res.error?.code, -32011, JSON.stringify(res));
	assert.match(res.error.message, /provider p: upstream exited with status 3 while handling the request/);
	const p2 = await target(gw, "p#2");
	assert.equal(p2.calls, 0, `p#2 never got the call: ${JSON.stringify(p2)}`);
});
