// The Streamable HTTP endpoint spoken to over plain HTTP (fetch): the session era
// (initialize, session ids, the GET stream with priming, list_changed, 409, resumption with
// Last-Event-ID, DELETE, expiry, batches of 2025-03-26, version headers) and the stateless
// revision 2026-07-28 (server/discover, resultType, header checks, version errors, GET 405).
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/http-session.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { faulty, killAll, logTail, waitFor, withTimeout } from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg as initializeMsg, startHttpGateway } from "../lib/http.mjs";

const SHORT_IDLE_MS = 500;
let gw;
let url;       // the main endpoint
let shortUrl;  // a second listener whose sessions expire after SHORT_IDLE_MS
const log = () => logTail(gw.stderrText(), 3000);
const bounded = (p, what, ms = 5000) => withTimeout(p, ms, what, log);

before(async () => {
	const started = await startHttpGateway({
		log_level: "debug",
		listen: ["http://127.0.0.1:0/mcp", { url: "http://127.0.0.1:0/short", session_idle_ms: SHORT_IDLE_MS }],
		providers: [faulty("f")],
	}, { timeout: 10000, listed: ["f"] });
	({ gw, urls: [url, shortUrl] } = started);
});

// Cleanup only: t/run-node-test runs a file without --test, where a failing top-level after()
// hook does not fail the run, so the shutdown is checked by the last test instead.
after(() => killAll(gw));

// --- HTTP helpers -------------------------------------------------------------------------

const { post, plain, openStream } = endpointClient(() => url, bounded);

const initMsg = (id, protocolVersion = "2025-11-25") => initializeMsg(id, protocolVersion, "http-session");

async function newSession(protocolVersion = "2025-11-25", to = url) {
	const r = await post(initMsg(1, protocolVersion), { to });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json?.result?.protocolVersion, protocolVersion, r.text);
	const sid = r.headers.get("mcp-session-id");
	assert.match(sid || "", /^[\x21-\x7e]+$/, "a visible-ASCII session id");
	const n = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version: protocolVersion, to });
	assert.equal(n.status, 202, n.text);
	return sid;
}

// A GET stream on the session, retried (bounded) while the gateway has not yet noticed
// that the previous one was closed.
async function reopenStream(opts) {
	let s;
	await waitFor(async () => {
		s = await openStream(opts);
		if (s.status === 409) return false;
		return true;
	}, { timeout: 3000, what: "a GET stream without 409" });
	return s;
}

// --- session era ---------------------------------------------------------------------------

test("initialize, initialized, tools/list and tools/call in a session", async () => {
	const r = await post(initMsg("init-1"));
	assert.equal(r.status, 200, r.text);
	assert.match(r.headers.get("content-type"), /^application\/json/);
	assert.equal(r.json.id, "init-1");
	assert.equal(r.json.result.protocolVersion, "2025-11-25");
	assert.equal(r.json.result.serverInfo.name, "mcpfed");
	assert.equal(r.json.result.capabilities.tools?.listChanged, true, r.text);
	const sid = r.headers.get("mcp-session-id");
	assert.ok(sid, "Mcp-Session-Id on the initialize response");

	const n = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session: sid, version: "2025-11-25" });
	assert.equal(n.status, 202);
	assert.equal(n.text, "", "202 has no body");

	const list = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { session: sid, version: "2025-11-25" });
	assert.equal(list.status, 200, list.text);
	assert.match(list.headers.get("content-type"), /^application\/json/);
	assert.equal(list.headers.get("mcp-session-id"), sid);
	const names = list.json.result.tools.map((t) => t.name);
	for (const n of ["f__echo", "f__sleep", "f__add_tool", "f__pid"]) assert.ok(names.includes(n), `${n} in ${names}`);
	assert.equal(list.json.result.resultType, undefined, "no resultType in the session era");

	const echo = await post(callMsg(3, "f__echo", { text: "héllo" }), { session: sid, version: "2025-11-25" });
	assert.equal(echo.status, 200, echo.text);
	assert.deepEqual(echo.json, { jsonrpc: "2.0", id: 3, result: { content: [{ type: "text", text: "héllo" }] } });

	// Any supported version is accepted in the header, not only the negotiated one.
	const older = await post({ jsonrpc: "2.0", id: 4, method: "tools/list" }, { session: sid, version: "2025-03-26" });
	assert.equal(older.status, 200, older.text);
	// No header at all is fine too (assume 2025-03-26).
	const none = await post({ jsonrpc: "2.0", id: 5, method: "tools/list" }, { session: sid });
	assert.equal(none.status, 200, none.text);
	// A posted response (to nothing the gateway asked) is accepted without a body.
	const resp = await post({ jsonrpc: "2.0", id: "nothing-asked", result: {} }, { session: sid, version: "2025-11-25" });
	assert.equal(resp.status, 202, resp.text);
});

