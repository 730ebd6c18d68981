// The gateway's own pagination of tools/list, prompts/list, resources/list and
// resources/templates/list: page_size = 3 over two faulty providers (one of which pages its
// own tools/list), every item exactly once in configuration order, and cursors the gateway
// did not mint, of another list, or minted before the list changed refused with -32602.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/pagination.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
	assertOnlyJsonRpc, call, faulty, killAll, logTail, luaConfig, nodeBin, serverPath, startProcess, startStdio, textOf, waitFor,
} from "../lib/harness.mjs";

const PAGE = 3;
const envA = { FAULTY_FEATURES: "1", FAULTY_NAME: "a", FAULTY_PAGE_SIZE: "4" };
const envB = { FAULTY_FEATURES: "1", FAULTY_NAME: "b", FAULTY_TOOL_COUNT: "2" };
const LISTS = {
	"tools/list": { key: "tools", id: "name" },
	"prompts/list": { key: "prompts", id: "name" },
	"resources/list": { key: "resources", id: "uri" },
	"resources/templates/list": { key: "resourceTemplates", id: "uriTemplate" },
};

let gw;
const log = () => logTail(gw?.stderrText(), 3000);
const upstream = {}; // env name -> { method -> names in the upstream's own order }

// Every item of method's list straight from an upstream faulty (no gateway), following its pages.
async function upstreamLists(env) {
	const p = startProcess([nodeBin(), serverPath("faulty.mjs")], env);
	try {
		await p.initialize();
		const out = {};
		for (const [method, { key, id }] of Object.entries(LISTS)) {
			out[method] = [];
			let cursor;
			for (let i = 0; i < 50; i++) {
				const res = await p.request(method, cursor ? { cursor } : {});
				assert.ok(res.result, JSON.stringify(res));
				out[method].push(...res.result[key].map((x) => x[id]));
				cursor = res.result.nextCursor;
				if (!cursor) break;
			}
		}
		return out;
	} finally {
		await p.close();
	}
}

// The gateway's pages of method: [{ items, nextCursor }], checked to be at most PAGE long
// and full but for the last.
async function pages(method, { start } = {}) {
	const { key, id } = LISTS[method];
	const out = [];
	let cursor = start;
	for (let i = 0; i < 50; i++) {
		const res = await gw.request(method, cursor === undefined ? {} : { cursor });
		assert.ok(res.result, `${method} ${cursor ?? ""}: ${JSON.stringify(res)}${log()}`);
		const items = res.result[key].map((x) => x[id]);
		out.push({ items, nextCursor: res.result.nextCursor });
		cursor = res.result.nextCursor;
		if (cursor === undefined) break;
		assert.equal(typeof cursor, "string", `${method}: nextCursor is a string`);
		assert.equal(items.length, PAGE, `${method}: a page followed by another is full`);
	}
	assert.equal(cursor, undefined, `${method} ended`);
	assert.ok(out.at(-1).items.length <= PAGE && (out.length === 1 || out.at(-1).items.length > 0));
	return out;
}
const all = (ps) => ps.flatMap((p) => p.items);

// The -32602 a request with cursor gets; the message checked against re.
async function refused(method, cursor, re) {
	const res = await gw.request(method, { cursor });
	assert.equal(res.error?.code, -32602, `${method} with cursor ${JSON.stringify(cursor)}: ${JSON.stringify(res)}`);
	assert.match(res.error.message, re);
	return res.error;
}

before(async () => {
	upstream.a = await upstreamLists(envA);
	upstream.b = await upstreamLists(envB);
	gw = startStdio({
		config: luaConfig({
			log_level: "debug", page_size: PAGE,
			providers: [faulty("a", { env: envA }), faulty("b", { env: envB })],
		}),
	});
	await gw.initialize();
});

after(() => killAll(gw));

