// The routing policy cannot stall the gateway with C-side work: one Lua instruction can be
// a comparison, string.upper, string.rep or table.concat over megabytes, which an instruction
// budget alone lets run for minutes. Each decision also has a time budget (policy_time_ms),
// read every few instructions and at each large allocation, and the policy's memory cap
// makes a huge string.rep fail at once. The hostile decision ends in bounded time, the call
// is still answered (the candidates keep their order), the overrun is counted, and another
// client is answered all along: its latency is measured while the hostile calls run.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/policy-time.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { admin, faulty, killAll, logTail, scratchDir, withTimeout } from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg, startHttpGateway } from "../lib/http.mjs";

// p__pid and p__sleep meet hostile code; every other call is routed plainly (so is loading
// the file: its top level and self-check must fit the time budget too, under the sanitizers)
const policy = `local big, upper
return {
  route = function(request, candidates)
    if request.name == "p__pid" then
      big = big or string.rep("x", 2 * 1024 * 1024)
      upper = upper or string.rep("X", 2 * 1024 * 1024 - 1) .. "Y"   -- differs at the very end
      for i = 1, 1e9 do   -- about 10 instructions a turn, each turn megabytes of C work
        local u = big:upper()
        if u == upper then break end
        local parts = { u, big }
        if #table.concat(parts) == 0 then break end
      end
    elseif request.name == "p__sleep" then
      local s = string.rep("x", 1 << 30)   -- 1 GB: refused by the memory cap at once
      return { #s }
    end
    local ids = {}
    for _, c in ipairs(candidates) do ids[#ids + 1] = c.id end
    return ids
  end,
}
`;

test("a policy doing megabytes of C work per instruction is cut off by its time budget; other clients are answered meanwhile", async (t) => {
	const dir = scratchDir();
	const file = path.join(dir, "policy.lua");
	fs.writeFileSync(file, policy);
	const sock = path.join(dir, "admin.sock");
	const TIME_MS = 100;   // the default policy_time_ms
	const HOSTILE = 3;
	const { gw, urls: [url] } = await startHttpGateway({
		listen: ["http://127.0.0.1:0/mcp"], admin: sock, policy: file,
		policy_memory_bytes: 64 * 1024 * 1024,   // room enough that time, not memory, ends the loop
		providers: [faulty("p", { replicas: 2 })],
	}, { listed: ["p"] });
	t.after(() => killAll(gw));
	const bounded = (p, what, ms = 15000) => withTimeout(p, ms, what, () => logTail(gw.stderrText()));
	const { post } = endpointClient(() => url, bounded);
	const session = async () => {
		const r = await post(initMsg(1, "2025-11-25", "policy-time"));
		assert.equal(r.status, 200, r.text);
		return r.headers.get("mcp-session-id");
	};
	const hostile = await session();
	const bystander = await session();
	const opts = (sid) => ({ session: sid, version: "2025-11-25" });

	// the bystander lists tools over and over while the hostile calls run, each answer timed
	let running = true;
	const latencies = [];
	const bystanding = (async () => {
		for (let i = 0; running; i++) {
			const sent = Date.now();
			const r = await post({ jsonrpc: "2.0", id: i, method: "tools/list" }, opts(bystander));
			assert.equal(r.status, 200, r.text);
			assert.ok(r.json.result?.tools?.length, r.text);
			latencies.push(Date.now() - sent);
		}
	})();

	const started = Date.now();
	const answers = [];
	for (let i = 0; i < HOSTILE; i++) answers.push(await post(callMsg(10 + i, "p__pid"), opts(hostile)));
	const elapsed = Date.now() - started;
	const mem = await post(callMsg(20, "p__sleep", { ms: 1 }), opts(hostile));
	running = false;
	await bystanding;

	for (const r of answers) {
		assert.equal(r.status, 200, r.text);
		assert.ok(/^\d+$/.test(r.json?.result?.content?.[0]?.text), `the call is answered, by the first candidate: ${r.text}`);
	}
	assert.equal(mem.json?.result?.content?.[0]?.text, "slept 1", mem.text);
	// Each decision ends after 100 ms of CPU time (and the few instructions until the clock is
	// read). Without the time budget one such decision runs for minutes. The bounds leave room
	// for the sanitizers and a machine busy enough to give the gateway a tenth of a processor.
	const worst = Math.max(...latencies);
	t.diagnostic(`${HOSTILE} hostile calls: ${elapsed} ms; bystander: ${latencies.length} answers, worst ${worst} ms, median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]} ms`);
	assert.ok(elapsed < 5000 * HOSTILE, `${HOSTILE} hostile calls took ${elapsed} ms${logTail(gw.stderrText())}`);
	assert.ok(latencies.length >= HOSTILE, `the bystander was answered ${latencies.length} times`);
	assert.ok(worst < 5000, `the bystander waited up to ${worst} ms for an answer (${latencies.join(", ")})`);

	const status = (await admin(sock, "policy")).body;
	assert.equal(status.time_overruns, HOSTILE, JSON.stringify(status));
	assert.equal(status.memory_overruns, 1, JSON.stringify(status));
	assert.equal(status.budget_overruns, 0, JSON.stringify(status));
	assert.equal(status.time_budget_ms, TIME_MS, JSON.stringify(status));
	assert.match(gw.stderrText(), /warn policy: decision failed; candidates keep their order errors=1 reason="time budget exceeded \(100 ms\)"/);
});
