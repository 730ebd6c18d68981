// The metrics endpoint (metrics = "http://HOST:PORT/PATH"): its output passes promtool check
// metrics; the counters move as calls are made (requests by method and outcome, tool calls by
// tool, provider and outcome, upstream latency histograms and errors by code, supervision
// restarts, reloads); tool labels are capped at 100 then "other"; /healthz and /readyz (503
// naming a provider with no ready target, unless it is optional); bad requests get their
// status; the configuration refuses an endpoint on an MCP listener's address; and a real
// Prometheus scrapes it (up == 1, mcpfed_ series in its HTTP API).
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins MCPFED_LUA_PATH=lua t/run-node-test t/integration/metrics.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import {
	admin, call, closeAfter, faulty, faultyAfter, logTail, lua, luaConfig, mcpfedBin, scratchDir, startStdio, textOf, waitFor,
	withTimeout, writeConfig,
} from "../lib/harness.mjs";

const examplesDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "etc", "examples");
const tail = (gw) => logTail(gw.stderrText(), 4000);

// mcpfed --stdio with a metrics endpoint on a free port and an admin socket; gw.base is the
// endpoint's http://127.0.0.1:PORT once it logged it.
async function start(t, top, env = {}) {
	const sock = path.join(scratchDir(), "admin.sock");
	const file = luaConfig({ admin: sock, metrics: "http://127.0.0.1:0/metrics", ...top });
	const gw = closeAfter(t, startStdio({ config: file, env }));
	gw.sock = sock;
	gw.file = file;
	const url = await waitFor(() => /info metrics: listening url=(\S+)/.exec(gw.stderrText())?.[1],
		{ timeout: 10000, what: `the metrics endpoint's URL${tail(gw)}` });
	gw.base = new URL(url).origin;
	return gw;
}

const get = async (gw, p, init = {}) => {
	const res = await withTimeout(fetch(`${gw.base}${p}`, init), 10000, `GET ${p}`);
	return { status: res.status, headers: res.headers, text: await res.text() };
};

// The exposition parsed: "name{labels}" -> value, and the TYPE of each family.
function parse(text) {
	const samples = new Map();
	for (const line of text.split("\n")) {
		if (!line || line.startsWith("#")) continue;
		const i = line.lastIndexOf(" ");
		samples.set(line.slice(0, i), Number(line.slice(i + 1)));
	}
	return samples;
}
const sample = (samples, key) => samples.get(key) ?? 0;
async function scrape(gw) {
	const r = await get(gw, "/metrics");
	assert.equal(r.status, 200, r.text);
	assert.match(r.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
	return { text: r.text, samples: parse(r.text) };
}

function promtoolCheck(text) {
	const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 20000 });
	if (r.error) return r.error;
	assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
	assert.equal(`${r.stdout}${r.stderr}`.trim(), "", "no lint complaints");
	return null;
}

