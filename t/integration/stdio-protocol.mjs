// mcpfed --stdio as seen by a hand-written client: the initialize handshake, ping, JSON-RPC
// error handling (the session survives every malformed line), id types, many calls in
// flight, oversized lines with bounded memory, and a clean exit when the client closes stdin.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/stdio-protocol.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { once } from "node:events";
import {
	assertLogLines, assertOnlyJsonRpc, call, childPids, faulty, faultyAfter, luaConfig, snapshot, startStdio,
	stillAlive, textOf, waitFor, withTimeout,
} from "../lib/harness.mjs";

test("initialize echoes supported versions, falls back to 2025-11-25, then ping", async (t) => {
	const cfg = luaConfig({ log_level: "debug", providers: [] });
	const supported = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
	for (const v of [...supported, "2099-01-01", "2024-10-07", "1.0"]) {
		const gw = startStdio({ config: cfg });
		t.after(() => gw.close());
		const res = await gw.request("initialize", {
			protocolVersion: v, capabilities: {}, clientInfo: { name: "protocol-test", version: "1" },
		});
		assert.ok(res.result, `initialize(${v}) succeeded: ${JSON.stringify(res)}`);
		const expected = supported.includes(v) ? v : "2025-11-25";
		assert.equal(res.result.protocolVersion, expected, `version for ${v}`);
		assert.equal(res.result.serverInfo?.name, "mcpfed");
		assert.equal(typeof res.result.serverInfo?.version, "string");
		assert.equal(res.result.capabilities?.tools?.listChanged, true);
		gw.send({ jsonrpc: "2.0", method: "notifications/initialized" });
		const ping = await gw.request("ping");
		assert.deepEqual(ping.result, {}, `ping answered with an empty result: ${JSON.stringify(ping)}`);
		assert.equal(ping.id, 2, "ping keeps its id");
		assert.deepEqual(await gw.close(), { code: 0, signal: null }, gw.stderrText());
		assertOnlyJsonRpc(gw);
	}
});

