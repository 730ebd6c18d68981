// A tool plugin built out of the tree from the SDK alone (sdk/template/tool.c, through the
// build tree's pkg-config file) and dropped into a watched plugin directory of a running
// gateway, with no configuration entry: its default instance starts, its tools join the
// catalog (list_changed) and answer, and stay across a reload of the configuration; a new copy of the file hot-swaps it while a call is
// in flight, which finishes; deleting the file takes its tools away (list_changed) while a
// call in flight finishes, and the plugin is unloaded. Its settings table, empty, refuses
// a key given to it as a configured provider. Plugins already in the directory at the start
// are served the same way, one after the other.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { admin, assertToolError, call, closeAfter, logTail, mcpfedBin, scratchDir, startStdio, textOf, waitFor, writeConfig } from "../lib/harness.mjs";

const srcdir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const builddir = path.resolve(process.env.MCPFED_BUILDDIR || path.dirname(mcpfedBin()));

function build(dir, edit = (src) => src) {
	for (const f of ["tool.c", "Makefile"]) fs.copyFileSync(path.join(srcdir, "sdk", "template", f), path.join(dir, f));
	fs.writeFileSync(path.join(dir, "tool.c"), edit(fs.readFileSync(path.join(dir, "tool.c"), "utf8")));
	const r = spawnSync("make", ["-C", dir, "tool.so", "CFLAGS=-O2 -Wall -Wextra -Werror"], {
		env: { ...process.env, PKG_CONFIG_PATH: path.join(builddir, "sdk") }, encoding: "utf8",
	});
	assert.equal(r.status, 0, r.stdout + r.stderr);
	return path.join(dir, "tool.so");
}

// whole at once, as a new file: the directory sees one rename
function install(dir, from) {
	const tmp = path.join(dir, ".tool.tmp");
	fs.copyFileSync(from, tmp);
	fs.renameSync(tmp, path.join(dir, "tool.so"));
}

const names = async (gw) => (await gw.request("tools/list")).result.tools.map((x) => x.name).filter((n) => n.startsWith("tool__")).sort();

