// The sql tool provider (plugins/fact/sql.c) through the real gateway on stdio (over HTTP:
// t/integration/fact-files.mjs): its tools listed under the provider's prefix, their
// results, and its refusals (writes, two statements, ATTACH, a writable pragma, an oversized
// answer, a query past its time limit, a call cancelled mid-query); a reload while a query
// runs. The database is made here, with node:sqlite.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/fact-sql.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { admin, assertToolError as refused, call, closeAfter, killAll, logTail, luaConfig, scratchDir, startStdio, textOf, waitFor } from "../lib/harness.mjs";

function makeDb() {
	const file = path.join(scratchDir(), "sales.db");
	const db = new DatabaseSync(file);
	db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, data BLOB);
		CREATE VIEW cheap AS SELECT name FROM items WHERE price < 2;`);
	const ins = db.prepare("INSERT INTO items (name, price, data) VALUES (?, ?, ?)");
	ins.run("apple", 1.5, Buffer.from([1, 2]));
	ins.run("pear", 2.25, null);
	ins.run("plum", 0.5, null);
	for (let i = 0; i < 200; i++) ins.run(`bulk${i}`, 9, null);
	db.close();
	return file;
}

const dbFile = makeDb();
const facts = (extra = {}) => ({ name: "facts", transport: "sql", databases: { sales: dbFile }, max_rows: 50, max_bytes: 4096, max_ms: 500, ...extra });
const slowSql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

function start(t, provider = facts(), env = {}) {
	const gw = startStdio({ config: luaConfig({ log_level: "info", providers: [provider] }), env });
	return closeAfter(t, gw);
}
const sc = (res) => res.result?.structuredContent;

test("sql over stdio: tools listed with schemas; query, tables, schema, sample", async (t) => {
	const gw = start(t);
	await gw.initialize();
	const list = (await gw.request("tools/list")).result.tools;
	const mine = list.filter((x) => x.name.startsWith("facts__")).map((x) => x.name).sort();
	assert.deepEqual(mine, ["facts__query", "facts__sample", "facts__schema", "facts__tables"]);
	const q = list.find((x) => x.name === "facts__query");
	assert.deepEqual(q.inputSchema.required, ["sql"]);
	assert.equal(q.outputSchema.type, "object");

	let r = await call(gw, "facts__query", { sql: "SELECT name, price FROM items WHERE price < ? ORDER BY price", params: [2] });
	assert.deepEqual(sc(r), { columns: ["name", "price"], rows: [["plum", 0.5], ["apple", 1.5]], truncated: false });
	assert.deepEqual(JSON.parse(textOf(r)), sc(r), "the text holds the same JSON");
	r = await call(gw, "facts__query", { database: "sales", sql: "SELECT data FROM items WHERE name = :n", params: { n: "apple" } });
	assert.deepEqual(sc(r).rows, [["x'0102'"]]);
	r = await call(gw, "facts__query", { sql: "SELECT id FROM items" });
	assert.equal(sc(r).rows.length, 50);
	assert.equal(sc(r).truncated, true, "max_rows cuts the rows");

	r = await call(gw, "facts__tables", {});
	assert.deepEqual(sc(r).rows, [["cheap", "view"], ["items", "table"]]);
	r = await call(gw, "facts__schema", { table: "items" });
	assert.deepEqual(sc(r).rows.map((x) => x.slice(1, 4)), [["id", "INTEGER", 0], ["name", "TEXT", 1], ["price", "REAL", 0], ["data", "BLOB", 0]]);
	refused(await call(gw, "facts__schema", { table: "nope" }), /no table or view named "nope"/);
	r = await call(gw, "facts__sample", { table: "items", rows: 2 });
	assert.deepEqual(sc(r).rows.map((x) => x[1]), ["apple", "pear"]);
	refused(await call(gw, "facts__sample", { table: "x\" ; DROP TABLE items; --" }), /no such table/);
	refused(await call(gw, "facts__query", { database: "other", sql: "SELECT 1" }), /no database named "other"/);
	refused(await call(gw, "facts__query", {}), /"sql" is required/);
	refused(await call(gw, "facts__query", { sql: "SELEC 1" }), /syntax error/);
	// a malformed request is a JSON-RPC error, not a tool result
	const bad = await gw.request("tools/call", { name: "facts__query", arguments: [1] });
	assert.ok(bad.error, JSON.stringify(bad));
});

test("sql refuses writes, two statements, ATTACH, writable pragmas and oversized answers", async (t) => {
	const gw = start(t);
	await gw.initialize();
	for (const sql of [
		"INSERT INTO items (name) VALUES ('x')", "CREATE TABLE t (a)", "DELETE FROM items", "DROP TABLE items",
		"PRAGMA writable_schema=1", "PRAGMA journal_mode=WAL", "BEGIN", "VACUUM",
		"ATTACH DATABASE ':memory:' AS m", "SELECT load_extension('x')",
	]) {
		const r = await call(gw, "facts__query", { sql });
		assert.equal(r.result?.isError, true, `${sql}: ${JSON.stringify(r)}`);
	}
	refused(await call(gw, "facts__query", { sql: "INSERT INTO items (name) VALUES ('x')" }), /refused: only reading/);
	refused(await call(gw, "facts__query", { sql: "SELECT 1; SELECT 2" }), /one statement per call/);
	refused(await call(gw, "facts__query", { sql: "SELECT 1; DELETE FROM items" }), /refused/);
	let r = await call(gw, "facts__query", { sql: "SELECT 1 AS one -- a comment" });
	assert.deepEqual(sc(r).rows, [[1]], "a comment after the statement is no second statement");
	r = await call(gw, "facts__query", { sql: "PRAGMA table_info(items)" });
	assert.equal(sc(r).rows.length, 4, "a pragma that only reports runs");
	refused(await call(gw, "facts__query", { sql: "SELECT hex(zeroblob(300)) FROM items" }), /exceeds max_bytes/);
	// nothing was written
	r = await call(gw, "facts__query", { sql: "SELECT count(*) FROM items" });
	assert.deepEqual(sc(r).rows, [[203]]);
});

test("sql stops a query past max_ms, and a query the client cancels", async (t) => {
	// one pool thread: a query left running would hold back the next call
	const gw = start(t, facts({ max_ms: 300 }), { UV_THREADPOOL_SIZE: "1" });
	await gw.initialize();
	const t0 = Date.now();
	refused(await call(gw, "facts__query", { sql: slowSql }, { timeout: 5000 }), /past its time limit/);
	assert.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0} ms`);
	await killAll(gw);

	const gw2 = start(t, facts({ max_ms: 60000 }), { UV_THREADPOOL_SIZE: "1" });
	await gw2.initialize();
	gw2.send({ jsonrpc: "2.0", id: "slow", method: "tools/call", params: { name: "facts__query", arguments: { sql: slowSql } } });
	// The query's start on the pool thread sends nothing to wait for: give it a moment. Were
	// the cancel to come first, the call would be dropped before it ran and this test would
	// prove less, not fail.
	await new Promise((resolve) => setTimeout(resolve, 200));
	gw2.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "slow" } });
	const t1 = Date.now();
	const r = await call(gw2, "facts__query", { sql: "SELECT 7" }, { timeout: 5000 });
	assert.deepEqual(sc(r).rows, [[7]], "the pool's only thread is free again");
	assert.ok(Date.now() - t1 < 3000, `next call answered in ${Date.now() - t1} ms`);
	assert.equal(gw2.unconsumed().filter((m) => m.id === "slow").length, 0, "no answer to the cancelled call");
});