test("the counters move as calls are made, and promtool finds the output well formed", async (t) => {
	const gw = await start(t, { providers: [faulty("a", { env: { FAULTY_CACHE_TOOLS: "1" } }), faulty("b")] });
	await gw.initialize();
	const before = (await scrape(gw)).samples;
	for (let i = 0; i < 5; i++) assert.equal(textOf(await call(gw, "a__echo", { text: `x${i}` })), `x${i}`);
	assert.equal((await call(gw, "a__fails")).result.isError, true);
	await call(gw, "b__echo", { text: "y" });
	const unknown = await call(gw, "nosuch__tool");
	assert.ok(unknown.error, "an unknown tool is an error");
	await gw.request("tools/list", {});
	const { text, samples } = await scrape(gw);
	const err = promtoolCheck(text);
	if (err) t.diagnostic(`promtool not run: ${err.message}`);

	const d = (key) => sample(samples, key) - sample(before, key);
	assert.equal(d('mcpfed_tool_calls_total{tool="a__echo",provider="a",outcome="ok"}'), 5, text);
	assert.equal(d('mcpfed_tool_calls_total{tool="a__fails",provider="a",outcome="tool_error"}'), 1);
	assert.equal(d('mcpfed_tool_calls_total{tool="b__echo",provider="b",outcome="ok"}'), 1);
	assert.equal(d('mcpfed_requests_total{method="tools/call",outcome="ok"}'), 7, "tool errors are results");
	assert.equal(d('mcpfed_requests_total{method="tools/call",outcome="error"}'), 1, "the unknown tool");
	assert.ok(d('mcpfed_requests_total{method="tools/list",outcome="ok"}') >= 1);
	assert.equal(d('mcpfed_upstream_call_duration_seconds_count{provider="a",target="a#1"}'), 6);
	assert.equal(d('mcpfed_upstream_call_duration_seconds_bucket{provider="a",target="a#1",le="+Inf"}'), 6);
	assert.equal(d('mcpfed_provider_call_duration_seconds_count{provider="b"}'), 1);
	assert.ok(sample(samples, 'mcpfed_upstream_call_duration_seconds_sum{provider="a",target="a#1"}') > 0);
	assert.equal(sample(samples, 'mcpfed_target_up{provider="a",target="a#1"}'), 1);
	assert.equal(sample(samples, 'mcpfed_breaker_state{provider="a",target="a#1",state="closed"}'), 1);
	assert.equal(sample(samples, 'mcpfed_provider_state{provider="b",state="up"}'), 1);
	assert.equal(sample(samples, 'mcpfed_sessions{transport="stdio",era="session"}'), 1);
	assert.ok(sample(samples, "process_resident_memory_bytes") > 1e6);
	assert.ok(sample(samples, "process_open_fds") > 3);
	assert.ok(samples.has("process_cpu_seconds_total") && samples.has("process_start_time_seconds"));
	assert.equal(sample(samples, "mcpfed_processes"), 2);

	// an upstream lost in flight: an error by code, and a restart of its supervisor
	const died = await call(gw, "a__die");
	assert.ok(died.error, JSON.stringify(died));
	await waitFor(async () => (await call(gw, "a__echo", { text: "back" })).result?.content?.[0]?.text === "back",
		{ timeout: 15000, what: `a back after dying${tail(gw)}` });
	const after = (await scrape(gw)).samples;
	assert.equal(sample(after, `mcpfed_upstream_errors_total{provider="a",code="${died.error.code}"}`), 1, JSON.stringify([...after].filter(([k]) => k.includes("errors"))));
	const restarts = [...after].filter(([k]) => k.startsWith("mcpfed_supervisor_restarts_total{") && k.includes("a")).reduce((n, [, v]) => n + v, 0);
	assert.ok(restarts >= 1, `restarts counted: ${restarts}`);

	// reloads, by outcome, the same figures as the admin socket's
	assert.equal((await admin(gw.sock, "reload config", { timeout: 20000 })).code, 200);
	fs.writeFileSync(gw.file, "return { nosuchkey = true }\n");
	assert.equal((await admin(gw.sock, "reload config", { timeout: 20000 })).code, 409);
	const r = (await scrape(gw)).samples;
	assert.equal(sample(r, 'mcpfed_config_reloads_total{outcome="ok"}'), 1);
	assert.equal(sample(r, 'mcpfed_config_reloads_total{outcome="refused"}'), 1);
	const status = (await admin(gw.sock, "metrics")).body;
	assert.equal(sample(r, "mcpfed_processes"), status.processes);
});

test("a provider removed by a reload takes its series with it; one kept keeps its counts", async (t) => {
	const gw = await start(t, { providers: [faulty("a"), faulty("b")] });
	await gw.initialize();
	assert.equal(textOf(await call(gw, "a__echo", { text: "x" })), "x");
	assert.equal(textOf(await call(gw, "b__echo", { text: "y" })), "y");
	assert.ok((await call(gw, "b__die")).error);
	const before = await scrape(gw);
	assert.equal(sample(before.samples, 'mcpfed_tool_calls_total{tool="b__echo",provider="b",outcome="ok"}'), 1);
	assert.ok(/provider="b"/.test(before.text));
	fs.writeFileSync(gw.file, `return ${lua({ admin: gw.sock, metrics: "http://127.0.0.1:0/metrics", providers: [faulty("a")] })}\n`);
	assert.equal((await admin(gw.sock, "reload config", { timeout: 20000 })).code, 200);
	// b drains, stops and is freed: then nothing of it is exported
	const after = await waitFor(async () => {
		const r = await scrape(gw);
		return !/provider="b"/.test(r.text) && r;
	}, { timeout: 15000, what: `b's series gone${tail(gw)}` });
	assert.equal(sample(after.samples, 'mcpfed_tool_calls_total{tool="a__echo",provider="a",outcome="ok"}'), 1, after.text);
	assert.equal(sample(after.samples, 'mcpfed_upstream_call_duration_seconds_count{provider="a",target="a#1"}'), 1);
	assert.equal(sample(after.samples, 'mcpfed_breaker_state{provider="a",target="a#1",state="closed"}'), 1);
	const err = promtoolCheck(after.text);
	if (err) t.diagnostic(`promtool not run: ${err.message}`);
});

