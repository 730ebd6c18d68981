// Conformance: the official MCP conformance suite (@modelcontextprotocol/conformance, server
// mode, suite "active") against mcpfed's Streamable HTTP listener, with the fixture server
// t/servers/conformance.mjs federated unprefixed, and server-everything beside it as a
// second provider. t/conformance/expected-failures.yml lists scenarios expected to fail
// (none); the tool exits non-zero on any other failure and on a listed scenario that passes.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/conformance/suite.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
	binPath, childPids, logTail, nodeBin, serverPath, startProcess, startTime, waitFor, withTimeout,
} from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const tDir = path.resolve(here, "..");
const conformanceCli = path.join(tDir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
const baseline = path.join(here, "expected-failures.yml");
const CLI_TIMEOUT_MS = 120000;

// What the gateway federates today; these must pass (never be in the baseline).
const MUST_PASS = [
	"server-initialize", "ping", "tools-list", "tools-call-simple-text", "tools-call-image",
	"tools-call-audio", "tools-call-embedded-resource", "tools-call-mixed-content", "tools-call-error",
	"server-sse-multiple-streams", "dns-rebinding-protection",
];

// One line per FAILURE or WARNING check in the per-scenario results (<dir>/server-<scenario>-<time>/checks.json).
function unsuccessfulChecks(dir) {
	const lines = [];
	let ents = [];
	try { ents = fs.readdirSync(dir).sort(); } catch (e) { return `(no results: ${e.message})`; }
	for (const ent of ents) {
		const scenario = ent.replace(/^server-/, "").replace(/-\d{4}-\d\d-\d\dT.*$/, "");
		let checks;
		try { checks = JSON.parse(fs.readFileSync(path.join(dir, ent, "checks.json"), "utf8")); } catch { continue; }
		for (const c of checks) {
			if (c.status === "FAILURE" || c.status === "WARNING") lines.push(`${scenario}: ${c.id} ${c.status}: ${c.errorMessage ?? c.description}`);
		}
	}
	return lines.join("\n");
}

test("MCP conformance suite (server, active) against mcpfed over Streamable HTTP", { timeout: 240000 }, async (t) => {
	const { gw, urls: [url], config: cfg } = await startHttpGateway({
		log_level: "info",
		// The dns-rebinding scenario requires a loopback URL (localhost/127.0.0.1).
		listen: ["http://127.0.0.1:0/mcp"],
		providers: [
			{ name: "conf", transport: "stdio", command: [nodeBin(), serverPath("conformance.mjs")], prefix: false },
			// a second provider beside it: its tools, prompts and resources must not disturb
			{ name: "ev", transport: "stdio", command: [nodeBin(), binPath("mcp-server-everything")] },
		],
	}, { timeout: 10000 });
	const outDir = path.join(path.dirname(cfg), "results"); // removed with the config at exit

	const log = () => logTail(gw.stderrText(), 4000);
	const waitOrLog = (fn, opts) => waitFor(fn, opts).catch((e) => { throw new Error(`${e.message}${log()}`); });
	const descendants = new Map(); // pid -> start time
	const remember = () => { for (const p of childPids(gw.pid)) if (!descendants.has(p)) descendants.set(p, startTime(p)); };
	let cli;
	t.after(() => {
		for (const p of [cli, gw]) if (p && !p.exitStatus()) p.kill("SIGKILL");
		for (const pid of descendants.keys()) try { process.kill(pid, "SIGKILL"); } catch {}
	});

	// Start the suite only once the fixtures are federated (the upstream is starting in the
	// background), so that no scenario races the catalogue.
	await waitOrLog(async () => {
		const client = new Client({ name: "conformance-suite-probe", version: "1.0.0" });
		const transport = new StreamableHTTPClientTransport(new URL(url));
		try {
			await withTimeout(client.connect(transport), 5000, "probe connect");
			const { tools } = await withTimeout(client.listTools(), 5000, "probe tools/list");
			return tools.some((x) => x.name === "test_simple_text");
		} finally {
			await transport.terminateSession().catch(() => {});
			await client.close().catch(() => {});
		}
	}, { timeout: 15000, interval: 100, what: `test_simple_text in tools/list at ${url}` });
	remember();
	assert.ok(descendants.size >= 1, `the fixture server runs under the gateway${log()}`);

	const started = Date.now();
	cli = startProcess([nodeBin(), conformanceCli, "server", "--url", url,
		"--expected-failures", baseline, "-o", outDir]);
	let status;
	try {
		status = await cli.waitExit(CLI_TIMEOUT_MS);
	} catch (e) {
		cli.kill("SIGKILL");
		throw new Error(`${e.message}\n--- conformance stdout ---\n${cli.stdoutLines.join("\n")}${log()}`);
	}
	const out = cli.stdoutLines.join("\n");
	const report = () => {
		// The summary (or everything, if there is none), then the checks that did not succeed.
		const i = out.indexOf("=== SUMMARY ===");
		return `\n--- conformance stdout ---\n${i >= 0 ? out.slice(i) : out}` +
			`\n--- checks not successful (${outDir}) ---\n${unsuccessfulChecks(outDir)}` +
			`\n--- conformance stderr ---\n${cli.stderrText()}${log()}`;
	};
	t.diagnostic(`conformance run took ${Date.now() - started} ms`);
	remember();
	assert.deepEqual(status, { code: 0, signal: null }, `conformance exit status${report()}`);
	for (const s of MUST_PASS) {
		assert.match(out, new RegExp(`^✓ ${s}: \\d+ passed, 0 failed$`, "m"), `scenario ${s} must pass${report()}`);
	}

	// SIGTERM: the gateway exits 0 and leaves no process behind.
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, `gateway exit status${log()}`);
	await waitOrLog(() => [...descendants].every(([p, st]) => startTime(p) !== st || st === null),
		{ timeout: 3000, what: `no descendants left of ${[...descendants.keys()]}` });
	assert.match(gw.stderrText(), /kernel: stopped/);
});