test("sql checks its configuration, naming the key", async () => {
	for (const [extra, re] of [
		[{ databases: {} }, /providers\[1\]\.databases: expected a non-empty map of names to strings/],
		[{ max_rows: 0 }, /providers\[1\]\.max_rows/],
		[{ bogus: 1 }, /providers\[1\]\.bogus|bogus/],
	]) {
		const gw = startStdio({ config: luaConfig({ providers: [facts(extra)] }) });
		const st = await gw.waitExit(5000);
		assert.notEqual(st.code, 0);
		assert.match(gw.stderrText(), re, logTail(gw.stderrText()));
	}
});

test("reload sql while a query runs: the old generation finishes it, the new one serves", async (t) => {
	const sock = path.join(scratchDir(), "admin.sock");
	const gw = closeAfter(t, startStdio({ config: luaConfig({ log_level: "info", admin: sock, providers: [facts({ max_ms: 1500 })] }) }));
	await gw.initialize();
	const slow = call(gw, "facts__query", { sql: slowSql }, { timeout: 8000 });
	await waitFor(async () => (await admin(sock, "status")).body.calls_in_flight === 1, { timeout: 5000, what: "the query in flight" });
	const r = await admin(sock, "reload sql");
	assert.equal(r.code, 200, JSON.stringify(r));
	assert.equal(r.body.outcome, "swapped", JSON.stringify(r.body));
	assert.deepEqual(sc(await call(gw, "facts__query", { sql: "SELECT 2" })).rows, [[2]]);
	refused(await slow, /past its time limit/);
	await waitFor(() => /info swap: old generation drained instance="provider facts"/.test(gw.stderrText()),
		{ timeout: 5000, what: `the old generation drained${logTail(gw.stderrText())}` });
});
