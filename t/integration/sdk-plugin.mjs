// A plugin built out of the tree from the SDK alone (sdk/template, pkg-config mcpfed),
// then loaded and federated by the gateway.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { admin, mcpfedBin, scratchDir, startStdio, writeConfig } from "../lib/harness.mjs";

const srcdir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const builddir = path.resolve(process.env.MCPFED_BUILDDIR || path.dirname(mcpfedBin()));

test("the template plugin builds from sdk/ alone and serves its tool", async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcpfed-sdk-"));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	for (const f of ["hello.c", "tool.c", "Makefile"]) fs.copyFileSync(path.join(srcdir, "sdk", "template", f), path.join(dir, f));

	// only the SDK's pkg-config file tells the compiler where mcpfed's headers are
	const cflags = execFileSync("pkg-config", ["--cflags", "mcpfed"], {
		env: { ...process.env, PKG_CONFIG_PATH: path.join(builddir, "sdk") }, encoding: "utf8",
	});
	assert.match(cflags, /sdk/);
	const build = spawnSync("make", ["-C", dir, "CFLAGS=-O2 -Wall -Wextra -Werror"], {
		env: { ...process.env, PKG_CONFIG_PATH: path.join(builddir, "sdk") }, encoding: "utf8",
	});
	assert.equal(build.status, 0, build.stdout + build.stderr);
	assert.ok(fs.existsSync(path.join(dir, "hello.so")));

	const sock = path.join(scratchDir(), "admin.sock");
	const config = writeConfig(`return {
		plugin_dirs = { ${JSON.stringify(dir)} },
		admin = ${JSON.stringify(sock)},
		providers = { { name = "hello", transport = "hello", greeting = "Hi" } },
	}`);
	const check = spawnSync(mcpfedBin(), ["--check", "-c", config], { encoding: "utf8" });
	assert.equal(check.status, 0, check.stderr);

	const bad = writeConfig(`return {
		plugin_dirs = { ${JSON.stringify(dir)} },
		providers = { { name = "hello", transport = "hello", greting = "Hi" } },
	}`);
	const refused = spawnSync(mcpfedBin(), ["--check", "-c", bad], { encoding: "utf8" });
	assert.equal(refused.status, 1);
	assert.match(refused.stderr, /providers\[1\]\.greting: unknown key/, "the plugin checks its own keys");

	const gw = startStdio({ config });
	try {
		await gw.initialize();
		const list = await gw.request("tools/list", {});
		assert.deepEqual(list.result.tools.map((x) => x.name), ["hello__greet"]);
		const ok = await gw.request("tools/call", { name: "hello__greet", arguments: { name: "Ada" } });
		assert.equal(ok.result.content[0].text, "Hi, Ada!");
		const noName = await gw.request("tools/call", { name: "hello__greet", arguments: {} });
		assert.equal(noName.result.isError, true);
		assert.match(gw.stderrText(), /plugin: loaded plugin=hello/);
		// it hands over to a fresh load of itself while serving
		const calls = Array.from({ length: 20 }, (_, i) => gw.request("tools/call", { name: "hello__greet", arguments: { name: `n${i}` } }));
		const r = await admin(sock, "reload hello");
		assert.equal(r.code, 200, JSON.stringify(r));
		assert.equal(r.body.generation, 2);
		const answers = await Promise.all(calls);
		assert.deepEqual(answers.map((a) => a.result?.content?.[0]?.text), Array.from({ length: 20 }, (_, i) => `Hi, n${i}!`));
		const again = await gw.request("tools/call", { name: "hello__greet", arguments: { name: "Bo" } });
		assert.equal(again.result.content[0].text, "Hi, Bo!");
	} finally {
		assert.deepEqual(await gw.close(), { code: 0, signal: null });
	}
});
