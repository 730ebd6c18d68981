// The official MCP conformance suite (@modelcontextprotocol/conformance, server mode)
// against mcpfed's Streamable HTTP listener, federating the fixture servers of t/servers
// unprefixed: the gateway starts, the suite starts once the fixtures are federated, its
// exit status and summary are checked, and the gateway must then stop cleanly leaving no
// process behind. Used by suite.mjs (0.1.16, the session era) and suite-2026.mjs
// (0.2.0-alpha.12, the requirement set of revision 2026-07-28).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { childPids, logTail, nodeBin, startProcess, startTime, waitFor, withTimeout } from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";

const tDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const cliOf = (pkg) => path.join(tDir, "node_modules", ...pkg.split("/"), "dist", "index.js");
const CLI_TIMEOUT_MS = 150000;

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

// "scenarios: 30 passed, 0 failed; Total: 80 passed, 0 failed" from a summary.
export function totals(summary) {
	const count = (mark) => summary.split("\n").filter((l) => l.startsWith(`${mark} `)).length;
	const total = summary.split("\n").find((l) => l.startsWith("Total:")) ?? "Total: ?";
	return `scenarios: ${count("✓")} passed, ${count("✗")} failed; checks ${total}`;
}

// Run the suite (cli: its index.js; args: what follows "server --url URL") against mcpfed
// federating providers; probeTool is a tool whose listing says the fixtures are federated.
// mustPass names scenarios that must pass with every check. Resolves to the suite's stdout
// from its summary on (for the test's diagnostics), once the gateway has stopped.
export async function runConformance(t, { cli, args, providers, probeTool, mustPass }) {
	const { gw, urls: [url], config: cfg } = await startHttpGateway({
		log_level: "info",
		// The dns-rebinding scenario requires a loopback URL (localhost/127.0.0.1).
		listen: ["http://127.0.0.1:0/mcp"],
		providers,
	}, { timeout: 10000 });
	const outDir = path.join(path.dirname(cfg), "results"); // removed with the config at exit

	const log = () => logTail(gw.stderrText(), 4000);
	const waitOrLog = (fn, opts) => waitFor(fn, opts).catch((e) => { throw new Error(`${e.message}${log()}`); });
	const descendants = new Map(); // pid -> start time
	const remember = () => { for (const p of childPids(gw.pid)) if (!descendants.has(p)) descendants.set(p, startTime(p)); };
	let run;
	t.after(() => {
		for (const p of [run, gw]) if (p && !p.exitStatus()) p.kill("SIGKILL");
		for (const pid of descendants.keys()) try { process.kill(pid, "SIGKILL"); } catch {}
	});

	// Start the suite only once the fixtures are federated (the upstreams are starting in
	// the background), so that no scenario races the catalogue.
	await waitOrLog(async () => {
		const client = new Client({ name: "conformance-suite-probe", version: "1.0.0" });
		const transport = new StreamableHTTPClientTransport(new URL(url));
		try {
			await withTimeout(client.connect(transport), 5000, "probe connect");
			const { tools } = await withTimeout(client.listTools(), 5000, "probe tools/list");
			return tools.some((x) => x.name === probeTool);
		} finally {
			await transport.terminateSession().catch(() => {});
			await client.close().catch(() => {});
		}
	}, { timeout: 15000, interval: 100, what: `${probeTool} in tools/list at ${url}` });
	remember();
	assert.ok(descendants.size >= 1, `the fixture server runs under the gateway${log()}`);

	const started = Date.now();
	run = startProcess([nodeBin(), cli, "server", "--url", url, ...args, "-o", outDir]);
	let status;
	try {
		status = await run.waitExit(CLI_TIMEOUT_MS);
	} catch (e) {
		run.kill("SIGKILL");
		throw new Error(`${e.message}\n--- conformance stdout ---\n${run.stdoutLines.join("\n")}${log()}`);
	}
	const out = run.stdoutLines.join("\n");
	const i = out.indexOf("=== SUMMARY ===");
	const summary = i >= 0 ? out.slice(i) : out;
	// The summary (or everything, if there is none), then the checks that did not succeed.
	const report = () => `\n--- conformance stdout ---\n${summary}` +
		`\n--- checks not successful (${outDir}) ---\n${unsuccessfulChecks(outDir)}` +
		`\n--- conformance stderr ---\n${run.stderrText()}${log()}`;
	t.diagnostic(`conformance run took ${Date.now() - started} ms`);
	remember();
	assert.deepEqual(status, { code: 0, signal: null }, `conformance exit status${report()}`);
	for (const s of mustPass) {
		assert.match(out, new RegExp(`^✓ ${s}: \\d+ passed, 0 failed$`, "m"), `scenario ${s} must pass${report()}`);
	}

	// SIGTERM: the gateway exits 0 and leaves no process behind.
	gw.kill("SIGTERM");
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, `gateway exit status${log()}`);
	await waitOrLog(() => [...descendants].every(([p, st]) => startTime(p) !== st || st === null),
		{ timeout: 3000, what: `no descendants left of ${[...descendants.keys()]}` });
	assert.match(gw.stderrText(), /kernel: stopped/);
	return summary;
}