test("tool labels: the first 100 tools have their own, the rest count as other", async (t) => {
	// 26 sql providers of 4 tools each: 104 tools
	const providers = Array.from({ length: 26 }, (_, i) => ({
		name: `p${String(i).padStart(2, "0")}`, transport: "sql", databases: { shop: path.join(examplesDir, "shop.db") },
	}));
	const gw = await start(t, { providers });
	await gw.initialize();
	const tools = (await gw.request("tools/list", {})).result.tools.map((x) => x.name);
	assert.equal(tools.length, 104);
	for (const name of tools) await call(gw, name, {});
	const { text, samples } = await scrape(gw);
	const labels = new Set([...samples.keys()].filter((k) => k.startsWith("mcpfed_tool_calls_total{"))
		.map((k) => /tool="([^"]*)"/.exec(k)[1]));
	assert.equal(labels.size, 101, [...labels].join(" "));
	assert.ok(labels.has("other"));
	const total = [...samples].filter(([k]) => k.startsWith("mcpfed_tool_calls_total{")).reduce((n, [, v]) => n + v, 0);
	assert.equal(total, 104, "every call counted once");
	const other = [...samples].filter(([k]) => k.startsWith('mcpfed_tool_calls_total{tool="other"')).reduce((n, [, v]) => n + v, 0);
	assert.equal(other, 4);
	const err = promtoolCheck(text);
	if (err) t.diagnostic(`promtool not run: ${err.message}`);
});

test("a call that waited for the catalog is counted once, when it is answered", async (t) => {
	// the provider lists its tools half a second late: the call and initialize, sent at
	// once, wait for the catalog and are dispatched again
	const gw = await start(t, { providers: [faultyAfter("slow", "sleep 0.5;")] });
	const [init, echo] = await Promise.all([gw.initialize(), call(gw, "slow__echo", { text: "waited" })]);
	assert.ok(init.protocolVersion ?? init.result?.protocolVersion, JSON.stringify(init));
	assert.equal(textOf(echo), "waited", JSON.stringify(echo));
	const { samples } = await scrape(gw);
	assert.equal(sample(samples, 'mcpfed_requests_total{method="tools/call",outcome="ok"}'), 1);
	assert.equal(sample(samples, 'mcpfed_requests_total{method="initialize",outcome="ok"}'), 1);
	assert.equal(sample(samples, 'mcpfed_tool_calls_total{tool="slow__echo",provider="slow",outcome="ok"}'), 1);
});

test("/healthz, /readyz (optional providers aside), and bad requests answered with their status", async (t) => {
	const gw = await start(t, {
		catalog_wait_ms: 2000,
		providers: [faulty("good"), { name: "broken", transport: "stdio", command: ["/bin/false"], restart: { intensity: 0 } }],
	});
	assert.equal((await get(gw, "/healthz")).status, 200);
	const notReady = await waitFor(async () => {
		const r = await get(gw, "/readyz");
		// once good is up, broken alone holds readiness
		return r.status === 503 && /provider broken has no ready target/.test(r.text) && !/provider good/.test(r.text) && r;
	}, { timeout: 15000, what: "/readyz 503 naming broken alone" });
	assert.match(notReady.text, /^provider broken has no ready target: .*exited with status 1\n$/);
	// marked optional, broken no longer holds readiness
	const sock = gw.sock;
	fs.writeFileSync(gw.file, `return ${lua({
		admin: sock, metrics: "http://127.0.0.1:0/metrics", catalog_wait_ms: 2000,
		providers: [faulty("good"), { name: "broken", transport: "stdio", command: ["/bin/false"], restart: { intensity: 0 }, optional: true }],
	})}\n`);
	assert.equal((await admin(sock, "reload config", { timeout: 20000 })).code, 200);
	const ready = await get(gw, "/readyz");
	assert.equal(ready.status, 200, ready.text);
	assert.equal(ready.text, "ready\n");
	// HEAD: the head alone
	const head = await get(gw, "/metrics", { method: "HEAD" });
	assert.equal(head.status, 200);
	assert.equal(head.text, "");
	assert.equal((await get(gw, "/metrics", { method: "POST", body: "x" })).status, 405);
	assert.equal((await get(gw, "/nowhere")).status, 404);
	assert.equal((await get(gw, "/metrics?x=1")).status, 200, "the query is not the path");
	// raw bytes: a malformed head, one too long, a version not 1.x, one half sent then closed
	const raw = (bytes) => new Promise((resolve, reject) => {
		const port = Number(new URL(gw.base).port);
		const c = net.connect(port, "127.0.0.1", () => c.end(bytes));
		let got = "";
		c.on("data", (d) => { got += d; });
		c.on("end", () => resolve(got));
		c.on("error", reject);
	});
	assert.match(await withTimeout(raw("garbage\r\n\r\n"), 5000, "400"), /^HTTP\/1\.1 400 /);
	assert.match(await withTimeout(raw(`GET /metrics HTTP/1.1\r\nX: ${"a".repeat(9000)}\r\n\r\n`), 5000, "431"), /^HTTP\/1\.1 431 /);
	assert.match(await withTimeout(raw("GET /metrics HTTP/2.0\r\n\r\n"), 5000, "505"), /^HTTP\/1\.1 505 /);
	assert.equal(await withTimeout(raw("GET /metr"), 5000, "a half request closed"), "");
	assert.equal((await get(gw, "/healthz")).status, 200, "still serving");
});

