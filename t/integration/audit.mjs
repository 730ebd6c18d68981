// The audit log: one JSON line per tool call, prompt get and resource read, written off the
// calls' path, with arguments and results only where configured (capped), and reopened by
// name after logrotate renamed it (admin `audit reopen`, `reload config`).
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/audit.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { admin, faulty, inOrderPolicy, killAll, logTail, luaConfig, scratchDir, startStdio, textOf, waitFor } from "../lib/harness.mjs";

const MAX = 64;

const lines = (file) => {
	let text = "";
	try { text = fs.readFileSync(file, "utf8"); } catch {}
	return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
};

async function adminOk(gw, command) {
	const r = await admin(gw.sock, command, { timeout: 20000 });
	assert.equal(r.code, 200, `admin ${command}: ${JSON.stringify(r)}${logTail(gw.stderrText())}`);
	return r.body;
}

test("audit records: outcomes, identity, sizes; arguments and results only where configured, capped; reopened after a rename", async (t) => {
	const dir = scratchDir();
	const file = path.join(dir, "audit.jsonl");
	const sock = path.join(dir, "admin.sock");
	const gw = startStdio({ config: luaConfig({
		log_level: "info", admin: sock, policy: inOrderPolicy('if request.name == "p__pid" then return nil, "not for anyone" end'),
		audit: { file, max_field_bytes: MAX },
		providers: [
			faulty("p", { env: { FAULTY_CACHE_TOOLS: "1" }, timeout_ms: 1000, audit: { arguments: true, results: true } }),
			faulty("q", { env: { FAULTY_FEATURES: "1" } }),
		],
	}) });
	gw.sock = sock;
	t.after(() => killAll(gw));
	await gw.initialize({ clientInfo: { name: "audit-test", version: "2" } });
	await waitFor(() => /listed provider=p list=tools [\s\S]*listed provider=q list=tools |listed provider=q list=tools [\s\S]*listed provider=p list=tools /.test(gw.stderrText()),
		{ timeout: 15000, what: `the tools of p and q${logTail(gw.stderrText())}` });

	const call = (name, args = {}, opts) => gw.request("tools/call", { name, arguments: args }, opts);
	assert.equal(textOf(await call("p__echo", { text: "hello" })), "hello");
	assert.equal(textOf(await call("q__echo", { text: "secret" })), "secret");
	assert.equal((await call("p__pid")).error.code, -32013);
	assert.equal((await call("p__fails")).result.isError, true);
	assert.equal((await call("p__sleep", { ms: 5000 })).error.code, -32001);
	const long = "y".repeat(300);
	assert.equal(textOf(await call("p__echo", { text: long })), long);
	// cancelled by its client: no answer, but a record
	gw.send({ jsonrpc: "2.0", id: "c1", method: "tools/call", params: { name: "q__sleep", arguments: { ms: 5000 } } });
	gw.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "c1", reason: "changed my mind" } });
	assert.equal((await call("q__die")).error.code, -32011);
	// a prompt get and a resource read are recorded too
	const got = await gw.request("prompts/get", { name: "q__greet", arguments: { name: "Ann" } });
	assert.equal(got.result.messages[0].content.text, "Hello, Ann");
	const read = await gw.request("resources/read", { uri: "q+faulty://static/a" });
	assert.equal(read.result.contents[0].text, "static a");

	const recs = await waitFor(() => { const l = lines(file); return l.length >= 10 && l; },
		{ timeout: 10000, what: `10 audit records in ${file}` });
	const by = (name, pred = () => true) => {
		const r = recs.filter((x) => x.name === name && pred(x));
		assert.ok(r.length >= 1, `a record of ${name}: ${JSON.stringify(recs)}`);
		return r[0];
	};
	for (const r of recs) {
		assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
		assert.equal(r.client, "audit-test");
		assert.equal(r.method, r.name === "q__greet" ? "prompts/get" : r.name.includes("+") ? "resources/read" : "tools/call");
		assert.ok(r.session > 0);
		assert.deepEqual({ subject: r.identity?.subject, method: r.identity?.method },
			{ subject: os.userInfo().username, method: "local" }, "a stdio session acts for the local user");
		assert.equal(typeof r.latency_ms, "number");
		assert.ok(["ok", "error", "refused", "timeout", "cancelled"].includes(r.outcome), r.outcome);
	}
	const ok = by("p__echo", (x) => x.arguments?.text === "hello");
	assert.equal(ok.outcome, "ok");
	assert.equal(ok.error_code, null);
	assert.equal(ok.provider, "p");
	assert.equal(ok.target, "p#1");
	assert.equal(ok.upstream, "echo");
	assert.equal(ok.bytes_in, JSON.stringify({ text: "hello" }).length);
	assert.ok(ok.bytes_out > 0);
	assert.deepEqual(ok.result.content, [{ type: "text", text: "hello" }]);
	const plain = by("q__echo");
	assert.equal(plain.outcome, "ok");
	assert.equal(plain.arguments, undefined, "no arguments by default");
	assert.equal(plain.result, undefined, "no results by default");
	assert.equal(plain.bytes_in, JSON.stringify({ text: "secret" }).length, "sizes still");
	assert.ok(!JSON.stringify(plain).includes("secret"));
	const refused = by("p__pid");
	assert.equal(refused.outcome, "refused");
	assert.equal(refused.error_code, -32013);
	assert.equal(refused.target, null, "no target was tried");
	const failed = by("p__fails");
	assert.equal(failed.outcome, "error");
	const slow = by("p__sleep");
	assert.equal(slow.outcome, "timeout");
	assert.equal(slow.error_code, -32001);
	assert.ok(slow.latency_ms >= 900, `latency ${slow.latency_ms}`);
	const big = by("p__echo", (x) => x.arguments_truncated);
	assert.equal(typeof big.arguments, "string");
	assert.ok(Buffer.byteLength(big.arguments) <= MAX);
	assert.ok(big.arguments.startsWith('{"text":"yyyy'));
	assert.equal(big.result_truncated, true);
	assert.ok(big.bytes_in > 300);
	const cancelled = by("q__sleep");
	assert.equal(cancelled.outcome, "cancelled");
	const lost = by("q__die");
	assert.equal(lost.outcome, "error");
	assert.equal(lost.error_code, -32011);
	const prompt = by("q__greet");
	assert.equal(prompt.outcome, "ok");
	assert.equal(prompt.upstream, "greet");
	assert.equal(prompt.arguments, undefined);
	const resource = by("q+faulty://static/a");
	assert.equal(resource.outcome, "ok");
	assert.equal(resource.upstream, "faulty://static/a");
	assert.ok(resource.bytes_out > 0);
	const st = await adminOk(gw, "audit");
	assert.equal(st.records, recs.length);
	assert.equal(st.dropped, 0);

	// logrotate: renamed, then told to reopen; the next record goes to a new file by the name
	fs.renameSync(file, `${file}.1`);
	await adminOk(gw, "audit reopen");
	await waitFor(async () => (await adminOk(gw, "audit")).reopens === 1, { timeout: 5000, what: "the reopen" });
	assert.equal(textOf(await call("p__echo", { text: "after" })), "after");
	const fresh = await waitFor(() => { const l = lines(file); return l.length === 1 && l; }, { timeout: 5000, what: "a record in the new file" });
	assert.equal(fresh[0].arguments.text, "after");
	assert.ok(!lines(`${file}.1`).some((x) => x.arguments?.text === "after"), "nothing more in the rotated file");

	// a configuration reload opens it again too
	fs.renameSync(file, `${file}.2`);
	await adminOk(gw, "reload config");
	await waitFor(async () => (await adminOk(gw, "audit")).reopens === 2, { timeout: 5000, what: "the reopen by the reload" });
	assert.equal(textOf(await call("p__echo", { text: "reloaded" })), "reloaded");
	await waitFor(() => lines(file).some((x) => x.arguments?.text === "reloaded"), { timeout: 5000, what: "a record after the reload" });

	const usage = await admin(gw.sock, "audit rotate");
	assert.equal(usage.code, 400);
});

test("audit to a file that cannot be opened is a configuration error", async () => {
	const gw = startStdio({ config: luaConfig({ audit: { file: "/nonexistent-dir/audit.jsonl" }, providers: [] }) });
	const status = await gw.waitExit(10000);
	assert.notEqual(status.code, 0);
	assert.match(gw.stderrText(), /audit\.file: \/nonexistent-dir\/audit\.jsonl: cannot open/);
});
