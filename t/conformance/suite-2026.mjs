// Conformance, revision 2026-07-28: the official MCP conformance suite 0.2.0-alpha.12 with
// --requirements 2026-07-28 (what that revision requires, run on its stateless wire) against
// mcpfed's Streamable HTTP listener, federating unprefixed a 2026-07-28 server over HTTP
// (t/servers/conformance-modern.mjs: input-required, capability, list-change and custom-header
// fixtures, answering with SSE streams) and the session-era fixture server over stdio
// (t/servers/conformance.mjs: content, resources, prompts, completion, progress), so that
// both kinds of upstream are crossed into the revision, and a session-era server that knows
// nothing of tasks (t/servers/task-tools.mjs) whose slow tools mcpfed runs as tasks (the
// tasks extension's scenarios; test_tool_with_task becomes one once its input is answered,
// tasks.after_input). Every scored scenario must pass, the pending ones the fixtures make
// testable, and every scenario of the tasks extension; expected-failures-2026.yml lists none.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/conformance/suite-2026.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { killAll, nodeBin, serverPath } from "../lib/harness.mjs";
import { startHttpServer } from "../lib/http.mjs";
import { cliOf, runConformance, totals } from "./run.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

// Scored by the requirement set (t/node_modules/conformance-2026/requirements/2026-07-28.yaml).
const SCORED = [
	"server-stateless", "completion-complete", "tools-list", "tools-call-simple-text", "tools-call-image",
	"tools-call-audio", "tools-call-embedded-resource", "tools-call-mixed-content", "tools-call-error",
	"tools-call-with-progress", "server-sse-multiple-streams", "resources-list", "resources-read-text",
	"resources-read-binary", "resources-templates-read", "sep-2164-resource-not-found", "prompts-list",
	"prompts-get-simple", "prompts-get-with-args", "prompts-get-embedded-resource", "prompts-get-with-image",
	"dns-rebinding-protection", "caching",
	...["basic-elicitation", "basic-sampling", "basic-list-roots", "request-state", "multiple-input-requests",
		"multi-round", "missing-input-response", "non-tool-request", "result-type", "unsupported-methods",
		"tampered-state", "capability-check", "ignore-extra-params", "validate-input"].map((s) => `input-required-result-${s}`),
];
// Run but not scored (pending against the suite's own reference fixture): they pass here.
const PENDING = ["json-schema-2020-12", "http-header-validation", "http-custom-header-server-validation"];
// The tasks extension's (io.modelcontextprotocol/tasks, SEP-2663).
const TASKS = ["lifecycle", "capability-negotiation", "wire-fields", "request-state-removal", "mrtr-input",
	"request-headers", "dispatch-and-envelope", "status-notifications", "required-task-error", "mrtr-composition"]
	.map((s) => `tasks-${s}`);

test("MCP conformance suite, requirement set 2026-07-28, against mcpfed over Streamable HTTP", { timeout: 240000 }, async (t) => {
	const modern = await startHttpServer("conformance-modern");
	t.after(() => killAll(modern.proc));
	const summary = await runConformance(t, {
		cli: cliOf("conformance-2026"),
		args: ["--requirements", "2026-07-28", "--expected-failures", path.join(here, "expected-failures-2026.yml")],
		providers: [
			{ name: "modern", transport: "http", url: modern.url, prefix: false },
			{ name: "conf", transport: "stdio", command: [nodeBin(), serverPath("conformance.mjs")], prefix: false },
			// an upstream that knows nothing of tasks: mcpfed runs these tools as tasks
			{ name: "tasks", transport: "stdio", command: [nodeBin(), serverPath("task-tools.mjs")], prefix: false,
				tasks: { tools: ["slow_compute", "failing_job", "protocol_error_job", "confirm_delete", "multi_input",
					"test_tool_with_task"], required: ["failing_job", "test_tool_with_task"],
					after_input: ["test_tool_with_task"] } },
		],
		probeTool: "test_input_required_result_elicitation",
		mustPass: [...SCORED, ...PENDING, ...TASKS],
	});
	assert.match(summary, /^Total: \d+ passed, \d+ failed$/m);
	t.diagnostic(totals(summary));
	t.diagnostic(summary.split("\n").find((l) => l.startsWith("Not scored")) ?? "no not-scored line");
});
