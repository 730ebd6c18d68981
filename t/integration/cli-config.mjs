// The mcpfed command line and configuration checking: --version, --help, bad options,
// --check on good and bad configurations (each error names the file and the key), the
// embedded default, and configurations built from several files.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/cli-config.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isJsonRpcLine, mcpfedBin, nodeBin, serverPath, startStdio, writeConfig } from "../lib/harness.mjs";

const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

// Run mcpfed to completion (bounded); env is merged over process.env, undefined values unset.
function run(args, { env = {}, cwd } = {}) {
	const e = { ...process.env, ...env };
	for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
	const r = spawnSync(mcpfedBin(), args, { env: e, cwd, encoding: "utf8", timeout: 10000 });
	if (r.error) throw r.error;
	assert.equal(r.signal, null, `mcpfed ${args.join(" ")} was not killed (timeout?)`);
	return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const PROVIDER_A = `{ name = "a", transport = "stdio", command = { "true" } }`;
const withSecond = (second) => `return { providers = { ${PROVIDER_A}, ${second} } }\n`;

test("--version", () => {
	for (const flag of ["--version", "-V"]) {
		const r = run([flag]);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /^mcpfed 0\.1\.0 \(plugin SDK \d+\.\d+\)\n$/);
		assert.equal(r.stderr, "");
	}
});

test("--help prints usage on stdout and exits 0", () => {
	for (const flag of ["--help", "-h"]) {
		const r = run([flag]);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, /^Usage: mcpfed /);
		for (const opt of ["-c", "--stdio", "--check", "--help-config", "--version", "--help"]) assert.ok(r.stdout.includes(opt), opt);
		assert.equal(r.stderr, "");
	}
});

test("unknown option or missing argument: exit 2 with usage on stderr", () => {
	for (const args of [["--bogus"], ["-x"], ["-c"], ["--check", "--no-such-thing"]]) {
		const r = run(args);
		assert.equal(r.code, 2, `${args}: ${r.stderr}`);
		assert.equal(r.stdout, "", `${args}: nothing on stdout`);
		assert.match(r.stderr, /Usage: mcpfed /, `${args}`);
	}
});

test("--check on a good configuration", () => {
	const cfg = writeConfig(`return {
  log_level = "warn",
  request_timeout_ms = 30000,
  max_message_bytes = 1048576,
  catalog_wait_ms = 5000,
  shutdown_ms = 2000,
  providers = {
    { name = "one", transport = "stdio", command = { "true" }, timeout_ms = 1000 },
    { name = "two", transport = "stdio", prefix = false, command = { "true", "x" },
      env = { A = "1" }, cwd = "/", max_message_bytes = 65536, init_timeout_ms = 1000, max_queue = 10,
      restart = { type = "transient", backoff_min_ms = 10, backoff_max_ms = 100, intensity = 3,
                  period_ms = 1000, cooldown_ms = 1000, shutdown_ms = 100, backoff_reset_ms = 5000 } },
    { name = "three", transport = "stdio", prefix = "t3", command = { "true" } },
    { name = "four", transport = "stdio", command = { "true" }, replicas = 2, max_processes = 8,
      restart = { strategy = "simple_one_for_one", type = "transient" } },
  },
}
`);
	const r = run(["--check", "-c", cfg]);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, `mcpfed: ${cfg}: configuration OK (4 providers)\n`);
	assert.ok(!r.stderr.includes("config error"), r.stderr);
});

test("--check without -c checks the embedded default", () => {
	const r = run(["--check"]);
	assert.equal(r.code, 0, r.stderr);
	// and, where it has a default place (daemon.mjs checks which), the admin socket; the
	// metrics endpoint (metrics.mjs)
	assert.match(r.stdout, /^mcpfed: .*configuration OK \(4 providers\)\n(mcpfed: admin socket: \/\S+\n)?mcpfed: metrics: \S+\n$/);
});