test("malformed input is answered and the session continues after each", async (t) => {
	const gw = startStdio({ config: luaConfig({ providers: [faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();

	// [raw line, expected code, expected id]
	const cases = [
		["garbage", -32700, null],
		['{"jsonrpc":"2.0","id":"trunc",', -32700, null],
		["{'jsonrpc':'2.0'}", -32700, null],
		["[]", -32600, null],
		['[{"jsonrpc":"2.0","id":"in-batch","method":"ping"}]', -32600, null],
		["3", -32600, null],
		['"a string"', -32600, null],
		["null", -32600, null],
		["{}", -32600, null],
		['{"jsonrpc":"1.0","id":"v1","method":"ping"}', -32600, "v1"],
		['{"id":"nover","method":"ping"}', -32600, "nover"],
		['{"jsonrpc":"2.0","id":"m5","method":5}', -32600, "m5"],
		['{"jsonrpc":"2.0","id":"params3","method":"ping","params":3}', -32600, "params3"],
		// an id that is no integer is not echoed: a fraction, and reals past any integer's range
		['{"jsonrpc":"2.0","id":2.5,"method":5}', -32600, null],
		['{"jsonrpc":"2.0","id":1e56,"method":5}', -32600, null],
		['{"jsonrpc":"2.0","id":-1e300,"method":5}', -32600, null],
	];
	for (const [line, code, id] of cases) {
		gw.sendRaw(line + "\n");
		// Error responses with a null id cannot be told apart, so send one line at a time.
		const msg = await gw.next((m) => m.error !== undefined && m.id === id,
			{ timeout: 5000, what: `error answer to ${line}` });
		assert.equal(msg.error.code, code, `code for ${line}: ${JSON.stringify(msg)}`);
		assert.equal(typeof msg.error.message, "string");
		assert.equal(msg.result, undefined);
		const ok = await call(gw, "f__echo", { text: `after ${line}` });
		assert.equal(textOf(ok), `after ${line}`, `session continues after ${line}`);
	}

	const unknownMethod = await gw.request("no/such/method", {});
	assert.equal(unknownMethod.error?.code, -32601);
	assert.match(unknownMethod.error.message, /Method not found: no\/such\/method/);

	const unknownTool = await call(gw, "f__nope");
	assert.equal(unknownTool.error?.code, -32602);
	assert.match(unknownTool.error.message, /Unknown tool: f__nope/);
	const unprefixed = await call(gw, "echo", { text: "x" });
	assert.equal(unprefixed.error?.code, -32602, "upstream name without the prefix is unknown");
	const noName = await gw.request("tools/call", { arguments: {} });
	assert.equal(noName.error?.code, -32602, JSON.stringify(noName));

	// A notification (no id) of an unknown method gets no answer at all.
	gw.send({ jsonrpc: "2.0", method: "notifications/whatever" });
	assert.equal(textOf(await call(gw, "f__echo", { text: "still here" })), "still here");
	assert.deepEqual(gw.unconsumed(), [], "no unexpected messages");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
	assertLogLines(gw);
});

test("CRLF line ends, blank lines and UTF-8 text", async (t) => {
	const gw = startStdio({ config: luaConfig({ providers: [faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	gw.sendRaw(JSON.stringify({ jsonrpc: "2.0", id: "crlf", method: "tools/call", params: { name: "f__echo", arguments: { text: "crlf" } } }) + "\r\n");
	assert.equal(textOf(await gw.next((m) => m.id === "crlf", { timeout: 5000 })), "crlf");
	gw.sendRaw("\n\n");
	const text = "h\u00e9llo \u4e16\u754c \u{1F600} \"quoted\" \\ back\nslash\ttab";
	assert.equal(textOf(await call(gw, "f__echo", { text })), text);
	assert.deepEqual(gw.unconsumed(), [], "blank lines get no answer");
	// Invalid UTF-8 is not JSON.
	gw.child.stdin.write(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":"bad8","method":"ping","params":{"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}\n')]));
	const bad8 = await gw.next((m) => m.error !== undefined, { timeout: 5000 });
	assert.ok(bad8.error.code === -32700 || bad8.error.code === -32600, JSON.stringify(bad8));
	assert.equal(textOf(await call(gw, "f__echo", { text: "ok" })), "ok");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

test("request ids keep their JSON type and value", async (t) => {
	const gw = startStdio({ config: luaConfig({ providers: [faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	// No harness requests are pending while these are in flight, so all answers land in the queue.
	const ids = ["7", 7, 0, "0", "", -1, 9007199254740991, "id with \"quotes\" and \u00e9"];
	for (const [i, id] of ids.entries()) {
		gw.send({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "f__echo", arguments: { text: `call ${i}` } } });
	}
	gw.send({ jsonrpc: "2.0", id: "p0", method: "ping" });
	gw.send({ jsonrpc: "2.0", id: 12, method: "ping" });
	for (const [i, id] of ids.entries()) {
		const res = await gw.next((m) => m.id === id && m.method === undefined, { timeout: 5000, what: `answer with id ${JSON.stringify(id)}` });
		assert.equal(textOf(res), `call ${i}`, `id ${JSON.stringify(id)} got its own answer: ${JSON.stringify(res)}`);
	}
	assert.deepEqual((await gw.next((m) => m.id === "p0")).result, {});
	assert.deepEqual((await gw.next((m) => m.id === 12)).result, {});
	// Raw text: number stays a bare number, string stays quoted.
	assert.ok(gw.stdoutLines.some((l) => l.includes('"id":7,') || l.includes('"id":7}')), "numeric 7 on the wire");
	assert.ok(gw.stdoutLines.some((l) => l.includes('"id":"7"')), "string \"7\" on the wire");
	assert.ok(gw.stdoutLines.some((l) => /"id":0[,}]/.test(l)), "numeric 0 on the wire");
	assert.ok(gw.stdoutLines.some((l) => l.includes('"id":9007199254740991')), "large integer id intact");
	assert.deepEqual(gw.unconsumed(), []);
	assertOnlyJsonRpc(gw);
});

test("200 concurrent calls are all answered with their own text and id", async (t) => {
	const gw = startStdio({ config: luaConfig({ providers: [faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	const n = 200;
	const calls = [];
	for (let i = 0; i < n; i++) {
		// Mix in some slow calls so answers come back out of order.
		calls.push(i % 10 === 0
			? call(gw, "f__sleep", { ms: 200 - i }, { timeout: 15000 })
			: call(gw, "f__echo", { text: `m${i}` }, { timeout: 15000 }));
	}
	const results = await Promise.all(calls);
	const firstId = results[0].id;
	for (let i = 0; i < n; i++) {
		assert.equal(results[i].id, firstId + i, "answer carries the request id");
		assert.equal(textOf(results[i]), i % 10 === 0 ? `slept ${200 - i}` : `m${i}`, `call ${i}: ${JSON.stringify(results[i])}`);
	}
	assert.equal(gw.stdoutLines.length, n + 1, "exactly one line per request (plus initialize)");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

test("oversized lines are rejected and dropped with bounded memory", async (t) => {
	const gw = startStdio({ config: luaConfig({ max_message_bytes: 65536, providers: [faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	assert.equal(textOf(await call(gw, "f__echo", { text: "small" })), "small");

	const vmhwmKiB = () => {
		const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${gw.pid}/status`, "utf8"));
		return Number(m[1]);
	};
	const limitKiB = 60 * 1024;
	const expectTooLarge = async (what) => {
		const msg = await gw.next((m) => m.error !== undefined, { timeout: 10000, what: `-32600 for ${what}` });
		assert.equal(msg.error.code, -32600, JSON.stringify(msg));
		assert.match(msg.error.message, /max_message_bytes/);
		assert.ok(msg.id === null || msg.id === "big" || msg.id === "over", `id is null or the request's: ${JSON.stringify(msg)}`);
	};

	// The limit is inclusive: a line of exactly max_message_bytes passes, one byte more does not.
	const sized = (id, n) => {
		const shell = (text) => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "f__echo", arguments: { text } } });
		return shell("z".repeat(n - shell("").length));
	};
	const exact = sized("exact", 65536);
	assert.equal(Buffer.byteLength(exact), 65536);
	gw.sendRaw(exact + "\n");
	const exactAnswer = await gw.next((m) => m.id === "exact", { timeout: 5000 });
	assert.equal(textOf(exactAnswer), JSON.parse(exact).params.arguments.text, "answered in full");
	gw.sendRaw(sized("over", 65537) + "\n");
	await expectTooLarge("a line of max_message_bytes + 1");

	// ~1 MiB in one write: a complete request, apart from its size.
	const text = "x".repeat(1 << 20);
	gw.send({ jsonrpc: "2.0", id: "big", method: "tools/call", params: { name: "f__echo", arguments: { text } } });
	await expectTooLarge("a 1 MiB line");
	assert.equal(textOf(await call(gw, "f__echo", { text: "after 1 MiB" })), "after 1 MiB");

	// 64 MiB, streamed in 1 MiB chunks with back-pressure, watching the gateway's peak RSS.
	const stdin = gw.child.stdin;
	const chunk = Buffer.alloc(1 << 20, "y");
	const write = async (buf) => {
		if (!stdin.write(buf)) await withTimeout(once(stdin, "drain"), 10000, "stdin drain");
	};
	let peak = vmhwmKiB();
	await write('{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"f__echo","arguments":{"text":"');
	for (let i = 0; i < 64; i++) {
		await write(chunk);
		peak = Math.max(peak, vmhwmKiB());
		assert.ok(peak < limitKiB, `VmHWM ${peak} kB after ${i + 1} MiB stays under ${limitKiB} kB`);
	}
	await write('"}}}\n');
	await expectTooLarge("a 64 MiB line");
	peak = Math.max(peak, vmhwmKiB());
	assert.ok(peak < limitKiB, `VmHWM ${peak} kB stays under ${limitKiB} kB`);
	t.diagnostic(`gateway VmHWM after 64 MiB line: ${peak} kB`);

	// The next line is parsed from its start: the tail of the big line did not leak into it.
	assert.equal(textOf(await call(gw, "f__echo", { text: "after 64 MiB" })), "after 64 MiB");
	assert.match(gw.stderrText(), /max/i);
	assert.deepEqual(gw.unconsumed(), []);
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

test("closing stdin: in-flight calls are answered, then exit 0 with no upstream left", async (t) => {
	const gw = startStdio({ config: luaConfig({ providers: [faulty("f"), faulty("g")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	const fPid = Number(textOf(await call(gw, "f__pid")));
	const gPid = Number(textOf(await call(gw, "g__pid")));
	const kids = childPids(gw.pid);
	assert.ok(kids.includes(fPid) && kids.includes(gPid), `upstreams ${fPid}, ${gPid} are descendants: ${kids}`);
	const snap = snapshot(kids);

	const started = Date.now();
	const pending = [
		call(gw, "f__sleep", { ms: 300 }),
		call(gw, "g__sleep", { ms: 300 }),
		call(gw, "f__sleep", { ms: 300 }),
		call(gw, "f__echo", { text: "last" }),
	];
	// Make sure the gateway has the calls before its input ends: the echo sent last answers.
	assert.equal(textOf(await pending[3]), "last");
	gw.child.stdin.end();
	const answers = await withTimeout(Promise.all(pending), 5000, "answers to in-flight calls");
	for (const a of answers.slice(0, 3)) assert.equal(textOf(a), "slept 300", JSON.stringify(a));
	assert.ok(Date.now() - started >= 290, "the sleeps really ran");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, gw.stderrText());
	await waitFor(() => stillAlive(snap).length === 0, { timeout: 3000, what: "upstream processes gone" });
	assert.deepEqual(childPids(gw.pid), []);
	assertOnlyJsonRpc(gw);
	assertLogLines(gw);
	assert.match(gw.stderrText(), /info kernel: stopped/);
});

test("closing stdin while calls wait for a starting upstream: they are answered too", async (t) => {
	const slow = faultyAfter("slow", "sleep 0.5;");
	const gw = startStdio({ config: luaConfig({ providers: [faulty("f"), slow] }) });
	t.after(() => gw.close());
	await gw.initialize();
	const pending = [call(gw, "slow__echo", { text: "one" }), call(gw, "slow__sleep", { ms: 100 })];
	gw.child.stdin.end();
	const [one, slept] = await withTimeout(Promise.all(pending), 8000, "answers after stdin closed");
	assert.equal(textOf(one), "one", JSON.stringify(one));
	assert.equal(textOf(slept), "slept 100", JSON.stringify(slept));
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});

test("notifications/cancelled: the cancelled request gets no answer, the session goes on", async (t) => {
	const gw = startStdio({ config: luaConfig({ log_level: "debug", providers: [faulty("f")] }) });
	t.after(() => gw.close());
	await gw.initialize();
	gw.send({ jsonrpc: "2.0", id: "c1", method: "tools/call", params: { name: "f__sleep", arguments: { ms: 300 } } });
	gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "c1", reason: "test" } });
	// Unknown ids are ignored.
	gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "never-sent" } });
	// Due after the cancelled sleep would have finished, on the same upstream.
	assert.equal(textOf(await call(gw, "f__sleep", { ms: 400 })), "slept 400");
	assert.equal(gw.stdoutLines.filter((l) => JSON.parse(l).id === "c1").length, 0, "no answer to c1");
	assert.deepEqual(gw.unconsumed(), []);
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assertOnlyJsonRpc(gw);
});
