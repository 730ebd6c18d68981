// Interop: subscriptions/listen (revision 2026-07-28) through mcpfed, and resource
// subscriptions across the two eras. Upstreams: listen-http.mjs (2.x SDK, stateless: its
// updates come through a subscriptions/listen mcpfed opens) and conformance.mjs (1.x SDK
// over stdio, session era: mcpfed subscribes with resources/subscribe; its watched resource
// changes 100 ms after each subscribe). Clients: the 2.x SDK pinned to 2026-07-28 (listen)
// and the 1.x SDK (resources/subscribe). Also one listen upstream for a provider with two
// 2026-07-28 replicas (urls), moved when its replica dies, and the rest of the stateless
// era's requests other than tools: resources, prompts, completion.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport as ModernStdioTransport } from "@modelcontextprotocol/client/stdio";
import path from "node:path";
import {
	admin, killAll, logTail, luaConfig, mcpfedBin, nodeBin, scratchDir, serverPath, startProcess, waitFor, withTimeout,
} from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";

const SID = "io.modelcontextprotocol/subscriptionId";
const A = "m+note://a", B = "m+note://b", WATCHED = "test://watched-resource";

async function startListenServer(t) {
	const up = startProcess([nodeBin(), serverPath("listen-http.mjs")]);
	t.after(() => killAll(up));
	const m = await waitFor(() => /listen-http listening port=(\d+)/.exec(up.stderrText()),
		{ timeout: 10000, what: "listen-http listening" });
	return { up, url: `http://127.0.0.1:${m[1]}/mcp` };
}

const providers = (upUrl) => [
	{ name: "m", transport: "http", url: upUrl },
	{ name: "conf", transport: "stdio", command: [nodeBin(), serverPath("conformance.mjs")], prefix: false },
];

// listen-http and conformance federated by an HTTP gateway that has listed both; bounded()
// and until() say what the gateway logged when they time out.
async function startAll(t, top = {}) {
	const { up, url: upUrl } = await startListenServer(t);
	const { gw, urls: [url] } = await startHttpGateway({ listen: ["http://127.0.0.1:0/mcp"], providers: providers(upUrl), ...top },
		{ listed: ["m", "conf"] });
	t.after(() => killAll(gw));
	const bounded = (p, what) => withTimeout(p, 15000, what, () => logTail(gw.stderrText()));
	const until = (fn, what) => waitFor(fn, { timeout: 10000, what })
		.catch((e) => { throw new Error(`${e.message}${logTail(gw.stderrText())}`); });
	return { up, gw, url, bounded, until };
}