test("MCP-Protocol-Version 1999-01-01 on a session: 400", async () => {
	const sid = await newSession();
	const r = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { session: sid, version: "1999-01-01" });
	assert.equal(r.status, 400, r.text);
	assert.equal(typeof r.json?.error?.code, "number", r.text);
	assert.match(r.json.error.message, /1999-01-01/);
});

test("GET stream: priming event, list_changed, 409 for a second GET, resumption with Last-Event-ID", async (t) => {
	const sid = await newSession();
	const streams = [];
	t.after(() => { for (const s of streams) s.close(); });

	// GET needs Accept: text/event-stream, and a session
	const noAccept = await plain("GET", { session: sid, version: "2025-11-25", headers: { Accept: "application/json" } });
	assert.equal(noAccept.status, 406, noAccept.text);
	const noSession = await plain("GET", { version: "2025-11-25", headers: { Accept: "text/event-stream" } });
	assert.equal(noSession.status, 400, noSession.text);

	const g1 = await openStream({ session: sid });
	streams.push(g1);
	assert.equal(g1.status, 200, g1.text);
	assert.match(g1.headers.get("content-type"), /^text\/event-stream/);
	const priming = await g1.next(3000, "the priming event");
	assert.ok(priming.id, `priming has an id: ${JSON.stringify(priming)}`);
	assert.equal(priming.data, "", "priming has empty data");

	// The upstream's catalog changes: the session hears of it on its GET stream.
	const added = await post(callMsg(2, "f__add_tool", { name: "first_added" }), { session: sid, version: "2025-11-25" });
	assert.equal(added.status, 200, added.text);
	assert.equal(added.json.result.content[0].text, "added first_added");
	const ev1 = await g1.next(5000, "notifications/tools/list_changed");
	assert.equal(ev1.json?.method, "notifications/tools/list_changed", JSON.stringify(ev1));
	assert.ok(ev1.id && ev1.id !== priming.id, `event id ${ev1.id}`);
	// and the new tool is listed
	const list = await post({ jsonrpc: "2.0", id: 3, method: "tools/list" }, { session: sid, version: "2025-11-25" });
	assert.ok(list.json.result.tools.some((x) => x.name === "f__first_added"), list.text);

	// Only one GET stream per session.
	const g2 = await openStream({ session: sid });
	streams.push(g2);
	assert.equal(g2.status, 409, g2.text);
	assert.equal(typeof g2.json?.error?.code, "number", g2.text);

	// Close the stream; a change happens meanwhile; resume after the last event seen.
	g1.close();
	const added2 = await post(callMsg(4, "f__add_tool", { name: "second_added" }), { session: sid, version: "2025-11-25" });
	assert.equal(added2.json?.result?.content?.[0]?.text, "added second_added", added2.text);
	const g3 = await reopenStream({ session: sid, lastEventId: ev1.id });
	streams.push(g3);
	assert.equal(g3.status, 200, g3.text);
	const got = [];
	for (let ev = await g3.next(); ; ev = await g3.next(3000, "the missed list_changed")) {
		got.push(ev);
		if (ev.data) break; // the first event with content
	}
	const missed = got.at(-1);
	assert.equal(missed.json?.method, "notifications/tools/list_changed", JSON.stringify(got));
	assert.notEqual(missed.id, ev1.id, "the event already seen is not replayed");
	assert.ok(got.slice(0, -1).every((e) => e.data === ""), `only priming before it: ${JSON.stringify(got)}`);
	g3.close();

	// Resuming from further back replays both changes, in order: the id is what counts.
	const g4 = await reopenStream({ session: sid, lastEventId: priming.id });
	streams.push(g4);
	assert.equal(g4.status, 200, g4.text);
	const replayed = [];
	while (replayed.length < 2) {
		const ev = await g4.next(3000, "two replayed list_changed events");
		if (ev.data) replayed.push(ev);
	}
	assert.deepEqual(replayed.map((e) => [e.id, e.json.method]),
		[[ev1.id, "notifications/tools/list_changed"], [missed.id, "notifications/tools/list_changed"]]);
	g4.close();
});

