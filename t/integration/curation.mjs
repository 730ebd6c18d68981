// Curation per provider (tools/prompts/resources include and exclude globs, rename, describe,
// annotations) in lists and calls, over stdio, in the session era (initialize) and in the
// stateless revision 2026-07-28; a renamed tool that keeps working when its upstream lists
// again; an include pattern that matches nothing, warned of; mcpfed --check refusing a rename
// that collides with another.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/curation.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { call, closeAfter, faulty, logTail, luaConfig, mcpfedBin, startStdio, textOf, waitFor, writeConfig } from "../lib/harness.mjs";

const MODERN = "2026-07-28";
const meta = (name = "curation-test") => ({
	"io.modelcontextprotocol/protocolVersion": MODERN,
	"io.modelcontextprotocol/clientCapabilities": {},
	"io.modelcontextprotocol/clientInfo": { name, version: "1" },
});

// The provider "a": faulty with its features and three extra tools t0001..t0003, curated.
const curated = {
	env: { FAULTY_FEATURES: "1", FAULTY_TOOL_COUNT: "3" },
	tools: { include: ["echo", "pid", "t000*", "add_tool", "missing_*"], exclude: ["t0002"] },
	prompts: { exclude: ["*"] },
	resources: { include: ["faulty://static/*"], exclude: ["faulty://static/blob"] },
	rename: { echo: "say" },
	describe: { pid: "The process id of the upstream" },
	annotations: { pid: { readOnlyHint: true, title: "Process id" } },
};

// A request in either era: the session era as is, 2026-07-28 with the _meta envelope.
const ask = (gw, era, method, params = {}) =>
	gw.request(method, era === "session" ? params : { ...params, _meta: meta() });

for (const era of ["session", "modern"]) {
	test(`provider curation in lists and calls (stdio, ${era} era)`, async (t) => {
		const gw = closeAfter(t, startStdio({ config: luaConfig({ providers: [faulty("a", curated)] }) }));
		const log = () => logTail(gw.stderrText());
		if (era === "session") await gw.initialize();

		const tools = (await ask(gw, era, "tools/list")).result.tools;
		const names = tools.map((x) => x.name).sort();
		assert.deepEqual(names, ["a__add_tool", "a__pid", "a__say", "a__t0001", "a__t0003"], log());
		const pid = tools.find((x) => x.name === "a__pid");
		assert.equal(pid.description, "The process id of the upstream");
		assert.equal(pid.annotations.readOnlyHint, true);
		assert.equal(pid.annotations.title, "Process id");
		assert.equal(tools.find((x) => x.name === "a__say").description, "Return text unchanged", "describe only what is named");

		// the renamed tool goes upstream under its own name
		const said = await ask(gw, era, "tools/call", { name: "a__say", arguments: { text: "hello" } });
		assert.equal(textOf(said), "hello", JSON.stringify(said));

		// an excluded tool, the old name of a renamed one and an unknown one: the same answer
		const unknown = await ask(gw, era, "tools/call", { name: "a__nosuch", arguments: {} });
		assert.equal(unknown.error?.code, -32602, JSON.stringify(unknown));
		assert.equal(unknown.error.message, "Unknown tool: a__nosuch");
		for (const name of ["a__echo", "a__sleep", "a__t0002"]) {
			const res = await ask(gw, era, "tools/call", { name, arguments: { text: "x", ms: 1 } });
			assert.deepEqual(res.error, { code: unknown.error.code, message: `Unknown tool: ${name}` }, `${name}: ${JSON.stringify(res)}`);
		}

		// prompts: all excluded; resources: the static ones but the blob, no template
		assert.deepEqual((await ask(gw, era, "prompts/list")).result.prompts, []);
		const greet = await ask(gw, era, "prompts/get", { name: "a__greet", arguments: {} });
		assert.equal(greet.error?.code, -32602, JSON.stringify(greet));
		assert.match(greet.error.message, /^Unknown prompt: a__greet$/);
		const uris = (await ask(gw, era, "resources/list")).result.resources.map((r) => r.uri);
		assert.ok(uris.length > 0 && uris.every((u) => u.startsWith("a+faulty://static/") && u !== "a+faulty://static/blob"),
			JSON.stringify(uris));
		assert.deepEqual((await ask(gw, era, "resources/templates/list")).result.resourceTemplates, []);
		const read = await ask(gw, era, "resources/read", { uri: uris[0] });
		assert.ok(read.result?.contents?.[0]?.text?.startsWith("static "), JSON.stringify(read));
		for (const uri of ["a+faulty://static/blob", "a+faulty://item/7"]) {
			const res = await ask(gw, era, "resources/read", { uri });
			assert.ok(res.error, `${uri}: ${JSON.stringify(res)}`);
			assert.match(res.error.message, new RegExp(`^Resource not found: ${uri.replace(/[+/.]/g, "\\$&")}$`));
		}

		// the include pattern that matches nothing is warned of once the provider listed
		assert.match(gw.stderrText(), /warn registry: an include pattern matches nothing the provider lists provider=a key=tools pattern="missing_\*"/);
		assert.doesNotMatch(gw.stderrText(), /pattern="t000\*"/);

		// the upstream lists again (a tool added): the rename holds, the new tool is curated too
		const added = await ask(gw, era, "tools/call", { name: "a__add_tool", arguments: { name: "t0009" } });
		assert.equal(textOf(added), "added t0009", JSON.stringify(added));
		await waitFor(async () => (await ask(gw, era, "tools/list")).result.tools.some((x) => x.name === "a__t0009"),
			{ timeout: 5000, what: `a__t0009 listed${log()}` });
		const again = await ask(gw, era, "tools/call", { name: "a__say", arguments: { text: "still" } });
		assert.equal(textOf(again), "still", JSON.stringify(again));
	});
}