// A 2.x client pinned to 2026-07-28 that records the notifications it gets, in order.
function modernClient(name) {
	const c = new ModernClient({ name, version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
	c.got = [];
	for (const method of ["notifications/resources/updated", "notifications/tools/list_changed",
		"notifications/prompts/list_changed", "notifications/resources/list_changed"])
		c.setNotificationHandler(method, (n) => { c.got.push({ method, params: n.params }); });
	c.updates = (uri) => c.got.filter((n) => n.method === "notifications/resources/updated" && n.params.uri === uri);
	return c;
}

const lastListenFilter = (up) => {
	const all = [...up.stderrText().matchAll(/listen-http listen (.*)/g)];
	return all.length ? JSON.parse(all[all.length - 1][1]) : null;
};

test("subscriptions/listen through mcpfed: acknowledged, delivered, isolated, released", async (t) => {
	const { up, gw, url, bounded, until } = await startAll(t);
	assert.match(gw.stderrText(), /http: upstream ready provider=m .*era=stateless/);

	const a = modernClient("a");
	await bounded(a.connect(new ModernTransport(new URL(url))), "a connects");
	assert.equal(a.getProtocolEra(), "modern");
	const b = modernClient("b");
	await bounded(b.connect(new ModernTransport(new URL(url))), "b connects");

	// a listens to the tool list, and a resource of each era's upstream
	const la = await bounded(a.listen({ toolsListChanged: true, resourceSubscriptions: [A, WATCHED] }), "a listens");
	assert.deepEqual(la.honoredFilter, { toolsListChanged: true, resourceSubscriptions: [A, WATCHED] });
	// the session-era upstream was subscribed and changed its resource: a hears of it
	await until(() => a.updates(WATCHED).length === 1, "a's update of the session-era upstream's resource");
	// the stateless upstream was asked, in its own listen, for the upstream URI
	await until(() => lastListenFilter(up)?.resourceSubscriptions?.includes("note://a"), "mcpfed's listen upstream names note://a");
	assert.equal(lastListenFilter(up).toolsListChanged, true, "mcpfed listens for the upstream's list changes too");

	// b listens to note://b only, and to no list
	const lb = await bounded(b.listen({ resourceSubscriptions: [B] }), "b listens");
	assert.deepEqual(lb.honoredFilter, { resourceSubscriptions: [B] });
	await until(() => lastListenFilter(up)?.resourceSubscriptions?.includes("note://b"), "mcpfed's listen upstream names note://b");

	const touch = (uri) => bounded(a.callTool({ name: "m__touch", arguments: { uri } }), `touch ${uri}`);
	await touch("note://a");
	await until(() => a.updates(A).length === 1, "a's update of note://a");
	await touch("note://b");
	await until(() => b.updates(B).length === 1, "b's update of note://b");
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(a.updates(B).length, 0, "a never hears of b's resource");
	assert.equal(b.updates(A).length + b.updates(WATCHED).length, 0, "b never hears of a's resources");

	// every notification on a listen carries its subscription id, and the public URI
	const sidA = a.updates(A)[0].params._meta?.[SID];
	assert.equal(typeof sidA, "string", JSON.stringify(a.updates(A)[0]));
	assert.equal(a.updates(WATCHED)[0].params._meta?.[SID], sidA, "both of a's resources come on a's listen");
	const sidB = b.updates(B)[0].params._meta?.[SID];
	assert.equal(typeof sidB, "string");

	// a second listen of a, on note://b: its updates carry that listen's id, not the first's
	const la2 = await bounded(a.listen({ resourceSubscriptions: [B] }), "a listens again");
	assert.deepEqual(la2.honoredFilter, { resourceSubscriptions: [B] });
	await touch("note://b");
	await until(() => a.updates(B).length === 1 && b.updates(B).length === 2, "note://b's second update, to a's second listen and b");
	const sidA2 = a.updates(B)[0].params._meta?.[SID];
	assert.notEqual(sidA2, sidA, "a's second listen has an id of its own");

	// the catalog changes: a (toolsListChanged) hears of it, b (no lists) does not
	assert.equal((await bounded(a.callTool({ name: "m__grow", arguments: {} }), "grow")).content[0].text, "grown");
	await until(() => a.got.some((n) => n.method === "notifications/tools/list_changed"), "a's tools/list_changed");
	const changed = a.got.find((n) => n.method === "notifications/tools/list_changed");
	assert.equal(changed.params?._meta?.[SID], sidA, "on the listen that asked for it");
	const grown = await bounded(a.callTool({ name: "m__extra", arguments: {} }), "the new tool");
	assert.equal(grown.content[0].text, "extra");
	const tools = await bounded(b.listTools(), "b lists tools");
	assert.ok(tools.tools.some((x) => x.name === "m__extra"), "mcpfed listed the upstream again");
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(b.got.filter((n) => n.method !== "notifications/resources/updated").length, 0, "b asked for no list");
	assert.equal(a.got.filter((n) => n.method === "notifications/tools/list_changed").length, 1, "once, on the one listen that asked");

	// closing a's first listen releases note://a upstream; the rest stays
	await la.close();
	assert.equal(await la.closed, "local");
	await until(() => {
		const f = lastListenFilter(up);
		return f && !f.resourceSubscriptions?.includes("note://a") && f.resourceSubscriptions?.includes("note://b");
	}, "mcpfed's listen upstream without note://a");
	await touch("note://a");
	await touch("note://b");
	await until(() => a.updates(B).length === 2 && b.updates(B).length === 3, "note://b's third update");
	assert.equal(a.updates(A).length, 1, "no update after the listen closed");

	// b goes away without a word: its connection closes, its listen ends with it
	await lb.close();
	await la2.close();
	await until(() => {
		const f = lastListenFilter(up);
		return f && !f.resourceSubscriptions;
	}, "mcpfed's listen upstream with no resource left");
	await a.close();
	await b.close();
	assert.doesNotMatch(gw.stderrText(), /ERROR/);
});

test("resource subscriptions across eras: a session-era client, a stateless upstream", async (t) => {
	const { up, url, bounded, until } = await startAll(t);

	const legacy = new Client({ name: "legacy", version: "1" });
	const updated = [];
	legacy.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updated.push(n.params); });
	await bounded(legacy.connect(new StreamableHTTPClientTransport(new URL(url))), "legacy connects");
	await bounded(legacy.subscribeResource({ uri: A }), "subscribe note://a");
	await until(() => lastListenFilter(up)?.resourceSubscriptions?.includes("note://a"), "mcpfed's listen upstream names note://a");
	await bounded(legacy.callTool({ name: "m__touch", arguments: { uri: "note://a" } }), "touch");
	await until(() => updated.length === 1, "the session-era client's update");
	assert.deepEqual(updated[0], { uri: A }, "the public URI, and no listen id of anyone");
	const read = await bounded(legacy.readResource({ uri: A }), "read note://a");
	assert.equal(read.contents[0].text, "a v2");
	await bounded(legacy.unsubscribeResource({ uri: A }), "unsubscribe");
	await until(() => !lastListenFilter(up)?.resourceSubscriptions, "mcpfed's listen upstream without note://a");
	await legacy.close();
});

