// The status page on the metrics endpoint: /status is one self-contained HTML page (no
// external script, style, font or link), /status.json holds what the admin commands show
// (the configuration's providers and their targets, breakers, latency, supervision,
// plugins); HEAD answers without a body; and a real headless browser (chromium) renders
// the page from /status.json, then shows a breaker forced open on the admin socket.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/status-page.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
	admin, closeAfter, faulty, logTail, luaConfig, scratchDir, startStdio, waitFor, withTimeout,
} from "../lib/harness.mjs";

const tail = (gw) => logTail(gw.stderrText(), 4000);
const chromium = "/usr/bin/chromium";

async function start(t) {
	const sock = path.join(scratchDir(), "admin.sock");
	const file = luaConfig({ admin: sock, metrics: "http://127.0.0.1:0/metrics", providers: [faulty("alpha"), faulty("beta")] });
	const gw = closeAfter(t, startStdio({ config: file }));
	gw.sock = sock;
	const url = await waitFor(() => /info metrics: listening url=(\S+)/.exec(gw.stderrText())?.[1],
		{ timeout: 10000, what: `the metrics endpoint's URL${tail(gw)}` });
	gw.base = new URL(url).origin;
	await gw.initialize();
	return gw;
}

const get = async (gw, p, init = {}) => {
	const res = await withTimeout(fetch(`${gw.base}${p}`, init), 10000, `${init.method ?? "GET"} ${p}`);
	return { status: res.status, headers: res.headers, text: await res.text() };
};

// The DOM chromium holds after running the page's script for a few (virtual) seconds.
function dumpDom(url) {
	const profile = fs.mkdtempSync(path.join(scratchDir(), "chromium-"));
	const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--disable-extensions", `--user-data-dir=${profile}`, "--virtual-time-budget=3000", "--dump-dom", url];
	return new Promise((resolve, reject) => {
		const p = spawn(chromium, args, { stdio: ["ignore", "pipe", "pipe"] });
		let out = "", err = "";
		p.stdout.on("data", (d) => { out += d; });
		p.stderr.on("data", (d) => { err += d; });
		const timer = setTimeout(() => p.kill("SIGKILL"), 30000);
		p.on("error", (e) => { clearTimeout(timer); reject(e); });
		p.on("close", (code, signal) => {
			clearTimeout(timer);
			fs.rmSync(profile, { recursive: true, force: true });
			if (code !== 0) reject(new Error(`chromium exited ${code ?? signal}: ${err.slice(-2000)}`));
			else resolve(out);
		});
	});
}

test("/status is one self-contained page and /status.json the admin commands' figures", async (t) => {
	const gw = await start(t);
	const page = await get(gw, "/status");
	assert.equal(page.status, 200);
	assert.match(page.headers.get("content-type"), /^text\/html/);
	assert.match(page.text, /^<!DOCTYPE html>/);
	assert.doesNotMatch(page.text, /src\s*=\s*["']?(https?:)?\/\//i, "no external script or image");
	assert.doesNotMatch(page.text, /<link\b/i, "no external style or font");
	assert.doesNotMatch(page.text, /https?:\/\//i, "no absolute URL at all");
	assert.doesNotMatch(page.text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, "data goes in as text");
	assert.match(page.text, /fetch\("status\.json"/, "it polls the relative URL");

	const head = await get(gw, "/status", { method: "HEAD" });
	assert.equal(head.status, 200);
	assert.equal(head.text, "");
	assert.equal(Number(head.headers.get("content-length")), Buffer.byteLength(page.text));

	const js = await get(gw, "/status.json");
	assert.equal(js.status, 200);
	assert.match(js.headers.get("content-type"), /^application\/json/);
	const doc = JSON.parse(js.text);
	assert.deepEqual(doc.providers.providers.map((p) => p.name), ["alpha", "beta"]);
	assert.deepEqual(doc.targets.targets.map((x) => x.name), ["alpha#1", "beta#1"]);
	for (const x of doc.targets.targets) {
		assert.equal(x.breaker, "closed");
		assert.equal(typeof x.p50_ms, "number");
		assert.equal(typeof x.p99_ms, "number");
	}
	assert.equal(doc.status.providers, 2);
	assert.equal(typeof doc.status.calls_in_flight, "number");
	assert.ok(Array.isArray(doc.supervision.supervisors), js.text);
	assert.ok(doc.plugins.plugins.some((p) => p.name === "stdio" && p.generation >= 1), js.text);
	// the same figures as the admin socket's
	const viaAdmin = (await admin(gw.sock, "targets")).body.targets.map((x) => [x.name, x.calls, x.breaker]);
	assert.deepEqual(doc.targets.targets.map((x) => [x.name, x.calls, x.breaker]), viaAdmin);

	const jsHead = await get(gw, "/status.json", { method: "HEAD" });
	assert.equal(jsHead.status, 200);
	assert.equal(jsHead.text, "");
	assert.equal((await get(gw, "/status.json", { method: "POST" })).status, 405);
	assert.equal((await get(gw, "/status/other")).status, 404);
});

test("a headless browser renders the providers, then a breaker forced open", { skip: !fs.existsSync(chromium) && `${chromium} is not installed` }, async (t) => {
	const gw = await start(t);
	const url = `${gw.base}/status`;
	const first = await dumpDom(url);
	for (const name of ["alpha", "beta"])
		assert.match(first, new RegExp(`<tr data-provider="${name}" data-target="${name}#1" data-breaker="closed">`), first);
	assert.match(first, /<td>stdio<\/td>/, "the plugins table is filled");
	assert.doesNotMatch(first, /<span id="conn" class="bad">/, "the page reached /status.json");
	assert.match(first, /<b id="providers-up">2 \/ 2<\/b>/);

	const forced = await admin(gw.sock, "breaker beta#1 open");
	assert.equal(forced.code, 200, JSON.stringify(forced.body));
	assert.equal(forced.body.breaker, "forced_open");
	let dom = "";
	await waitFor(async () => {
		dom = await dumpDom(url);
		return /data-target="beta#1" data-breaker="forced_open"/.test(dom);
	}, { timeout: 60000, interval: 100, what: `beta#1's breaker shown open in the page` });
	assert.match(dom, /data-target="alpha#1" data-breaker="closed"/, "the other target's breaker is still closed");
});