test("plugin_dirs finds the transport plugin without MCPFED_PLUGIN_PATH", (t) => {
	const dirs = (process.env.MCPFED_PLUGIN_PATH || "").split(":").filter(Boolean);
	if (!dirs.length) return t.skip("MCPFED_PLUGIN_PATH is not set");
	const cfg = writeConfig(`return { plugin_dirs = { ${dirs.map((d) => JSON.stringify(d)).join(", ")} },
  providers = { ${PROVIDER_A} } }\n`);
	const ok = run(["--check", "-c", cfg], { env: { MCPFED_PLUGIN_PATH: undefined } });
	assert.equal(ok.code, 0, ok.stderr);
	assert.match(ok.stdout, /configuration OK \(1 providers\)/);
	// ... and without either, the stdio plugin is not found (unless installed system-wide).
	const bare = writeConfig(`return { plugin_dirs = { "/nonexistent" }, providers = { ${PROVIDER_A} } }\n`);
	const r = run(["--check", "-c", bare], { env: { MCPFED_PLUGIN_PATH: undefined } });
	if (r.code === 0) return t.diagnostic("a system-wide stdio plugin exists; not checking the failure");
	assert.equal(r.code, 1);
	assert.match(r.stderr, /providers\[1\]\.transport: plugin "stdio" not found \(searched [^)]*\/nonexistent/);
});