test("mcpfed --check refuses two renames to one public name, naming both; a rename that meets none passes", () => {
	const check = (providers) => spawnSync(mcpfedBin(), ["--check", "-c", luaConfig({ providers })], { encoding: "utf8", timeout: 20000 });
	const clash = check([
		faulty("a", { prefix: false, rename: { echo: "query" } }),
		faulty("b", { prefix: false, rename: { pid: "query" } }),
	]);
	assert.equal(clash.status, 1, clash.stderr);
	assert.match(clash.stderr, /providers\[2\]\.rename\.pid: the public name "query" is also what providers\[1\]\.rename\.echo gives/);
	const within = check([faulty("a", { rename: { echo: "x", pid: "x" } })]);
	assert.equal(within.status, 1, within.stderr);
	assert.match(within.stderr, /providers\[1\]\.rename\.(echo|pid): the public name "a__x" is also what providers\[1\]\.rename\.(echo|pid) gives/);
	const fine = check([faulty("a", { rename: { echo: "query" } }), faulty("b", { rename: { echo: "query" } })]);
	assert.equal(fine.status, 0, fine.stderr);
	const bad = check([faulty("a", { tools: { include: "echo" } })]);
	assert.equal(bad.status, 1);
	assert.match(bad.stderr, /providers\[1\]\.tools\.include: expected a list of strings/);
});

test("visible() over stdio: 2026-07-28 requests of different clients on one stdio session see their own views", async (t) => {
	const example = path.resolve(process.env.MCPFED_LUA_PATH || path.join(import.meta.dirname, "..", "..", "lua"),
		"examples", "visibility.lua");
	const gw = closeAfter(t, startStdio({ config: luaConfig({ policy: example, providers: [faulty("a", {
		annotations: { pid: { readOnlyHint: true } } })] }) }));
	const as = (name, method, params = {}) => gw.request(method, { ...params, _meta: meta(name) });
	for (let i = 0; i < 2; i++) {
		const viewer = (await as("viewer", "tools/list")).result.tools.map((x) => x.name);
		assert.deepEqual(viewer, ["a__pid"], logTail(gw.stderrText()));
		const admin = (await as("admin-1", "tools/list")).result.tools.map((x) => x.name);
		assert.ok(admin.includes("a__echo") && admin.includes("a__pid"), JSON.stringify(admin));
		const hidden = await as("viewer", "tools/call", { name: "a__echo", arguments: { text: "x" } });
		assert.deepEqual(hidden.error, { code: -32602, message: "Unknown tool: a__echo" });
		assert.equal(textOf(await as("admin-1", "tools/call", { name: "a__echo", arguments: { text: "y" } })), "y");
	}
	// the session era on the same gateway: the client named at initialize
	await gw.initialize({ clientInfo: { name: "viewer", version: "1" } });
	assert.deepEqual((await gw.request("tools/list", {})).result.tools.map((x) => x.name), ["a__pid"]);
});

test("visible() that fails or overruns its budget hides the item (fail closed), counted as a policy error", async (t) => {
	const policy = writeConfig(`local M = {}
function M.route(request, candidates)
  local ids = {}
  for i, c in ipairs(candidates) do ids[i] = c.id end
  return ids
end
function M.visible(request, item)
  if item.upstream == "echo" then error("boom") end
  if item.upstream == "sleep" then while true do end end
  if item.upstream == "pid" then return "yes" end
  return item.upstream ~= "hang"
end
return M
`);
	// pid's annotations more than the policy's memory may hold: building its item fails
	const gw = closeAfter(t, startStdio({ config: luaConfig({ policy, policy_instructions: 100000, policy_memory_bytes: 262144,
		providers: [faulty("a", { annotations: { die: { title: "x".repeat(400000) } } })] }) }));
	await gw.initialize();
	const names = (await gw.request("tools/list", {})).result.tools.map((x) => x.name);
	assert.ok(names.includes("a__pid") && names.includes("a__crash_after"), JSON.stringify(names));
	for (const hidden of ["a__echo", "a__sleep", "a__hang", "a__die"]) {
		assert.ok(!names.includes(hidden), `${hidden} hidden: ${JSON.stringify(names)}`);
		const res = await call(gw, hidden, { text: "x", ms: 1 });
		assert.deepEqual(res.error, { code: -32602, message: `Unknown tool: ${hidden}` });
	}
	const log = gw.stderrText();
	assert.match(log, /warn policy: visibility decision failed; the item is hidden errors=\d+ item="a__echo" reason="visible: .*boom"/);
	assert.match(log, /item="a__sleep" reason="visible: instruction budget exceeded/);
	assert.match(log, /item="a__die" reason="visible: not enough memory/);
});
