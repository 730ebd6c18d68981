// Conformance, session era: the official MCP conformance suite 0.1.16 (server mode, suite
// "active") against mcpfed's Streamable HTTP listener, with the fixture server
// t/servers/conformance.mjs federated unprefixed, and server-everything beside it as a
// second provider. t/conformance/expected-failures.yml lists scenarios expected to fail
// (none); the tool exits non-zero on any other failure and on a listed scenario that passes.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/conformance/suite.mjs
import { test } from "node:test";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { binPath, nodeBin, serverPath } from "../lib/harness.mjs";
import { cliOf, runConformance, totals } from "./run.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

test("MCP conformance suite (server, active) against mcpfed over Streamable HTTP", { timeout: 240000 }, async (t) => {
	const summary = await runConformance(t, {
		cli: cliOf("@modelcontextprotocol/conformance"),
		args: ["--expected-failures", path.join(here, "expected-failures.yml")],
		providers: [
			{ name: "conf", transport: "stdio", command: [nodeBin(), serverPath("conformance.mjs")], prefix: false },
			// a second provider beside it: its tools, prompts and resources must not disturb
			{ name: "ev", transport: "stdio", command: [nodeBin(), binPath("mcp-server-everything")] },
		],
		probeTool: "test_simple_text",
		// What the gateway federates today; these must pass (never be in the baseline).
		mustPass: [
			"server-initialize", "ping", "tools-list", "tools-call-simple-text", "tools-call-image",
			"tools-call-audio", "tools-call-embedded-resource", "tools-call-mixed-content", "tools-call-error",
			"server-sse-multiple-streams", "dns-rebinding-protection",
		],
	});
	t.diagnostic(totals(summary));
});
