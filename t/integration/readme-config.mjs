// README.md's configuration tables against the settings tables themselves, as
// `mcpfed --help-config` prints them: every key of mcpfed and of each plugin built in
// plugins/ is in the README's table for its role (`<!-- settings: SECTION -->` before it),
// every key there exists, and each default is the same (a marker may name several sections,
// comma-separated, for one table). Also --help-config's own shape.
// Run: MCPFED_BIN=build/mcpfed MCPFED_BUILDDIR=build t/run-node-test t/integration/readme-config.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { mcpfedBin } from "../lib/harness.mjs";

const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const buildDir = process.env.MCPFED_BUILDDIR ?? path.join(srcDir, "build");

// mcpfed --help-config over the plugins that ship (not the test plugins), parsed:
// section -> key -> { type, def, bounds, doc }
function helpConfig(env = {}) {
	const r = spawnSync(mcpfedBin(), ["--help-config"], {
		env: { ...process.env, MCPFED_PLUGIN_PATH: path.join(buildDir, "plugins"), ...env },
		encoding: "utf8", timeout: 20000,
	});
	if (r.error) throw r.error;
	return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function parseHelp(text) {
	const sections = new Map();
	let cur = null;
	for (const line of text.split("\n")) {
		const h = /^\[(.+)\]$/.exec(line);
		if (h) {
			cur = new Map();
			sections.set(h[1], cur);
		} else if (cur && line && !line.startsWith("#")) {
			const [key, type, def, bounds, doc] = line.split("\t");
			if (key !== "*") cur.set(key, { type, def, bounds, doc });
		}
	}
	return sections;
}

// The README's tables that a marker names: section -> key -> default (as written).
export function parseReadme(text) {
	const sections = new Map();
	const lines = text.split("\n");
	for (let i = 0; i < lines.length; i++) {
		const m = /^<!-- settings: (.+) -->$/.exec(lines[i]);
		if (!m) continue;
		const keys = new Map();
		// one table may serve several sections: "<!-- settings: http transport, ws transport -->"
		for (const sec of m[1].split(/,\s*/)) sections.set(sec, keys);
		let j = i + 1;
		for (; j < lines.length && lines[j].startsWith("|"); j++) {
			if (j < i + 3) continue;   // the header and its rule
			// cells: split on | outside backticks (a cell may hold `a\|b`)
			const cells = lines[j].slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
			const names = [...cells[0].matchAll(/`([^`]+)`/g)].map((x) => x[1]);
			// one default per key, split on commas outside braces
			const defs = names.length > 1 ? cells[1].split(/,\s+(?![^{]*\})/) : [cells[1]];
			assert.equal(defs.length, names.length, `README line ${j + 1}: ${names.length} keys, ${defs.length} defaults`);
			names.forEach((n, k) => keys.set(n, { def: defs[k], line: j + 1 }));
		}
		assert.ok(j > i + 3, `README line ${i + 1}: a table follows the marker`);
	}
	return sections;
}

// A README default as --help-config writes it: no backticks, and a remark in parentheses
// after a value dropped ("`0` (none)" is 0).
function same(readme, printed) {
	const plain = readme.replace(/`/g, "").trim();
	return plain === printed || plain.replace(/\s+\([^)]*\)$/, "") === printed;
}

test("--help-config prints the kernel's tables and each plugin's, one key a line", () => {
	const r = helpConfig();
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stderr, "", "every shipped plugin loads");
	const s = parseHelp(r.stdout);
	for (const sec of ["kernel", "kernel provider", "stdio provider", "stdio transport", "http provider",
		"http transport", "ws provider", "ws transport", "breaker breaker", "sql provider", "files provider",
		"fetch provider", "cache cache", "cache cache provider", "python provider"])
		assert.ok(s.has(sec), `section ${sec} in\n${r.stdout}`);
	assert.deepEqual(s.get("kernel").get("request_timeout_ms"),
		{ type: "duration (ms)", def: "60000", bounds: "1..86400000", doc: "how long a call may take (then -32001)" });
	assert.equal(s.get("kernel").get("log_level").bounds, "one of error, warn, info, debug");
	assert.equal(s.get("stdio provider").get("restart.strategy").def, '"one_for_one"', "nested keys by their path");
	assert.equal(s.get("stdio provider").get("command").def, "required");
	assert.equal(s.get("kernel provider").get("timeout_ms").def, "request_timeout_ms", "a default in words");
	for (const [sec, keys] of s)
		for (const [key, k] of keys) assert.ok(k.doc && k.type && k.def, `${sec} ${key}: type, default and doc`);
});

test("--help-config names a plugin it cannot load and goes on", () => {
	// the test plugins include some built to be refused (another SDK version)
	const r = helpConfig({ MCPFED_PLUGIN_PATH: `${path.join(buildDir, "plugins")}:${path.join(buildDir, "t", "plugins")}` });
	assert.equal(r.code, 0, r.stderr);
	assert.match(r.stderr, /mcpfed: oddmajor: plugin .* refused: its stamp says SDK/);
	const s = parseHelp(r.stdout);
	assert.ok(s.has("http transport") && s.has("loopback provider"), r.stdout);
});

test("README.md's key tables and the settings tables agree", () => {
	const r = helpConfig();
	assert.equal(r.code, 0, r.stderr);
	const printed = parseHelp(r.stdout);
	const readme = parseReadme(fs.readFileSync(path.join(srcDir, "README.md"), "utf8"));
	const problems = [];
	for (const [sec, keys] of printed) {
		const doc = readme.get(sec);
		if (!doc) {
			problems.push(`README.md has no table for [${sec}] (a line <!-- settings: ${sec} --> before it)`);
			continue;
		}
		for (const [key, k] of keys) {
			const d = doc.get(key);
			if (!d) problems.push(`[${sec}] ${key}: missing from README.md (default ${k.def})`);
			else if (!same(d.def, k.def))
				problems.push(`[${sec}] ${key}: README.md line ${d.line} says the default is ${d.def}, the table ${k.def}`);
		}
		for (const [key, d] of doc)
			if (!keys.has(key)) problems.push(`[${sec}] ${key}: in README.md line ${d.line} but no such key`);
	}
	for (const sec of readme.keys())
		if (!printed.has(sec)) problems.push(`README.md has a table for [${sec}], which --help-config does not print`);
	assert.deepEqual(problems, []);
});

test("the comparison catches a README that disagrees", () => {
	const text = fs.readFileSync(path.join(srcDir, "README.md"), "utf8");
	const wrong = parseReadme(text.replace("| `request_timeout_ms` | `60000` |", "| `request_timeout_ms` | `30000` |")
		.replace("| `page_size` | `500` |", "| `page_sise` | `500` |"));
	const printed = parseHelp(helpConfig().stdout);
	assert.ok(!same(wrong.get("kernel").get("request_timeout_ms").def, printed.get("kernel").get("request_timeout_ms").def));
	assert.ok(!wrong.get("kernel").has("page_size") && printed.get("kernel").has("page_size"));
	assert.ok(same("`0` (none)", "0") && same("required (or `urls`)", "required (or urls)") && !same("`1`", "10"));
});