test("DELETE ends the session: then 404 for POST, GET and DELETE", async () => {
	const sid = await newSession();
	const d = await plain("DELETE", { session: sid, version: "2025-11-25" });
	assert.equal(d.status, 200, d.text);
	const p = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { session: sid, version: "2025-11-25" });
	assert.equal(p.status, 404, p.text);
	assert.equal(p.json?.id, null, p.text);
	const g = await plain("GET", { session: sid, version: "2025-11-25", headers: { Accept: "text/event-stream" } });
	assert.equal(g.status, 404, g.text);
	const d2 = await plain("DELETE", { session: sid, version: "2025-11-25" });
	assert.equal(d2.status, 404, d2.text);
	// DELETE without a session id
	const d3 = await plain("DELETE", { version: "2025-11-25" });
	assert.equal(d3.status, 400, d3.text);
});

test("an open GET stream ends when its session is deleted", async (t) => {
	const sid = await newSession();
	const g = await openStream({ session: sid });
	t.after(() => g.close());
	assert.equal(g.status, 200);
	assert.equal((await g.next()).data, "");
	assert.equal((await plain("DELETE", { session: sid, version: "2025-11-25" })).status, 200);
	assert.equal(await g.next(3000, "the end of the stream"), null);
});

test(`a session idle for session_idle_ms (${SHORT_IDLE_MS}) expires: 404`, async () => {
	const sid = await newSession("2025-11-25", shortUrl);
	const ok = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { session: sid, version: "2025-11-25", to: shortUrl });
	assert.equal(ok.status, 200, ok.text);
	const lastUse = Date.now();
	// Any request would count as activity, so wait for the gateway to say it expired it.
	await waitFor(() => gw.stderrText().includes(`session expired session=${sid}`),
		{ timeout: SHORT_IDLE_MS + 3000, what: `expiry of session ${sid}` });
	const idle = Date.now() - lastUse;
	assert.ok(idle >= SHORT_IDLE_MS - 50, `expired after ${idle} ms idle`);
	const gone = await post({ jsonrpc: "2.0", id: 3, method: "tools/list" }, { session: sid, version: "2025-11-25", to: shortUrl });
	assert.equal(gone.status, 404, gone.text);
	// the main listener keeps its sessions (its default is 30 minutes)
	const mainSid = await newSession();
	const still = await post({ jsonrpc: "2.0", id: 4, method: "tools/list" }, { session: mainSid, version: "2025-11-25" });
	assert.equal(still.status, 200, still.text);
});

test("a session with an open GET stream does not expire", async (t) => {
	const sid = await newSession("2025-11-25", shortUrl);
	const g = await openStream({ session: sid, to: shortUrl });
	t.after(() => g.close());
	assert.equal(g.status, 200);
	assert.equal((await g.next()).data, "");
	// Another session on the same listener, idle: its expiry proves the sweep ran meanwhile.
	const other = await newSession("2025-11-25", shortUrl);
	await waitFor(() => gw.stderrText().includes(`session expired session=${other}`),
		{ timeout: SHORT_IDLE_MS + 3000, what: `expiry of session ${other}` });
	assert.ok(!gw.stderrText().includes(`session expired session=${sid}`), "the streaming session was kept");
	const r = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { session: sid, version: "2025-11-25", to: shortUrl });
	assert.equal(r.status, 200, r.text);
});