test("a reload of the http plugin keeps listens and subscriptions, downstream and upstream", async (t) => {
	const sock = path.join(scratchDir(), "admin.sock");
	const { up, gw, url, bounded, until } = await startAll(t, { admin: sock });
	await until(() => admin(sock, "plugins").then((r) => r.code === 200), "the admin socket");
	const a = modernClient("a");
	await bounded(a.connect(new ModernTransport(new URL(url))), "a connects");
	const la = await bounded(a.listen({ resourceSubscriptions: [A] }), "a listens");
	const legacy = new Client({ name: "legacy", version: "1" });
	const updated = [];
	legacy.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updated.push(n.params); });
	await bounded(legacy.connect(new StreamableHTTPClientTransport(new URL(url))), "legacy connects");
	await bounded(legacy.subscribeResource({ uri: B }), "subscribe note://b");
	const both = () => ["note://a", "note://b"].every((u) => lastListenFilter(up)?.resourceSubscriptions?.includes(u));
	await until(both, "mcpfed's listen upstream with both notes");
	const listens = () => (up.stderrText().match(/listen-http listen /g) || []).length;
	const before = listens();

	const r = await bounded(admin(sock, "reload http", { timeout: 15000 }), "reload http");
	assert.equal(r.code, 200, JSON.stringify(r.body));
	assert.equal(r.body.outcome, "swapped", JSON.stringify(r.body));
	// the successor opened its own listen upstream, for the same resources
	await until(() => listens() > before && both(), "the successor's listen upstream");

	await bounded(a.callTool({ name: "m__touch", arguments: { uri: "note://a" } }), "touch a");
	await bounded(a.callTool({ name: "m__touch", arguments: { uri: "note://b" } }), "touch b");
	await until(() => a.updates(A).length === 1 && updated.length === 1, "both updates after the reload");
	assert.deepEqual(updated[0], { uri: B });
	// and what is released after the reload is released upstream
	await bounded(legacy.unsubscribeResource({ uri: B }), "unsubscribe note://b");
	await la.close();
	await until(() => !lastListenFilter(up)?.resourceSubscriptions, "mcpfed's listen upstream with no resource left");
	await legacy.close();
	await a.close();
});

