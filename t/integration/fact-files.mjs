// The files tool provider (plugins/fact/files.c) through the real gateway: list, read (whole,
// byte and line ranges) and search (substring, regular expression) under a root, and the
// refusals: a path out of the root through "..", an absolute path, a symbolic link leading
// out, a binary file, a file over max_bytes. Then both tool providers, files and sql, side
// by side behind a Streamable HTTP listener.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/fact-files.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { assertToolError as refused, call, closeAfter, killAll, luaConfig, scratchDir, startStdio, textOf } from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg, startHttpGateway } from "../lib/http.mjs";

const top = scratchDir();
const root = path.join(top, "root");
fs.mkdirSync(path.join(root, "sub", "deeper"), { recursive: true });
fs.writeFileSync(path.join(top, "secret.txt"), "the secret\n");
fs.writeFileSync(path.join(root, "a.txt"), "alpha one\nbeta two\ngamma three\ndelta four\n");
fs.writeFileSync(path.join(root, "sub", "b.md"), "# Beta\nnothing here\nBETA again\n");
fs.writeFileSync(path.join(root, "sub", "deeper", "c.txt"), "beta deep\n");
fs.writeFileSync(path.join(root, "bin.dat"), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]));
fs.writeFileSync(path.join(root, "big.txt"), "beta\n" + "x".repeat(5000) + "\n");
fs.symlinkSync(path.join(top, "secret.txt"), path.join(root, "out-link"));
fs.symlinkSync("../../secret.txt", path.join(root, "sub", "rel-link"));
fs.symlinkSync(top, path.join(root, "dir-link"));
fs.symlinkSync("a.txt", path.join(root, "in-link"));

const docs = { name: "docs", transport: "files", roots: { r: root }, max_bytes: 4096 };
const sc = (res) => res.result?.structuredContent;

function start(t) {
	return closeAfter(t, startStdio({ config: luaConfig({ log_level: "info", providers: [docs] }) }));
}

test("files: list, read and search under a root", async (t) => {
	const gw = start(t);
	await gw.initialize();
	const names = (await gw.request("tools/list")).result.tools.map((x) => x.name).sort();
	assert.deepEqual(names, ["docs__list", "docs__read", "docs__search"]);

	let r = await call(gw, "docs__list", {});
	assert.deepEqual(sc(r).entries.map((e) => [e.name, e.type]), [
		["a.txt", "file"], ["big.txt", "file"], ["bin.dat", "file"], ["dir-link", "symlink"], ["in-link", "symlink"],
		["out-link", "symlink"], ["sub", "directory"]]);
	assert.equal(sc(r).entries[0].size, 42);
	r = await call(gw, "docs__list", { path: "sub" });
	assert.deepEqual(sc(r).entries.map((e) => e.name), ["b.md", "deeper", "rel-link"]);

	r = await call(gw, "docs__read", { path: "a.txt" });
	assert.equal(sc(r).text, "alpha one\nbeta two\ngamma three\ndelta four\n");
	r = await call(gw, "docs__read", { path: "a.txt", offset: 6, length: 3 });
	assert.equal(sc(r).text, "one");
	r = await call(gw, "docs__read", { path: "a.txt", line: 2, lines: 2 });
	assert.equal(sc(r).text, "beta two\ngamma three\n");
	r = await call(gw, "docs__read", { path: "./sub/../in-link" });
	assert.equal(sc(r).text.slice(0, 9), "alpha one", "a link that stays in the root is followed");
	r = await call(gw, "docs__read", { path: "big.txt", length: 5 });
	assert.equal(sc(r).text, "beta\n", "a range of a large file");

	r = await call(gw, "docs__search", { pattern: "beta" });
	assert.deepEqual(sc(r).matches.map((m) => [m.path, m.line]).sort(), [["a.txt", 2], ["sub/deeper/c.txt", 1]],
		"big.txt is over max_bytes and passed over, and links are not followed");
	r = await call(gw, "docs__search", { pattern: "beta", ignore_case: true, path: "sub" });
	assert.deepEqual(sc(r).matches.map((m) => [m.path, m.line]).sort(), [["sub/b.md", 1], ["sub/b.md", 3], ["sub/deeper/c.txt", 1]]);
	r = await call(gw, "docs__search", { pattern: "^(gamma|delta) ", regex: true });
	assert.deepEqual(sc(r).matches.map((m) => m.text), ["gamma three", "delta four"]);
	r = await call(gw, "docs__search", { pattern: "a", max_matches: 2 });
	assert.equal(sc(r).matches.length, 2);
	assert.equal(sc(r).truncated, true);
	refused(await call(gw, "docs__search", { pattern: "(", regex: true }), /bad regular expression/);
});

