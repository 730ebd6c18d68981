// Benchmark: tools/list of TOOLS federated tools (default 1000) through a policy's
// visible(), over Streamable HTTP in the session era, against the same list with no
// visible() at all.
//
//   t/node t/bench/list-visible.mjs [BUILD_DIR]      (or t/bench/list-visible.sh [BUILD_DIR])
//
// One gateway per run, one stdio upstream (t/servers/faulty.mjs with FAULTY_TOOL_COUNT), page_size
// above TOOLS so that one answer holds the whole list. Three figures, each the median and
// p99 of the wall time of one tools/list as the client sees it (HTTP, the gateway, the JSON):
//   none:   no visible() (the default policy), RUNS lists in one session
//   first:  visible() (a tool shown when its number is even), the first list of each of
//           FIRSTS new sessions: TOOLS decisions each
//   cached: visible(), RUNS more lists in one session: no decision (the session's cache)
// Env: TOOLS (1000), RUNS (300), FIRSTS (60).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";

const here = path.dirname(new URL(import.meta.url).pathname);
const top = path.resolve(here, "..", "..");
const build = path.resolve(process.argv[2] || path.join(top, "build"));
const TOOLS = Number(process.env.TOOLS || 1000);
const RUNS = Number(process.env.RUNS || 300);
const FIRSTS = Number(process.env.FIRSTS || 60);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "mcpfed-bench-"));

const visiblePolicy = `local M = {}
function M.route(request, candidates)
  local ids = {}
  for i, c in ipairs(candidates) do ids[i] = c.id end
  return ids
end
function M.visible(request, item)
  local n = tonumber(item.name:match("(%d+)$") or "1")
  return n % 2 == 0
end
return M
`;

async function gateway(policy) {
	const file = path.join(work, policy ? "visible.lua" : "none.lua");
	if (policy) fs.writeFileSync(path.join(work, "policy.lua"), policy);
	fs.writeFileSync(file, `return {
  log_level = "info",
  plugin_dirs = { ${JSON.stringify(path.join(build, "plugins"))} },
  ${policy ? `policy = ${JSON.stringify(path.join(work, "policy.lua"))},` : ""}
  page_size = ${TOOLS + 100},
  listen = { "http://127.0.0.1:0/mcp" },
  providers = { { name = "f", transport = "stdio", command = { ${JSON.stringify(path.join(top, "t", "node"))}, ${JSON.stringify(path.join(top, "t", "servers", "faulty.mjs"))} },
                  env = { FAULTY_TOOL_COUNT = "${TOOLS}" } } },
}
`);
	const gw = spawn(path.join(build, "mcpfed"), ["-c", file], { stdio: ["ignore", "ignore", "pipe"] });
	let log = "";
	gw.stderr.on("data", (d) => { log += d; });
	const deadline = Date.now() + 20000;
	for (;;) {
		const url = /url=(http:\/\/\S+)/.exec(log)?.[1];
		if (url && /registry: listed provider=f list=tools/.test(log)) return { gw, url };
		if (Date.now() > deadline) throw new Error(`the gateway did not come up:\n${log}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

const headers = (sid) => ({ "Content-Type": "application/json", Accept: "application/json, text/event-stream",
	...(sid ? { "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25" } : {}) });
async function session(url) {
	const r = await fetch(url, { method: "POST", headers: headers(), body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize",
		params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "bench", version: "1" } } }) });
	await r.text();
	const sid = r.headers.get("mcp-session-id");
	await (await fetch(url, { method: "POST", headers: headers(sid), body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) })).text();
	return sid;
}
// One tools/list: its wall time in ms and how many tools it held.
async function list(url, sid) {
	const t0 = process.hrtime.bigint();
	const r = await fetch(url, { method: "POST", headers: headers(sid), body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }) });
	const body = JSON.parse(await r.text());
	const ms = Number(process.hrtime.bigint() - t0) / 1e6;
	return { ms, n: body.result.tools.length };
}
const stats = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
	return `median ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms (${s.length} lists)`;
};

async function run(policy, label, measure) {
	const { gw, url } = await gateway(policy);
	try {
		await measure(url, label);
	} finally {
		gw.kill("SIGTERM");
		await new Promise((r) => gw.on("exit", r));
	}
}

let total = TOOLS;
try {
	await run(null, "none", async (url) => {
		const sid = await session(url);
		for (let i = 0; i < 20; i++) await list(url, sid);   // warm-up
		const times = [];
		let n;
		for (let i = 0; i < RUNS; i++) ({ ms: times[i], n } = await list(url, sid));
		total = n;
		console.log(`none   (no visible(), ${n} tools listed): ${stats(times)}`);
	});
	await run(visiblePolicy, "visible", async (url) => {
		const warm = await session(url);
		for (let i = 0; i < 20; i++) await list(url, warm);
		const first = [];
		let n;
		for (let i = 0; i < FIRSTS; i++) ({ ms: first[i], n } = await list(url, await session(url)));
		console.log(`first  (visible(), ${total} decisions, ${n} tools listed): ${stats(first)}`);
		const sid = await session(url);
		await list(url, sid);
		const cached = [];
		for (let i = 0; i < RUNS; i++) ({ ms: cached[i], n } = await list(url, sid));
		console.log(`cached (visible(), no decision, ${n} tools listed): ${stats(cached)}`);
	});
} finally {
	fs.rmSync(work, { recursive: true, force: true });
}