test("replicas of a 2026-07-28 upstream: one listen for the provider, moved when its replica dies", async (t) => {
	const servers = [await startListenServer(t), await startListenServer(t)];
	const { gw, urls: [url] } = await startHttpGateway({ listen: ["http://127.0.0.1:0/mcp"],
		providers: [{ name: "m", transport: "http", urls: servers.map((s) => s.url) }] }, { listed: ["m"] });
	t.after(() => killAll(gw));
	const bounded = (p, what) => withTimeout(p, 15000, what, () => logTail(gw.stderrText()));
	const until = (fn, what) => waitFor(fn, { timeout: 10000, what })
		.catch((e) => { throw new Error(`${e.message}${logTail(gw.stderrText())}`); });
	const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
	await until(() => (gw.stderrText().match(/http: upstream ready provider=m .*era=stateless/g) || []).length === 2,
		"both replicas ready");
	const listens = (s, re = /./) => s.up.stderrText().split("\n").filter((l) => l.startsWith("listen-http listen ") && re.test(l)).length;
	const naming = (s) => listens(s, /"note:\/\/a"/);
	// an update made behind the gateway, as a replica of a shared service would publish it
	const touchOn = async (s) => {
		const direct = new ModernClient({ name: "backend", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
		await bounded(direct.connect(new ModernTransport(new URL(s.url))), "a client of the upstream itself");
		await bounded(direct.callTool({ name: "touch", arguments: { uri: "note://a" } }), "touch note://a upstream");
		await direct.close();
	};

	const c = modernClient("c");
	await bounded(c.connect(new ModernTransport(new URL(url))), "connect");
	const l = await bounded(c.listen({ resourceSubscriptions: [A] }), "listen");
	assert.deepEqual(l.honoredFilter, { resourceSubscriptions: [A] });
	await until(() => servers.some((s) => naming(s) === 1), "mcpfed's listen upstream names note://a");
	await sleep(300);
	const carrier = servers.find((s) => naming(s) === 1);
	const other = servers.find((s) => s !== carrier);
	assert.equal(listens(other), 0, "one listen for the provider: none on the other replica");
	assert.equal(naming(carrier), 1);

	// both replicas publish the update: the client hears of it once, not once per replica
	await touchOn(carrier);
	await touchOn(other);
	await until(() => c.updates(A).length >= 1, "the update");
	await sleep(500);
	assert.equal(c.updates(A).length, 1, JSON.stringify(c.got));
	const sid = c.updates(A)[0].params._meta?.[SID];
	assert.equal(typeof sid, "string");

	// the replica carrying the listen dies: the listen is opened on the other, for the same set
	await killAll(carrier.up);
	await until(() => naming(other) === 1, "mcpfed's listen moved to the other replica");
	await sleep(300);
	assert.equal(listens(other), 1, "opened there once");
	await touchOn(other);
	await until(() => c.updates(A).length >= 2, "the update after the replica died");
	await sleep(500);
	assert.equal(c.updates(A).length, 2, JSON.stringify(c.got));
	assert.equal(c.updates(A)[1].params._meta?.[SID], sid, "on the client's same listen");
	await l.close();
	await c.close();
	assert.doesNotMatch(gw.stderrText(), /ERROR/);
});

test("a listen ends with its result when the gateway shuts down", async (t) => {
	const { gw, url, bounded } = await startAll(t);
	const c = modernClient("c");
	await bounded(c.connect(new ModernTransport(new URL(url))), "connect");
	const l = await bounded(c.listen({ toolsListChanged: true, resourceSubscriptions: [A] }), "listen");
	gw.kill("SIGTERM");
	assert.equal(await bounded(l.closed, "the listen's end"), "graceful");
	await gw.waitExit(10000);
	assert.match(gw.stderrText(), /listen: ended for shutdown listens=1/);
	await c.close();
});

test("subscriptions/listen over stdio: delivered, cancelled, and no obstacle to ending", async (t) => {
	const { up, url: upUrl } = await startListenServer(t);
	const cfg = luaConfig({ providers: providers(upUrl) });
	const env = { PATH: process.env.PATH, HOME: process.env.HOME || "/tmp" };
	for (const k of ["MCPFED_PLUGIN_PATH", "MCPFED_LUA_PATH"]) if (process.env[k]) env[k] = process.env[k];
	const transport = new ModernStdioTransport({ command: mcpfedBin(), args: ["--stdio", "-c", cfg], env, stderr: "pipe" });
	let log = "";
	transport.stderr.on("data", (d) => { log += d; });
	const c = modernClient("stdio");
	const bounded = (p, what) => withTimeout(p, 15000, what, () => logTail(log));
	await bounded(c.connect(transport), "connect over stdio");
	assert.equal(c.getProtocolEra(), "modern");
	const pid = transport.pid;
	t.after(() => { try { process.kill(pid, "SIGKILL"); } catch { /* gone */ } });
	const l1 = await bounded(c.listen({ resourceSubscriptions: [A] }), "listen 1");
	const l2 = await bounded(c.listen({ resourceSubscriptions: [B, WATCHED] }), "listen 2");
	assert.deepEqual(l2.honoredFilter, { resourceSubscriptions: [B, WATCHED] });
	await waitFor(() => c.updates(WATCHED).length === 1, { timeout: 10000, what: "the watched resource's update" });
	await waitFor(() => ["note://a", "note://b"].every((u) => lastListenFilter(up)?.resourceSubscriptions?.includes(u)),
		{ timeout: 10000, what: "mcpfed's listen upstream with both notes" }).catch((e) => { throw new Error(`${e.message}${logTail(log)}${logTail(up.stderrText())}`); });
	await bounded(c.callTool({ name: "m__touch", arguments: { uri: "note://a" } }), "touch a");
	await bounded(c.callTool({ name: "m__touch", arguments: { uri: "note://b" } }), "touch b");
	await waitFor(() => c.updates(A).length === 1 && c.updates(B).length === 1, { timeout: 10000, what: "both updates" });
	assert.notEqual(c.updates(A)[0].params._meta[SID], c.updates(B)[0].params._meta[SID], "each on its own listen");
	// notifications/cancelled ends listen 1 and releases note://a
	await l1.close();
	await waitFor(() => {
		const f = lastListenFilter(up);
		return f && !f.resourceSubscriptions?.includes("note://a") && f.resourceSubscriptions?.includes("note://b");
	}, { timeout: 10000, what: "mcpfed's listen upstream without note://a" });
	await bounded(c.callTool({ name: "m__touch", arguments: { uri: "note://a" } }), "touch a again");
	await new Promise((r) => setTimeout(r, 300));
	assert.equal(c.updates(A).length, 1, "nothing more on a cancelled listen");
	// listen 2 is still open: closing stdin still ends mcpfed, and listen 2 gracefully
	await transport.close();
	await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } },
		{ timeout: 10000, what: "mcpfed exits after stdin closes" });
	assert.match(log, /listen: ended for shutdown listens=1/);
});