test("files refuses paths out of the root, binary files and files over max_bytes", async (t) => {
	const gw = start(t);
	await gw.initialize();
	for (const p of ["../secret.txt", "sub/../../secret.txt", "out-link", "sub/rel-link", "dir-link/secret.txt", path.join(top, "secret.txt")]) {
		const r = await call(gw, "docs__read", { path: p });
		refused(r, /leads out of its root/);
		assert.doesNotMatch(JSON.stringify(r), /the secret/);
	}
	refused(await call(gw, "docs__list", { path: ".." }), /leads out of its root/);
	refused(await call(gw, "docs__search", { pattern: "secret", path: "dir-link" }), /leads out of its root/);
	refused(await call(gw, "docs__read", { path: "bin.dat" }), /binary/);
	refused(await call(gw, "docs__read", { path: "big.txt" }), /over max_bytes/);
	refused(await call(gw, "docs__read", { path: "a.txt", length: 100000 }), /"length" must be/);
	refused(await call(gw, "docs__read", { path: "nope.txt" }), /No such file/);
	refused(await call(gw, "docs__read", { path: "a.txt", root: "other" }), /no root named "other"/);
	refused(await call(gw, "docs__read", {}), /"path" is required/);
});

test("sql and files side by side, over HTTP and stdio", async (t) => {
	const dbFile = path.join(scratchDir(), "kv.db");
	const db = new DatabaseSync(dbFile);
	db.exec("CREATE TABLE kv (k TEXT, v INTEGER); INSERT INTO kv VALUES ('a', 1), ('b', 2);");
	db.close();
	const providers = [docs, { name: "facts", transport: "sql", databases: { kv: dbFile } }];
	const { gw, urls } = await startHttpGateway({ listen: ["http://127.0.0.1:0/mcp"], providers }, { listed: ["docs", "facts"] });
	t.after(() => killAll(gw));
	const bounded = (p, what, ms = 5000) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms).unref())]);
	const { post } = endpointClient(() => urls[0], bounded);
	const init = await post(initMsg(1));
	const session = init.headers.get("mcp-session-id");
	const version = "2025-11-25";
	await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, version });
	const list = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { session, version });
	const names = list.json.result.tools.map((x) => x.name);
	for (const n of ["docs__list", "docs__read", "docs__search", "facts__query", "facts__tables", "facts__schema", "facts__sample"])
		assert.ok(names.includes(n), `${n} in ${names}`);
	let r = await post(callMsg(3, "docs__read", { path: "a.txt", line: 4 }), { session, version });
	assert.equal(r.json.result.structuredContent.text, "delta four\n", r.text);
	r = await post(callMsg(4, "facts__query", { sql: "SELECT sum(v) FROM kv" }), { session, version });
	assert.deepEqual(r.json.result.structuredContent.rows, [[3]], r.text);
	r = await post(callMsg(5, "docs__read", { path: "../secret.txt" }), { session, version });
	assert.equal(r.json.result.isError, true, r.text);
	r = await post(callMsg(6, "facts__query", { sql: "DELETE FROM kv" }), { session, version });
	assert.equal(r.json.result.isError, true, r.text);

	const sg = closeAfter(t, startStdio({ config: luaConfig({ providers }) }));
	await sg.initialize();
	assert.deepEqual(sc(await call(sg, "facts__tables", {})).rows, [["kv", "table"]]);
	assert.equal(sc(await call(sg, "docs__list", { path: "sub/deeper" })).entries[0].name, "c.txt");
});

test("the example etc/examples/facts.lua: the shop database and the examples folder", async (t) => {
	const config = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../etc/examples/facts.lua");
	const gw = closeAfter(t, startStdio({ config }));
	await gw.initialize();
	const r = await call(gw, "shop__query", { sql: "SELECT category, revenue_cents FROM revenue_by_category ORDER BY category" });
	assert.deepEqual(sc(r).rows, [["coffee", 2490 * 3 + 390 * 3 + 5900], ["tea", 650 + 3200]], JSON.stringify(r));
	const list = await call(gw, "examples__list", {});
	assert.ok(sc(list).entries.some((e) => e.name === "shop.sql"), JSON.stringify(list));
	const found = await call(gw, "examples__search", { pattern: "CREATE VIEW", path: "shop.sql" });
	assert.equal(sc(found).matches.length, 1);
});