test("every list pages through each item exactly once, in configuration order", async () => {
	assert.ok(upstream.a["tools/list"].length > 2 * PAGE, "enough tools for several pages");
	const expected = {
		"tools/list": [...upstream.a["tools/list"].map((n) => `a__${n}`), ...upstream.b["tools/list"].map((n) => `b__${n}`)],
		"prompts/list": [...upstream.a["prompts/list"].map((n) => `a__${n}`), ...upstream.b["prompts/list"].map((n) => `b__${n}`)],
		"resources/list": [...upstream.a["resources/list"].map((u) => `a+${u}`), ...upstream.b["resources/list"].map((u) => `b+${u}`)],
		"resources/templates/list": [...upstream.a["resources/templates/list"].map((u) => `a+${u}`), ...upstream.b["resources/templates/list"].map((u) => `b+${u}`)],
	};
	assert.deepEqual(expected["prompts/list"], ["a__greet", "a__plain", "b__greet", "b__plain"]);
	assert.equal(expected["resources/list"].length, 8);
	assert.deepEqual(expected["resources/templates/list"], ["a+faulty://item/{id}", "b+faulty://item/{id}"]);
	for (const [method, want] of Object.entries(expected)) {
		const ps = await pages(method);
		assert.deepEqual(all(ps), want, method);
		assert.equal(ps.length, Math.max(1, Math.ceil(want.length / PAGE)), `${method}: ${ps.length} pages`);
	}
	// the upstream's own paging (a: 4 a page) is followed, and hidden: its cursors are not ours
	assert.match(gw.stderrText(), new RegExp(`listed provider=a list=tools items=${upstream.a["tools/list"].length} pages=${Math.ceil(upstream.a["tools/list"].length / 4)}`));
	const first = await gw.request("tools/list", {});
	assert.doesNotMatch(first.result.nextCursor, /^ZmF1bHR5/, "not an upstream's cursor (base64url of faulty:N)");
	// a page's items are usable as they are
	const listed = all(await pages("tools/list"));
	assert.ok(listed.includes("b__t0002"));
	assert.equal(textOf(await call(gw, "b__t0002")), "t0002");
	// a cursor can be used again, by anyone, while the list stays the same
	const again = await gw.request("tools/list", { cursor: first.result.nextCursor });
	const again2 = await gw.request("tools/list", { cursor: first.result.nextCursor });
	assert.deepEqual(again2.result, again.result);
	assert.deepEqual(again.result.tools.map((x) => x.name), expected["tools/list"].slice(PAGE, 2 * PAGE));
});

test("made-up and altered cursors are refused with -32602", async () => {
	const made = /invalid cursor: not a cursor this server gave out/;
	for (const method of Object.keys(LISTS)) await refused(method, "bogus", made);
	await refused("tools/list", "", made);
	// an upstream's cursor is not passed through
	await refused("tools/list", Buffer.from("faulty:4").toString("base64url"), made);
	const real = (await gw.request("resources/list", {})).result.nextCursor;
	// any change to a real cursor: a character flipped, cut short, lengthened
	const last = real.at(-1);
	await refused("resources/list", real.slice(0, -1) + (last === "0" ? "1" : "0"), made);
	await refused("resources/list", real.slice(0, -1), made);
	await refused("resources/list", real + "0", made);
	// not a string at all
	const res = await gw.request("tools/list", { cursor: 3 });
	assert.equal(res.error?.code, -32602, JSON.stringify(res));
	// the real one still works
	assert.ok((await gw.request("resources/list", { cursor: real })).result);
});

test("a cursor of another list is refused with -32602", async () => {
	const toolsCursor = (await gw.request("tools/list", {})).result.nextCursor;
	const promptsCursor = (await gw.request("prompts/list", {})).result.nextCursor;
	const resCursor = (await gw.request("resources/list", {})).result.nextCursor;
	assert.ok(toolsCursor && promptsCursor && resCursor);
	const other = /invalid cursor: .*another list/;
	await refused("prompts/list", toolsCursor, other);
	await refused("resources/list", toolsCursor, other);
	await refused("tools/list", promptsCursor, other);
	await refused("resources/templates/list", resCursor, other);
	await refused("tools/list", resCursor, other);
});