test("the configuration: an http:// URL of its own, never an MCP listener's address", () => {
	const check = (top) => spawnSync(mcpfedBin(), ["--check", "-c", luaConfig(top)], { encoding: "utf8", timeout: 20000 });
	let r = check({ listen: ["http://127.0.0.1:18808/mcp"], metrics: "http://127.0.0.1:18808/metrics" });
	assert.equal(r.status, 1);
	assert.match(r.stderr, /metrics: http:\/\/127\.0\.0\.1:18808\/metrics: the address of listen\[1\]; the metrics endpoint is never served on an MCP listener/);
	r = check({ listen: ["http://0.0.0.0:18808/mcp"], metrics: "http://127.0.0.1:18808/metrics" });
	assert.equal(r.status, 1, "a wildcard listener holds every address's port");
	r = check({ metrics: "https://127.0.0.1:9808/metrics" });
	assert.match(r.stderr, /metrics: https:\/\/127\.0\.0\.1:9808\/metrics: expected http:\/\//);
	r = check({ metrics: "http://example.com:9808/metrics" });
	assert.match(r.stderr, /the host must be an IP address/);
	r = check({ metrics: "http://[::1]:9808/metrics", listen: ["http://127.0.0.1:18808/mcp"] });
	assert.equal(r.status, 0, r.stderr);
	assert.match(r.stdout, /\nmcpfed: metrics: http:\/\/\[::1\]:9808\/metrics\n$/);
	// the embedded default serves metrics on loopback, not with --stdio
	r = spawnSync(mcpfedBin(), ["--check"], { encoding: "utf8", timeout: 20000 });
	assert.match(r.stdout, /\nmcpfed: metrics: http:\/\/127\.0\.0\.1:9808\/metrics\n$/);
	r = spawnSync(mcpfedBin(), ["--check", "--stdio"], { encoding: "utf8", timeout: 20000 });
	assert.doesNotMatch(r.stdout, /metrics/);
});

const freePort = () => new Promise((resolve, reject) => {
	const s = net.createServer();
	s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
	s.on("error", reject);
});

test("a real Prometheus scrapes it: up == 1 and mcpfed_ series in its HTTP API", async (t) => {
	if (spawnSync("prometheus", ["--version"]).error) return t.skip("prometheus is not installed");
	const gw = await start(t, { providers: [faulty("a")] });
	await gw.initialize();
	await call(gw, "a__echo", { text: "scraped" });
	const dir = scratchDir();
	const target = new URL(gw.base).host;
	fs.writeFileSync(path.join(dir, "prometheus.yml"), `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: mcpfed
    metrics_path: /metrics
    static_configs:
      - targets: ["${target}"]
`);
	const port = await freePort();
	const prom = spawn("prometheus", [`--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`,
		`--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], { stdio: ["ignore", "ignore", "pipe"] });
	let promLog = "";
	prom.stderr.on("data", (d) => { promLog += d; });
	const exited = new Promise((resolve) => prom.on("exit", resolve));
	t.after(async () => {
		prom.kill("SIGTERM");
		await withTimeout(exited, 10000, "prometheus exit").catch(() => prom.kill("SIGKILL"));
	});
	const query = async (q) => {
		const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
		return (await res.json()).data?.result ?? [];
	};
	const up = await waitFor(async () => {
		try {
			const r = await query('up{job="mcpfed"}');
			return r.length === 1 && r[0].value[1] === "1" && r;
		} catch { return false; }
	}, { timeout: 30000, interval: 250, what: `up{job="mcpfed"} == 1 in Prometheus\n${promLog.slice(-2000)}` });
	assert.equal(up[0].metric.instance, target);
	const calls = await waitFor(async () => {
		const r = await query('mcpfed_tool_calls_total{tool="a__echo",outcome="ok"}');
		return r.length === 1 && r;
	}, { timeout: 10000, interval: 250, what: "mcpfed_tool_calls_total in Prometheus" });
	assert.equal(calls[0].value[1], "1");
	const series = await query('count({__name__=~"mcpfed_.+"})');
	assert.ok(Number(series[0].value[1]) > 20, `mcpfed_ series: ${JSON.stringify(series)}`);
});
