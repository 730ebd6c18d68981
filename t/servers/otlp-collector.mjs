// An OpenTelemetry collector for tests: OTLP/HTTP with the JSON encoding (POST
// /v1/traces, an ExportTraceServiceRequest), decoded here into a flat list of spans.
// As a module: startCollector() resolves to { url, spans, requests, counts, waitSpans, close,
// hold }; with { keep: false } it only counts (counts.spans, counts.exports, counts.bytes),
// and with { parse: false } it does not even decode (counts.spans stays 0): a collector
// that costs the machine next to nothing, for benchmarks (OTLP_COLLECTOR_PARSE=0 alone).
// Run alone (node otlp-collector.mjs) it prints "otlp-collector listening port=N" on stderr
// and counts what it receives, for benchmarks; OTLP_COLLECTOR_PORT picks the port.
import http from "node:http";
import { pathToFileURL } from "node:url";

// An attribute's value as JSON has it: one of stringValue, intValue (a string), boolValue,
// doubleValue.
const attrValue = (v) => ("stringValue" in v ? v.stringValue : "intValue" in v ? Number(v.intValue)
	: "boolValue" in v ? v.boolValue : "doubleValue" in v ? v.doubleValue : v);

// The spans of one ExportTraceServiceRequest, each with its resource's attributes and its
// own as plain objects.
export function decodeExport(body) {
	const out = [];
	for (const rs of body.resourceSpans ?? []) {
		const resource = Object.fromEntries((rs.resource?.attributes ?? []).map((a) => [a.key, attrValue(a.value)]));
		for (const ss of rs.scopeSpans ?? []) {
			for (const s of ss.spans ?? []) {
				out.push({
					...s, resource, scope: ss.scope?.name,
					attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, attrValue(a.value)])),
				});
			}
		}
	}
	return out;
}

export function startCollector({ port = 0, keep = true, parse = true } = {}) {
	const spans = [];
	const requests = [];
	const counts = { spans: 0, exports: 0, bytes: 0 };
	let held = null; // a promise that delays every answer: a slow collector
	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on("data", (c) => chunks.push(c));
		req.on("end", async () => {
			if (req.method !== "POST" || req.url !== "/v1/traces") {
				res.writeHead(404).end();
				return;
			}
			counts.bytes += chunks.reduce((n, c) => n + c.length, 0);
			if (!parse) {
				counts.exports++;
				res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
				return;
			}
			let body;
			try {
				body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
			} catch {
				res.writeHead(400).end();
				return;
			}
			const got = decodeExport(body);
			counts.spans += got.length;
			counts.exports++;
			if (keep) {
				requests.push({ headers: req.headers, contentType: req.headers["content-type"], body });
				spans.push(...got);
			}
			if (held) await held;
			res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
		});
	});
	return new Promise((resolve) => server.listen(port, "127.0.0.1", () => {
		const url = `http://127.0.0.1:${server.address().port}`;
		resolve({
			url, spans, requests, counts,
			// resolves to the spans once pred(spans) holds, within timeout ms
			async waitSpans(pred, timeout = 10000) {
				const until = Date.now() + timeout;
				while (!pred(spans)) {
					if (Date.now() > until) throw new Error(`the collector did not get the spans expected; it has ${JSON.stringify(spans, null, 1).slice(0, 4000)}`);
					await new Promise((r) => setTimeout(r, 20));
				}
				return spans;
			},
			hold() { let release; held = new Promise((r) => { release = r; }); return () => { held = null; release(); }; },
			close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
		});
	}));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
	const c = await startCollector({ port: Number(process.env.OTLP_COLLECTOR_PORT || 0), keep: false,
		parse: process.env.OTLP_COLLECTOR_PARSE !== "0" });
	process.stderr.write(`otlp-collector listening port=${new URL(c.url).port}\n`);
	const report = () => process.stderr.write(`otlp-collector spans=${c.counts.spans} exports=${c.counts.exports} bytes=${c.counts.bytes}\n`);
	process.on("SIGTERM", () => { report(); process.exit(0); });
}