test("a batch on a 2025-03-26 session gets an array of answers", async () => {
	const sid = await newSession("2025-03-26");
	const r = await post([
		callMsg(1, "f__echo", { text: "a" }),
		{ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 999, reason: "nothing" } },
		callMsg("two", "f__echo", { text: "b" }),
		{ jsonrpc: "2.0", id: 3, method: "tools/list" },
	], { session: sid });
	assert.equal(r.status, 200, r.text);
	assert.ok(Array.isArray(r.json), r.text);
	assert.equal(r.json.length, 3, "one answer per request, none for the notification");
	const byId = new Map(r.json.map((a) => [a.id, a]));
	assert.equal(byId.get(1)?.result?.content?.[0]?.text, "a", r.text);
	assert.equal(byId.get("two")?.result?.content?.[0]?.text, "b", r.text);
	assert.ok(byId.get(3)?.result?.tools?.length > 0, r.text);
	// notifications only: 202
	const n = await post([{ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 998 } }], { session: sid });
	assert.equal(n.status, 202, n.text);
});

test("a batch on a 2025-11-25 session: 400 -32600", async () => {
	const sid = await newSession("2025-11-25");
	const r = await post([callMsg(1, "f__echo", { text: "a" }), callMsg(2, "f__echo", { text: "b" })], { session: sid, version: "2025-11-25" });
	assert.equal(r.status, 400, r.text);
	assert.equal(r.json?.error?.code, -32600, r.text);
});

// --- revision 2026-07-28 -------------------------------------------------------------------

const MODERN = "2026-07-28";
const meta = (version = MODERN, extra = {}) => ({
	"io.modelcontextprotocol/protocolVersion": version,
	"io.modelcontextprotocol/clientCapabilities": {},
	"io.modelcontextprotocol/clientInfo": { name: "http-session", version: "1" },
	...extra,
});
const modern = (id, method, params = {}, { version = MODERN, headerVersion = version, mcpMethod = method, mcpName, headers = {} } = {}) => {
	const h = { ...headers };
	if (headerVersion !== null) h["MCP-Protocol-Version"] = headerVersion;
	if (mcpMethod !== null) h["Mcp-Method"] = mcpMethod;
	if (mcpName !== undefined) h["Mcp-Name"] = mcpName;
	return post({ jsonrpc: "2.0", id, method, params: { ...params, _meta: meta(version) } }, { headers: h });
};

test("2026-07-28: server/discover, tools/list and tools/call without a session", async () => {
	const d = await modern("d1", "server/discover");
	assert.equal(d.status, 200, d.text);
	assert.equal(d.headers.get("mcp-session-id"), null, "no session in 2026-07-28");
	const dr = d.json.result;
	assert.ok(dr.supportedVersions.includes(MODERN) && dr.supportedVersions.includes("2025-11-25"), d.text);
	assert.equal(dr.resultType, "complete", d.text);
	assert.equal(dr.capabilities.tools?.listChanged, true, d.text);
	assert.equal(dr._meta?.["io.modelcontextprotocol/serverInfo"]?.name, "mcpfed", d.text);
	assert.equal(typeof dr.ttlMs, "number", d.text);

	const l = await modern(2, "tools/list");
	assert.equal(l.status, 200, l.text);
	assert.equal(l.json.id, 2);
	assert.equal(l.json.result.resultType, "complete", l.text);
	assert.ok(Number.isInteger(l.json.result.ttlMs) && l.json.result.ttlMs >= 0, `ttlMs in ${l.text.slice(0, 300)}`);
	assert.ok(["public", "private"].includes(l.json.result.cacheScope), "cacheScope");
	assert.ok(l.json.result.tools.some((x) => x.name === "f__echo"), l.text);

	const c = await modern(3, "tools/call", { name: "f__echo", arguments: { text: "modern" } }, { mcpName: "f__echo" });
	assert.equal(c.status, 200, c.text);
	assert.equal(c.json.result.resultType, "complete", c.text);
	assert.deepEqual(c.json.result.content, [{ type: "text", text: "modern" }]);

	// a non-ASCII name travels base64-encoded in Mcp-Name; the decoded value is compared
	const enc = `=?base64?${Buffer.from("f__echo").toString("base64")}?=`;
	const c2 = await modern(4, "tools/call", { name: "f__echo", arguments: { text: "enc" } }, { mcpName: enc });
	assert.equal(c2.status, 200, c2.text);
	assert.equal(c2.json.result.content[0].text, "enc");

	// An Mcp-Session-Id sent along is ignored, and none is minted.
	const s = await modern(5, "tools/list", {}, { headers: { "Mcp-Session-Id": "no-such-session" } });
	assert.equal(s.status, 200, s.text);
	assert.equal(s.headers.get("mcp-session-id"), null);
});