test("a list_changed that changes nothing: cursors stay good, no client is told", async () => {
	for (const [list, method] of [["tools", "tools/list"], ["prompts", "prompts/list"], ["resources", "resources/list"]]) {
		const cursor = (await gw.request(method, {})).result.nextCursor;
		assert.ok(cursor, `${method} has a second page`);
		// resources/list_changed has both resources and templates listed again
		const keys = list === "resources" ? ["resources", "resourceTemplates"] : [list];
		const listed = () => keys.map((k) => (gw.stderrText().match(new RegExp(`registry: listed provider=a list=${k} `, "g")) || []).length);
		const n = listed();
		assert.equal(textOf(await call(gw, "a__announce", { list })), `announced ${list}`);
		await waitFor(() => listed().every((c, i) => c > n[i]), { timeout: 5000, what: `a's ${keys} listed again${log()}` });
		// (a list_changed to clients would have been written before the answer to this)
		const res = await gw.request(method, { cursor });
		assert.ok(res.result, `${method}: the cursor is still good: ${JSON.stringify(res)}`);
		assert.deepEqual(gw.unconsumed().filter((m) => m.method === `notifications/${list}/list_changed`), [], `no ${list}/list_changed`);
	}
});

test("a cursor minted before its list changed is refused; other lists' cursors stay good", async () => {
	const t1 = await gw.request("tools/list", {});
	const staleTools = t1.result.nextCursor;
	const p1 = await gw.request("prompts/list", {});
	const promptsCursor = p1.result.nextCursor;
	const before = all(await pages("tools/list"));

	// between pages, provider a gets a new tool: tools/list_changed, and a new catalog
	assert.equal(textOf(await call(gw, "a__add_tool", { name: "late" })), "added late");
	await gw.next("notifications/tools/list_changed", { timeout: 5000, what: `tools/list_changed${log()}` });
	await refused("tools/list", staleTools, /invalid cursor: the list changed since this cursor was given out; list again from the start/);
	// the prompts did not change: their cursor goes on
	const p2 = await gw.request("prompts/list", { cursor: promptsCursor });
	assert.deepEqual(p2.result?.prompts.map((x) => x.name), ["b__plain"], JSON.stringify(p2));

	// from the start again: the new tool once, at the end of a's tools, before b's
	const after1 = all(await pages("tools/list"));
	const aCount = upstream.a["tools/list"].length;
	assert.deepEqual(after1, [...before.slice(0, aCount), "a__late", ...before.slice(aCount)]);
	assert.equal(textOf(await call(gw, "a__late")), "late");

	// a cursor minted after the change is good
	const fresh = (await gw.request("tools/list", {})).result.nextCursor;
	assert.notEqual(fresh, staleTools);
	assert.deepEqual((await gw.request("tools/list", { cursor: fresh })).result.tools.map((x) => x.name), after1.slice(PAGE, 2 * PAGE));

	// prompts and resources the same way, each change leaving the other lists' cursors good
	const stale = /invalid cursor: the list changed since this cursor was given out; list again from the start/;
	const promptsBefore = (await gw.request("prompts/list", {})).result.nextCursor;
	const resBefore = (await gw.request("resources/list", {})).result.nextCursor;
	assert.equal(textOf(await call(gw, "b__add_prompt", { name: "late_prompt" })), "added late_prompt");
	await gw.next("notifications/prompts/list_changed", { timeout: 5000, what: `prompts/list_changed${log()}` });
	await refused("prompts/list", promptsBefore, stale);
	assert.ok((await gw.request("resources/list", { cursor: resBefore })).result, "the resources did not change");
	assert.ok((await gw.request("tools/list", { cursor: fresh })).result, "nor the tools");
	assert.deepEqual(all(await pages("prompts/list")), ["a__greet", "a__plain", "b__greet", "b__plain", "b__late_prompt"]);

	const promptsAfter = (await gw.request("prompts/list", {})).result.nextCursor;
	assert.equal(textOf(await call(gw, "a__add_resource", { name: "late" })), "added faulty://added/late");
	await gw.next("notifications/resources/list_changed", { timeout: 5000, what: `resources/list_changed${log()}` });
	await refused("resources/list", resBefore, stale);
	assert.ok((await gw.request("prompts/list", { cursor: promptsAfter })).result, "the prompts did not change");
	const resAfter = all(await pages("resources/list"));
	const aRes = upstream.a["resources/list"].length;
	assert.equal(resAfter.length, 9);
	assert.deepEqual(resAfter.slice(aRes - 1, aRes + 2), [`a+${upstream.a["resources/list"].at(-1)}`, "a+faulty://added/late", `b+${upstream.b["resources/list"][0]}`]);
	assertOnlyJsonRpc(gw);
	assert.deepEqual(await gw.close(), { code: 0, signal: null }, log());
});