test("the stateless era beyond tools: resources, prompts, completion through mcpfed", async (t) => {
	const { url, bounded } = await startAll(t);
	const c = modernClient("all");
	await bounded(c.connect(new ModernTransport(new URL(url))), "connect");
	assert.equal(c.getProtocolEra(), "modern");

	const resources = await bounded(c.listResources(), "resources/list");
	const uris = resources.resources.map((r) => r.uri);
	for (const u of [A, B, "test://static-text", WATCHED]) assert.ok(uris.includes(u), `${u} in ${uris}`);
	const templates = await bounded(c.listResourceTemplates(), "resources/templates/list");
	assert.ok(templates.resourceTemplates.some((x) => x.uriTemplate === "test://template/{id}/data"));

	const ra = await bounded(c.readResource({ uri: A }), "read note://a");
	assert.deepEqual(ra.contents, [{ uri: A, mimeType: "text/plain", text: "a v1" }], "the stateless upstream's, under its public URI");
	const rs = await bounded(c.readResource({ uri: "test://static-text" }), "read static-text");
	assert.equal(rs.contents[0].uri, "test://static-text");
	assert.equal(typeof rs.contents[0].text, "string");
	const rt = await bounded(c.readResource({ uri: "test://template/123/data" }), "read a templated resource");
	assert.match(rt.contents[0].text, /123/);
	await assert.rejects(bounded(c.readResource({ uri: "m+note://none" }), "read an unknown resource"),
		(e) => e.code === -32602, "2026-07-28 says -32602 for a resource not found");

	const prompts = await bounded(c.listPrompts(), "prompts/list");
	const names = prompts.prompts.map((p) => p.name);
	for (const n of ["m__greet", "test_prompt_with_arguments"]) assert.ok(names.includes(n), `${n} in ${names}`);
	const g = await bounded(c.getPrompt({ name: "m__greet", arguments: { name: "Ada" } }), "prompts/get m__greet");
	assert.equal(g.messages[0].content.text, "Hello, Ada!");
	const g2 = await bounded(c.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "x1", arg2: "y2" } }),
		"prompts/get of the session-era upstream");
	assert.match(JSON.stringify(g2.messages), /x1/);
	assert.match(JSON.stringify(g2.messages), /y2/);

	const comp = await bounded(c.complete({ ref: { type: "ref/prompt", name: "m__greet" }, argument: { name: "name", value: "a" } }),
		"completion/complete of the stateless upstream");
	assert.deepEqual(comp.completion.values, ["ada", "alan"]);
	const comp2 = await bounded(c.complete({ ref: { type: "ref/prompt", name: "test_prompt_with_arguments" },
		argument: { name: "arg1", value: "" } }), "completion/complete of the session-era upstream");
	assert.ok(Array.isArray(comp2.completion.values));
	await c.close();
});
