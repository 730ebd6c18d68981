// Interop: the official TypeScript SDK 1.x client drives mcpfed --stdio, which federates
// the official server-everything and server-memory. Includes an upstream killed while a
// call is in flight, and recovery.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/interop/sdk-stdio.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import {
	binPath, childPids, cmdline, logTail, luaConfig, mcpfedBin, nodeBin, scratchDir, startTime, waitFor, withTimeout,
} from "../lib/harness.mjs";

const textOf = (res) => res?.content?.[0]?.text;

test("SDK client through mcpfed to server-everything and server-memory", async (t) => {
	const memFile = path.join(scratchDir(), "memory.jsonl");
	const cfg = luaConfig({
		log_level: "info",
		providers: [
			{
				name: "everything", transport: "stdio", command: [nodeBin(), binPath("mcp-server-everything")],
				env: { MCPFED_INTEROP_MARK: "set-by-config" },
			},
			{
				name: "memory", prefix: "mem", transport: "stdio", command: [nodeBin(), binPath("mcp-server-memory")],
				env: { MEMORY_FILE_PATH: memFile },
			},
		],
	});

	const env = { PATH: process.env.PATH, HOME: process.env.HOME || "/tmp" };
	for (const k of ["MCPFED_PLUGIN_PATH", "MCPFED_LUA_PATH"]) if (process.env[k]) env[k] = process.env[k];
	const transport = new StdioClientTransport({
		command: mcpfedBin(), args: ["--stdio", "-c", cfg], env, stderr: "pipe",
	});
	let log = "";
	transport.stderr.setEncoding("utf8").on("data", (d) => { log += d; });
	const client = new Client({ name: "mcpfed-interop", version: "1.0.0" });
	const tail = () => logTail(log, 3000);
	const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, tail);

	let gwPid;
	const everyDescendant = new Map(); // pid -> start time, for the final check
	const remember = () => { for (const p of childPids(gwPid)) if (!everyDescendant.has(p)) everyDescendant.set(p, startTime(p)); };
	t.after(async () => { // if an assertion failed halfway
		await client.close().catch(() => {});
		for (const pid of everyDescendant.keys()) try { process.kill(pid, "SIGKILL"); } catch {}
	});

	await bounded(client.connect(transport), "connect");
	gwPid = transport.pid;
	assert.ok(gwPid > 0);
	assert.equal(client.getServerVersion()?.name, "mcpfed");
	assert.equal(client.getServerCapabilities()?.tools?.listChanged, true);

	const { tools } = await bounded(client.listTools(), "listTools");
	const names = tools.map((x) => x.name);
	for (const n of ["everything__echo", "everything__get-sum", "everything__trigger-long-running-operation",
		"mem__create_entities", "mem__read_graph", "mem__search_nodes"]) {
		assert.ok(names.includes(n), `${n} in ${names.join(",")}`);
	}
	assert.ok(names.every((n) => n.startsWith("everything__") || n.startsWith("mem__")), names.join(","));
	remember();

	const echo = await bounded(client.callTool({ name: "everything__echo", arguments: { message: "hello" } }), "echo");
	assert.equal(textOf(echo), "Echo: hello");
	const sum = await bounded(client.callTool({ name: "everything__get-sum", arguments: { a: 2, b: 40 } }), "get-sum");
	assert.match(textOf(sum), /42/);
	// The SDK client checks structuredContent against the outputSchema it got from listTools.
	const weather = await bounded(client.callTool({
		name: "everything__get-structured-content", arguments: { location: "Chicago" },
	}), "get-structured-content");
	assert.equal(weather.structuredContent?.conditions, "Light rain / drizzle", JSON.stringify(weather));
	// Provider env is added to the inherited environment.
	const upEnv = JSON.parse(textOf(await bounded(client.callTool({ name: "everything__get-env", arguments: {} }), "get-env")));
	assert.equal(upEnv.MCPFED_INTEROP_MARK, "set-by-config");
	assert.equal(upEnv.PATH, process.env.PATH, "inherited PATH");

	const created = await bounded(client.callTool({
		name: "mem__create_entities",
		arguments: { entities: [{ name: "mcpfed", entityType: "gateway", observations: ["federates MCP servers"] }] },
	}), "create_entities");
	assert.ok(!created.isError, JSON.stringify(created));
	const graph = await bounded(client.callTool({ name: "mem__read_graph", arguments: {} }), "read_graph");
	const parsed = JSON.parse(textOf(graph));
	assert.deepEqual(parsed.entities.map((e) => [e.name, e.entityType, e.observations]),
		[["mcpfed", "gateway", ["federates MCP servers"]]]);
	assert.ok(fs.readFileSync(memFile, "utf8").includes("mcpfed"), "memory wrote MEMORY_FILE_PATH");

	// An unknown tool is a protocol error the SDK surfaces as McpError -32602.
	await assert.rejects(bounded(client.callTool({ name: "everything__nope", arguments: {} }), "unknown tool"),
		(e) => e instanceof McpError && e.code === -32602);

	// Kill server-everything while a long operation is in flight.
	const everything = childPids(gwPid).filter((p) => cmdline(p).some((a) => a.endsWith("mcp-server-everything")));
	assert.equal(everything.length, 1, `one server-everything among ${childPids(gwPid).map((p) => cmdline(p).join(" "))}`);
	const oldPid = everything[0];
	const longOp = client.callTool({
		name: "everything__trigger-long-running-operation", arguments: { duration: 30, steps: 30 },
	}, undefined, { timeout: 60000 });
	longOp.catch(() => {}); // awaited below
	// The upstream handles requests as they arrive: once an echo sent after it is answered,
	// the long operation is running there.
	assert.equal(textOf(await bounded(client.callTool({ name: "everything__echo", arguments: { message: "sync" } }), "sync echo")), "Echo: sync");
	const killedAt = Date.now();
	process.kill(oldPid, "SIGKILL");
	const err = await bounded(longOp.then(() => null, (e) => e), "the in-flight call to fail", 5000);
	assert.ok(err instanceof McpError, `McpError, got ${err}`);
	assert.equal(err.code, -32011, err.message);
	assert.ok(Date.now() - killedAt < 5000);

	// Recovery: the gateway restarts it. A call made now, while it restarts, waits for it.
	const again = await bounded(client.callTool({ name: "everything__echo", arguments: { message: "again" } },
		undefined, { timeout: 15000 }), "everything__echo after the restart", 15000);
	assert.equal(textOf(again), "Echo: again");
	const restarted = childPids(gwPid).filter((p) => cmdline(p).some((a) => a.endsWith("mcp-server-everything")));
	assert.equal(restarted.length, 1);
	assert.notEqual(restarted[0], oldPid, "a new server-everything process");
	// Memory was untouched by the other provider's crash.
	const graph2 = JSON.parse(textOf(await bounded(client.callTool({ name: "mem__read_graph", arguments: {} }), "read_graph")));
	assert.equal(graph2.entities.length, 1);
	remember();
	everyDescendant.delete(oldPid);

	// Close: the gateway ends on its own (before the SDK's 2 s SIGTERM fallback), leaving nothing.
	const proc = transport._process; // the SDK keeps the ChildProcess here (1.x)
	const closeStarted = Date.now();
	await bounded(client.close(), "client.close", 10000);
	const closeMs = Date.now() - closeStarted;
	assert.ok(closeMs < 1900, `gateway exited ${closeMs} ms after stdin closed (no SIGTERM needed)\n${tail()}`);
	if (proc) assert.deepEqual({ code: proc.exitCode, signal: proc.signalCode }, { code: 0, signal: null }, tail());
	await waitFor(() => startTime(gwPid) === null, { timeout: 3000, what: "gateway gone" });
	await waitFor(() => [...everyDescendant].every(([p, st]) => startTime(p) !== st || st === null),
		{ timeout: 3000, what: `no descendants left of ${[...everyDescendant.keys()]}` });
	assert.match(log, /kernel: stopped/);
});