test("2026-07-28: header mismatches are 400 -32020", async () => {
	const cases = [
		["Mcp-Method differs", modern(1, "tools/list", {}, { mcpMethod: "prompts/list" })],
		["Mcp-Method missing", modern(2, "tools/list", {}, { mcpMethod: null })],
		["Mcp-Name differs", modern(3, "tools/call", { name: "f__echo", arguments: { text: "x" } }, { mcpName: "f__pid" })],
		["Mcp-Name missing", modern(4, "tools/call", { name: "f__echo", arguments: { text: "x" } })],
		["version header differs from _meta", modern(5, "tools/list", {}, { headerVersion: "2025-11-25" })],
		["version header missing", modern(6, "tools/list", {}, { headerVersion: null })],
	];
	for (const [what, p] of cases) {
		const r = await p;
		assert.equal(r.status, 400, `${what}: ${r.text}`);
		assert.equal(r.json?.error?.code, -32020, `${what}: ${r.text}`);
	}
});

test("2026-07-28: an unsupported version is 400 -32022 with data.supported and data.requested", async () => {
	const r = await modern(1, "tools/list", {}, { version: "2099-01-01" });
	assert.equal(r.status, 400, r.text);
	assert.equal(r.json?.error?.code, -32022, r.text);
	assert.equal(r.json.error.data?.requested, "2099-01-01", r.text);
	assert.ok(r.json.error.data?.supported?.includes(MODERN), r.text);
	assert.equal(r.json.id, 1);
});

test("2026-07-28: missing clientCapabilities is 400 -32602; an unknown method 404 -32601", async () => {
	const noCaps = await post({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: { "io.modelcontextprotocol/protocolVersion": MODERN } } },
		{ headers: { "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list" } });
	assert.equal(noCaps.status, 400, noCaps.text);
	assert.equal(noCaps.json?.error?.code, -32602, noCaps.text);

	const unknown = await modern(2, "foo/bar");
	assert.equal(unknown.status, 404, unknown.text);
	assert.equal(unknown.json?.error?.code, -32601, unknown.text);
	assert.equal(unknown.json.id, 2);
	// ping is gone in 2026-07-28
	const ping = await modern(3, "ping");
	assert.equal(ping.status, 404, ping.text);
	assert.equal(ping.json?.error?.code, -32601, ping.text);
	// an unknown tool is an ordinary JSON-RPC error, not an HTTP one
	const tool = await modern(4, "tools/call", { name: "f__nope", arguments: {} }, { mcpName: "f__nope" });
	assert.equal(tool.status, 200, tool.text);
	assert.equal(tool.json?.error?.code, -32602, tool.text);
});

test("2026-07-28: GET and DELETE are 405", async () => {
	const g = await plain("GET", { version: MODERN, headers: { Accept: "text/event-stream" } });
	assert.equal(g.status, 405, g.text);
	assert.ok(g.headers.get("allow"), "Allow header");
	assert.ok(!/GET/.test(g.headers.get("allow")), `Allow: ${g.headers.get("allow")}`);
	const d = await plain("DELETE", { version: MODERN });
	assert.equal(d.status, 405, d.text);
});

test("2026-07-28: a notification POST is 202", async () => {
	const r = await post({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1, _meta: meta() } },
		{ headers: { "MCP-Protocol-Version": MODERN, "Mcp-Method": "notifications/cancelled" } });
	assert.equal(r.status, 202, r.text);
	assert.equal(r.text, "");
});

test("the gateway shuts down cleanly on SIGTERM, with a GET stream still open", async (t) => {
	const sid = await newSession();
	const g = await openStream({ session: sid });
	t.after(() => g.close());
	assert.equal(g.status, 200);
	assert.equal((await g.next()).data, "");
	gw.kill("SIGTERM");
	assert.equal(await g.next(5000, "the end of the stream at shutdown"), null);
	assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null }, `gateway exit${log()}`);
	assert.match(gw.stderrText(), /info kernel: stopped/);
});