const bad = [
	["unknown top-level key", `return { lisen = 1, providers = { ${PROVIDER_A} } }\n`, /: lisen: unknown key/],
	["unknown provider key (checked by the stdio plugin)",
		withSecond(`{ name = "b", transport = "stdio", comand = { "x" } }`), /: providers\[2\]\.comand: unknown key/],
	["command missing", withSecond(`{ name = "b", transport = "stdio" }`), /: providers\[2\]\.command: /],
	["command empty", withSecond(`{ name = "b", transport = "stdio", command = {} }`),
		/: providers\[2\]\.command: expected a non-empty list of strings/],
	["command not strings", withSecond(`{ name = "b", transport = "stdio", command = { 1, 2 } }`),
		/: providers\[2\]\.command\[1\]: expected a string/],
	["command a string", withSecond(`{ name = "b", transport = "stdio", command = "node x.js" }`),
		/: providers\[2\]\.command: /],
	["env not a map", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, env = "A=1" }`),
		/: providers\[2\]\.env: /],
	["env a list", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, env = { "A=1" } }`),
		/: providers\[2\]\.env: /],
	["restart.type wrong", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { type = "always" } }`),
		/: providers\[2\]\.restart\.type: "always"/],
	["unknown restart key", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { typ = "permanent" } }`),
		/: providers\[2\]\.restart\.typ: unknown key/],
	["restart.intensity out of range", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { intensity = -1 } }`),
		/: providers\[2\]\.restart\.intensity: /],
	["restart.backoff_reset_ms zero", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { backoff_reset_ms = 0 } }`),
		/: providers\[2\]\.restart\.backoff_reset_ms: /],
	["restart.backoff_reset_ms not a number", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { backoff_reset_ms = "10s" } }`),
		/: providers\[2\]\.restart\.backoff_reset_ms: /],
	["restart.backoff_max_ms below backoff_min_ms", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { backoff_min_ms = 500, backoff_max_ms = 100 } }`),
		/: providers\[2\]\.restart\.backoff_max_ms: 100 is less than backoff_min_ms \(500\)/],
	["restart.backoff_min_ms above the default cap", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { backoff_min_ms = 40000 } }`),
		/: providers\[2\]\.restart\.backoff_min_ms: 40000 is more than backoff_max_ms \(30000, the default\)/],
	["replicas beyond the provider's max_processes", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, replicas = 3, max_processes = 2 }`),
		/: providers\[2\]\.replicas: 3 is more than max_processes \(2\)/],
	["a pool without max_processes", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { strategy = "simple_one_for_one" } }`),
		/: providers\[2\]\.max_processes: required with restart\.strategy = "simple_one_for_one"/],
	["restart.strategy wrong", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, restart = { strategy = "one_for_some" } }`),
		/: providers\[2\]\.restart\.strategy: "one_for_some" is not one of one_for_one, one_for_all, rest_for_one, simple_one_for_one/],
	["max_processes zero", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, max_processes = 0 }`),
		/: providers\[2\]\.max_processes: /],
	["duplicate provider names", withSecond(`{ name = "a", transport = "stdio", command = { "x" } }`),
		/: providers\[2\]\.name: .*"a"/],
	["unknown transport plugin", withSecond(`{ name = "b", transport = "nope", command = { "x" } }`),
		/: providers\[2\]\.transport: plugin "nope" not found \(searched /],
	["transport missing", withSecond(`{ name = "b", command = { "x" } }`), /: providers\[2\]\.transport: /],
	["provider name missing", withSecond(`{ transport = "stdio", command = { "x" } }`), /: providers\[2\]\.name: /],
	["provider name invalid", withSecond(`{ name = "b c", transport = "stdio", command = { "x" } }`), /: providers\[2\]\.name: /],
	["prefix invalid", withSecond(`{ name = "b", prefix = "b.c", transport = "stdio", command = { "x" } }`),
		/: providers\[2\]\.prefix: /],
	["prefix true", withSecond(`{ name = "b", prefix = true, transport = "stdio", command = { "x" } }`),
		/: providers\[2\]\.prefix: /],
	["timeout_ms not a number", withSecond(`{ name = "b", transport = "stdio", command = { "x" }, timeout_ms = "soon" }`),
		/: providers\[2\]\.timeout_ms: /],
	["breaker failure_rate 0 (resilience4j wants over 0)",
		`return { breaker = { failure_rate = 0 }, providers = { ${PROVIDER_A} } }\n`, /: breaker\.failure_rate: expected a number above 0, at most 100/],
	["provider breaker slow_call_rate 0",
		withSecond(`{ name = "b", transport = "stdio", command = { "x" }, breaker = { slow_call_rate = 0 } }`),
		/: providers\[2\]\.breaker\.slow_call_rate: expected a number above 0, at most 100/],
	["breaker slow_call_ms 0", `return { breaker = { slow_call_ms = 0 }, providers = { ${PROVIDER_A} } }\n`,
		/: breaker\.slow_call_ms: /],
	["breaker window wrong", `return { breaker = { window = "sliding" }, providers = { ${PROVIDER_A} } }\n`,
		/: breaker\.window: "sliding" is not one of count, time/],
	["provider health nested key out of range",
		withSecond(`{ name = "b", transport = "stdio", command = { "x" }, health = { failures = 0 } }`),
		/: providers\[2\]\.health\.failures: expected an integer from 1 to 1000, not 0/],
	["provider health unknown key",
		withSecond(`{ name = "b", transport = "stdio", command = { "x" }, health = { interval = 5 } }`),
		/: providers\[2\]\.health\.interval: unknown key/],
	["stdio init_timeout_ms out of range",
		withSecond(`{ name = "b", transport = "stdio", command = { "x" }, init_timeout_ms = 0 }`),
		/: providers\[2\]\.init_timeout_ms: expected an integer from 1 to 3600000, not 0/],
	["http listener setting out of range", `return { listen = { "http://127.0.0.1:0/mcp" }, http = { max_header_bytes = 10 } }\n`,
		/: http\.max_header_bytes: expected an integer from 256 to 1048576, not 10/],
	["a listener's own unknown key", `return { listen = { { url = "http://127.0.0.1:0/mcp", max_bodybytes = 1 } } }\n`,
		/: listen\[1\]\.max_bodybytes: unknown key/],
	["http upstream protocol wrong",
		withSecond(`{ name = "b", transport = "http", url = "http://127.0.0.1:1/mcp", protocol = "2024-01-01" }`),
		/: providers\[2\]\.protocol: "2024-01-01" is not one of auto, 2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26/],
	["log_level wrong", `return { log_level = "loud" }\n`, /: log_level: "loud" is not one of error, warn, info, debug/],
	["max_message_bytes below 1024", `return { max_message_bytes = 10 }\n`, /: max_message_bytes: /],
	["request_timeout_ms not an integer", `return { request_timeout_ms = "x" }\n`, /: request_timeout_ms: /],
	["providers not a list", `return { providers = "a" }\n`, /: providers: /],
	["not a table", `return 5\n`, /must return a table/],
	["Lua syntax error", `return {\n  providers = {\n    { name = "a" \n`, (cfg) => new RegExp(`${escape(cfg)}:4: `)],
	["Lua runtime error", `local x = nil\nreturn x.y\n`, (cfg) => new RegExp(`${escape(cfg)}:2: `)],
];
function escape(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

for (const [what, text, expected] of bad) {
	test(`--check rejects: ${what}`, () => {
		const cfg = writeConfig(text);
		const r = run(["--check", "-c", cfg]);
		assert.equal(r.code, 1, `exit status; stderr: ${r.stderr}`);
		assert.equal(r.stdout, "", "nothing on stdout");
		const line = r.stderr.split("\n").find((l) => l.startsWith("mcpfed: config error: "));
		assert.ok(line, `a config error line in: ${r.stderr}`);
		const real = fs.realpathSync(cfg);
		assert.ok(line.includes(cfg) || line.includes(real), `names the file: ${line}`);
		assert.match(r.stderr, typeof expected === "function" ? expected(cfg) : expected);
		// --stdio with the same file refuses to start too, with the same message.
		const s = run(["--stdio", "-c", cfg], { env: {} });
		assert.equal(s.code, 1, s.stderr);
		assert.equal(s.stdout, "");
		assert.match(s.stderr, typeof expected === "function" ? expected(cfg) : expected);
	});
}

test("--check on a missing file", () => {
	const r = run(["--check", "-c", "/nonexistent/dir/mcpfed.lua"]);
	assert.equal(r.code, 1);
	assert.equal(r.stdout, "");
	assert.match(r.stderr, /^mcpfed: config error: \/nonexistent\/dir\/mcpfed\.lua: /m);
});

test("a configuration that loads another from mcpfed.config_dir", async (t) => {
	const cfg = writeConfig(`local config = require "mcpfed.config"
local base = dofile(mcpfed.config_dir .. "/base.lua")
config.provider(base.providers, "f").env = { FAULTY_NAME = "from-main" }
return config.extend(base, { log_level = "debug" })
`);
	const dir = path.dirname(cfg);
	fs.writeFileSync(path.join(dir, "base.lua"), `return {
  log_level = "warn",
  providers = {
    { name = "f", transport = "stdio", command = { ${JSON.stringify(nodeBin())}, ${JSON.stringify(serverPath("faulty.mjs"))} } },
    { name = "g", transport = "stdio", command = { ${JSON.stringify(nodeBin())}, ${JSON.stringify(serverPath("faulty.mjs"))} } },
  },
}
`);
	// The uninstalled helpers live in the source tree's lua/.
	const env = { MCPFED_LUA_PATH: process.env.MCPFED_LUA_PATH || path.join(srcDir, "lua") };
	// From another working directory, so only config_dir can find base.lua.
	const r = run(["--check", "-c", cfg], { env, cwd: "/" });
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, `mcpfed: ${cfg}: configuration OK (2 providers)\n`);

	const gw = startStdio({ config: cfg, env });
	t.after(() => gw.close());
	const init = await gw.initialize();
	assert.equal(init.serverInfo.name, "mcpfed");
	const names = (await gw.request("tools/list", {})).result.tools.map((x) => x.name);
	assert.ok(names.includes("f__echo") && names.includes("g__echo"), names.join(","));
	const echo = await gw.request("tools/call", { name: "g__echo", arguments: { text: "included" } });
	assert.equal(echo.result?.content?.[0]?.text, "included");
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	// log_level = "debug" came from the main file: debug lines are there.
	assert.match(gw.stderrText(), / debug /);
});

test("print() in a configuration goes to the log, not stdout", async (t) => {
	const cfg = writeConfig(`print("hello from config", 42)\nreturn { providers = {} }\n`);
	const r = run(["--check", "-c", cfg]);
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout, `mcpfed: ${cfg}: configuration OK (0 providers)\n`, "only the verdict on stdout");
	assert.match(r.stderr, /info config: print text="hello from config\t42"\n/, r.stderr);

	const gw = startStdio({ config: cfg });
	t.after(() => gw.close());
	await gw.initialize();
	assert.deepEqual(await gw.close(), { code: 0, signal: null });
	assert.ok(gw.stdoutLines.length === 1 && gw.stdoutLines.every(isJsonRpcLine), gw.stdoutLines.join("\n"));
	assert.match(gw.stderrText(), /hello from config/);
});