const work = fs.mkdtempSync(path.join(os.tmpdir(), "mcpfed-tool-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));
const built = build(work);

// the same template as a plugin of another name, "tally"
const buildTally = () => build(fs.mkdtempSync(path.join(work, "tally-")),
	(src) => src.replace('MF_PLUGIN(.name = "tool"', 'MF_PLUGIN(.name = "tally"'));

// a gateway watching a directory of its own; providers: Lua text
function start(t, providers = "", before = () => {}) {
	const watched = fs.mkdtempSync(path.join(work, "plugins-"));
	before(watched);
	const sock = path.join(scratchDir(), "admin.sock");
	const config = writeConfig(`return {
		log_level = "info", plugin_dirs = { ${JSON.stringify(watched)} }, watch_plugins = true,
		admin = ${JSON.stringify(sock)}, drain_timeout_ms = 20000, providers = { ${providers} },
	}`);
	return { gw: closeAfter(t, startStdio({ config })), watched, sock };
}

test("a tool plugin dropped in serves with no configuration entry; replaced, it hot-swaps; deleted, it leaves after its calls", async (t) => {
	const { gw, watched, sock } = start(t);
	const log = () => logTail(gw.stderrText(), 4000);
	await gw.initialize();
	assert.deepEqual(await names(gw), []);
	await waitFor(() => gw.stderrText().includes(`watching plugin directory dir=${watched}`), { what: "the watch" });

	// dropped in: loaded, started, listed
	install(watched, built);
	await gw.next("notifications/tools/list_changed", { timeout: 10000, what: `list_changed after the drop-in${log()}` });
	assert.deepEqual(await names(gw), ["tool__count", "tool__wait"]);
	let r = await call(gw, "tool__count", { text: "two words\nand été" });
	assert.deepEqual(r.result.structuredContent, { words: 4, lines: 1, chars: 17 });
	assertToolError(await call(gw, "tool__count", {}), /needs a "text"/);
	// a reload of the configuration, which names no such provider, keeps it
	const rc = await admin(sock, "reload config");
	assert.equal(rc.code, 200, JSON.stringify(rc));
	assert.deepEqual(rc.body.providers.removed, []);
	assert.deepEqual(await names(gw), ["tool__count", "tool__wait"]);

	// replaced while a call is in flight: the call finishes on the old generation
	let answered = false;
	const first = gw.request("tools/call", { name: "tool__wait", arguments: { ms: 4000 }, _meta: { progressToken: "w1" } }, { timeout: 20000 })
		.finally(() => { answered = true; });
	await gw.next((m) => m.method === "notifications/progress" && m.params.progressToken === "w1", { what: `the wait under way${log()}` });
	install(watched, built);
	await waitFor(() => /info swap: reloaded plugin=tool generation=2/.test(gw.stderrText()), { timeout: 10000, what: `the hot swap${log()}` });
	assert.equal(answered, false, "the call was in flight across the swap");
	r = await call(gw, "tool__count", { text: "x" });
	assert.equal(r.result.structuredContent.words, 1, "the new generation serves");
	r = await first;
	assert.equal(textOf(r), "waited", JSON.stringify(r));

	// deleted while a call is in flight: the tools leave at once, the call finishes
	answered = false;
	const second = gw.request("tools/call", { name: "tool__wait", arguments: { ms: 3000 }, _meta: { progressToken: "w2" } }, { timeout: 20000 })
		.finally(() => { answered = true; });
	await gw.next((m) => m.method === "notifications/progress" && m.params.progressToken === "w2", { what: `the second wait under way${log()}` });
	fs.unlinkSync(path.join(watched, "tool.so"));
	await gw.next("notifications/tools/list_changed", { timeout: 10000, what: `list_changed after the delete${log()}` });
	assert.equal(answered, false, "the call was in flight when the tools left");
	assert.deepEqual(await names(gw), []);
	r = await call(gw, "tool__count", { text: "x" });
	assert.ok(r.error, "no such tool any more");
	r = await second;
	assert.equal(textOf(r), "waited", JSON.stringify(r));
	await waitFor(async () => !(await admin(sock, "plugins")).body.plugins.some((p) => p.name === "tool"),
		{ timeout: 10000, what: `the plugin unloaded${log()}` });

	// dropped in again: served again
	install(watched, built);
	await gw.next("notifications/tools/list_changed", { timeout: 10000, what: `list_changed after the second drop-in${log()}` });
	assert.deepEqual(await names(gw), ["tool__count", "tool__wait"]);
});

test("a tool plugin dropped in whose name a provider has is not started, and is unloaded", async (t) => {
	const { gw, watched, sock } = start(t, `{ name = "tool", transport = "loopback" }`);
	const log = () => logTail(gw.stderrText(), 4000);
	await gw.initialize();
	const before = await gw.request("tools/list");
	await waitFor(() => gw.stderrText().includes(`watching plugin directory dir=${watched}`), { what: "the watch" });
	install(watched, built);
	await waitFor(() => /warn dropin: plugin dropped in not started: a provider has its name plugin=tool provider=tool/.test(gw.stderrText()),
		{ timeout: 10000, what: `the refusal${log()}` });
	await waitFor(async () => !(await admin(sock, "plugins")).body.plugins.some((p) => p.name === "tool"),
		{ timeout: 10000, what: `the plugin unloaded${log()}` });
	assert.deepEqual((await gw.request("tools/list")).result, before.result, "the catalog is as it was");
});

test("the template's settings table is empty: a key given to it is refused, named", async () => {
	const dir = fs.mkdtempSync(path.join(work, "plugins-"));
	fs.copyFileSync(built, path.join(dir, "tool.so"));
	const config = writeConfig(`return { plugin_dirs = { ${JSON.stringify(dir)} },
		providers = { { name = "t", transport = "tool", colour = "blue" } } }`);
	const gw = startStdio({ config });
	const st = await gw.waitExit(10000);
	assert.notEqual(st.code, 0, "refused");
	assert.match(gw.stderrText(), /providers\[1\]\.colour/);
});

test("plugins in the watched directory before the start serve, each in turn; one the gateway does not run is unloaded", async (t) => {
	const tally = buildTally();
	const { gw, sock } = start(t, "", (dir) => {
		install(dir, built);
		fs.copyFileSync(tally, path.join(dir, "tally.so"));
		fs.copyFileSync(path.join(builddir, "plugins", "files", ".libs", "files.so"), path.join(dir, "files.so"));
	});
	const log = () => logTail(gw.stderrText(), 4000);
	await gw.initialize();
	const all = async () => (await gw.request("tools/list")).result.tools.map((x) => x.name).sort();
	await waitFor(async () => (await all()).length === 4, { timeout: 10000, what: "the tools of both plugins" }).catch((e) => { throw new Error(`${e.message}${log()}`); });
	assert.deepEqual(await all(), ["tally__count", "tally__wait", "tool__count", "tool__wait"]);
	assert.equal((await call(gw, "tally__count", { text: "one two" })).result.structuredContent.words, 2);
	assert.equal((await call(gw, "tool__count", { text: "one" })).result.structuredContent.words, 1);
	// one started after the other: both joined, none was lost while the other was starting
	assert.equal((gw.stderrText().match(/info dropin: plugin dropped in; its provider serves/g) ?? []).length, 2, log());
	const loaded = (await admin(sock, "plugins")).body.plugins.map((p) => p.name);
	assert.ok(!loaded.includes("files"), `a plugin with no default instance, looked at, is unloaded: ${loaded}${log()}`);
});
