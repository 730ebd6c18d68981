// An OpenTelemetry collector for tests: OTLP/HTTP (POST /v1/traces, an
// ExportTraceServiceRequest) in either encoding, protobuf (application/x-protobuf) or JSON
// (application/json), checked against the official OpenTelemetry encoders and decoded here
// into a flat list of spans.
// Each export is read into the SDK's span records and written again by the
// JsonTraceSerializer of @opentelemetry/otlp-transformer; what was received must be that
// output (up to what the OTLP JSON mapping lets a sender omit: default values, int64 as a
// string or a number), with valid hex ids and times. A protobuf export is first decoded by
// the wire-format reader below into the JSON mapping (every field number and wire type
// checked against the OTLP messages, strings checked as UTF-8, nothing left over), and the
// same records written by the ProtobufTraceSerializer must decode to the same messages. An
// export that is not is answered 400 and kept in rejects, and waitSpans fails at once on
// it, so a malformed export fails the test that caused it.
// As a module: startCollector() resolves to { url, spans, requests, rejects, counts,
// waitSpans, close, hold } (each of requests: { headers, contentType, body: the export decoded,
// length: its bytes }); with { keep: false } it only counts (counts.spans,
// counts.exports, counts.rejected, counts.bytes), and with { parse: false } it does not even
// decode (counts.spans stays 0): a collector that costs the machine next to nothing, for
// benchmarks (OTLP_COLLECTOR_PARSE=0 alone).
// Run alone (node otlp-collector.mjs) it prints "otlp-collector listening port=N" on stderr
// and counts what it receives, for benchmarks; OTLP_COLLECTOR_PORT picks the port.
import http from "node:http";
import { isDeepStrictEqual } from "node:util";
import { pathToFileURL } from "node:url";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";

class Malformed extends Error {}
const need = (ok, what) => { if (!ok) throw new Malformed(what); };
const arr = (v, what) => { need(v === undefined || Array.isArray(v), `${what} is not an array`); return v ?? []; };

// An AnyValue as the SDK holds it (int64 in JSON is a decimal string or a number).
function anyValue(v, what) {
	need(v && typeof v === "object" && !Array.isArray(v), `${what}: not an AnyValue`);
	const keys = Object.keys(v);
	need(keys.length <= 1, `${what}: more than one value in ${JSON.stringify(v)}`);
	if ("stringValue" in v) { need(typeof v.stringValue === "string", `${what}: stringValue`); return v.stringValue; }
	if ("boolValue" in v) { need(typeof v.boolValue === "boolean", `${what}: boolValue`); return v.boolValue; }
	if ("intValue" in v) {
		need(Number.isSafeInteger(v.intValue) || (typeof v.intValue === "string" && /^-?\d+$/.test(v.intValue)
			&& Number.isSafeInteger(Number(v.intValue))), `${what}: intValue ${JSON.stringify(v.intValue)}`);
		return Number(v.intValue);
	}
	if ("doubleValue" in v) { need(typeof v.doubleValue === "number", `${what}: doubleValue`); return v.doubleValue; }
	if ("arrayValue" in v) return arr(v.arrayValue?.values, `${what}.arrayValue`).map((x, i) => anyValue(x, `${what}[${i}]`));
	if ("kvlistValue" in v) return attrs(v.kvlistValue?.values, `${what}.kvlistValue`);
	need(keys.length === 0, `${what}: unknown value ${keys[0]}`);
	return undefined;
}

function attrs(list, what) {
	const out = {};
	for (const [i, a] of arr(list, what).entries()) {
		need(a && typeof a.key === "string" && !(a.key in out), `${what}[${i}]: a key missing or repeated`);
		out[a.key] = anyValue(a.value ?? {}, `${what}.${a.key}`);
	}
	return out;
}

const id = (v, bytes, what) => {
	need(typeof v === "string" && new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(v) && !/^0+$/.test(v),
		`${what}: not ${bytes} bytes of lower-case hex, not all zero: ${JSON.stringify(v)}`);
	return v;
};
const count = (v, what) => { need(v === undefined || (Number.isInteger(v) && v >= 0), `${what}: not a count`); return v ?? 0; };
const u32 = (v, what) => { need(v === undefined || (Number.isInteger(v) && v >= 0 && v < 2 ** 32), `${what}: not a uint32`); return v ?? 0; };
// fixed64 nanoseconds since the epoch as [seconds, nanoseconds]
function hrTime(v, what) {
	need((typeof v === "string" && /^\d+$/.test(v)) || Number.isSafeInteger(v), `${what}: not a time in ns: ${JSON.stringify(v)}`);
	const ns = BigInt(v);
	need(ns > 0n && ns < 2n ** 64n, `${what}: out of range`);
	return [Number(ns / 1000000000n), Number(ns % 1000000000n)];
}
const context = (traceId, spanId, flags, what) => {
	flags = u32(flags, `${what}.flags`);
	return { traceId: id(traceId, 16, `${what}.traceId`), spanId: id(spanId, 8, `${what}.spanId`),
		traceFlags: flags & 0xff, isRemote: (flags & 0x200) !== 0 };
};

// The export as the SDK's ReadableSpan records.
function readableSpans(body) {
	need(body && typeof body === "object" && !Array.isArray(body), "not an ExportTraceServiceRequest");
	const out = [];
	for (const [r, rs] of arr(body.resourceSpans, "resourceSpans").entries()) {
		const resource = { attributes: attrs(rs.resource?.attributes, `resourceSpans[${r}].resource`), schemaUrl: rs.resource?.schemaUrl };
		for (const [g, ss] of arr(rs.scopeSpans, `resourceSpans[${r}].scopeSpans`).entries()) {
			const scope = { name: ss.scope?.name ?? "", version: ss.scope?.version, schemaUrl: ss.schemaUrl,
				attributes: attrs(ss.scope?.attributes, "scope") };
			for (const [k, s] of arr(ss.spans, `scopeSpans[${g}].spans`).entries()) {
				const w = `span ${k} (${JSON.stringify(s?.name)})`;
				need(s && typeof s.name === "string" && s.name !== "", `${w}: no name`);
				need(s.kind === undefined || (Number.isInteger(s.kind) && s.kind >= 0 && s.kind <= 5), `${w}: kind ${JSON.stringify(s.kind)}`);
				need(s.status === undefined || (Number.isInteger(s.status.code ?? 0) && (s.status.code ?? 0) >= 0 && (s.status.code ?? 0) <= 2),
					`${w}: status ${JSON.stringify(s.status)}`);
				const ctx = context(s.traceId, s.spanId, s.flags, w);
				const [startTime, endTime] = [hrTime(s.startTimeUnixNano, `${w}.startTimeUnixNano`), hrTime(s.endTimeUnixNano, `${w}.endTimeUnixNano`)];
				need(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), `${w}: ends before it starts`);
				out.push({
					name: s.name, kind: s.kind ? s.kind - 1 : undefined,
					spanContext: () => ({ ...ctx, traceState: s.traceState ? { serialize: () => s.traceState } : undefined }),
					parentSpanContext: s.parentSpanId === undefined || s.parentSpanId === "" ? undefined
						: { spanId: id(s.parentSpanId, 8, `${w}.parentSpanId`), isRemote: ctx.isRemote },
					startTime, endTime, attributes: attrs(s.attributes, `${w}.attributes`),
					droppedAttributesCount: count(s.droppedAttributesCount, w), droppedEventsCount: count(s.droppedEventsCount, w),
					droppedLinksCount: count(s.droppedLinksCount, w),
					status: { code: s.status?.code ?? 0, message: s.status?.message },
					events: arr(s.events, `${w}.events`).map((e) => ({ name: e.name, time: hrTime(e.timeUnixNano, `${w} event`),
						attributes: attrs(e.attributes, `${w} event`), droppedAttributesCount: count(e.droppedAttributesCount, w) })),
					links: arr(s.links, `${w}.links`).map((l) => {
						const lc = context(l.traceId, l.spanId, l.flags, `${w} link`);
						return { context: { ...lc, traceState: l.traceState ? { serialize: () => l.traceState } : undefined },
							attributes: attrs(l.attributes, `${w} link`), droppedAttributesCount: count(l.droppedAttributesCount, w) };
					}),
					resource, instrumentationScope: scope,
				});
			}
		}
	}
	return out;
}

// What the OTLP JSON mapping lets a sender leave out or spell either way: fields at their
// default value, and int64 values as a number or a string; flags the SDK always sets
// (HAS_IS_REMOTE) that a sender may omit.
function canonical(v, key) {
	if (Array.isArray(v)) { const a = v.map((x) => canonical(x)); return a.length ? a : undefined; }
	if (v && typeof v === "object") {
		const o = {};
		for (const [k, x] of Object.entries(v)) {
			const c = canonical(x, k);
			if (c !== undefined) o[k] = c;
		}
		return Object.keys(o).length ? o : undefined;
	}
	if (key === "intValue") return String(v);
	if (key === "flags") return (v & ~0x100) || undefined;
	return v === 0 || v === "" || v === false || v === null ? undefined : v;
}

// --- the protobuf encoding -----------------------------------------------------------------

// The OTLP messages as field number -> [JSON name, type, repeated]; a type is a message (an
// object) or one of the scalar kinds below, each with the wire type it must come in.
const KeyValue = {};
const AnyValue = {};
const ArrayValue = { 1: ["values", AnyValue, true] };
const KeyValueList = { 1: ["values", KeyValue, true] };
Object.assign(AnyValue, { 1: ["stringValue", "string"], 2: ["boolValue", "bool"], 3: ["intValue", "int64"],
	4: ["doubleValue", "double"], 5: ["arrayValue", ArrayValue], 6: ["kvlistValue", KeyValueList], 7: ["bytesValue", "base64"] });
Object.assign(KeyValue, { 1: ["key", "string"], 2: ["value", AnyValue] });
const attributes = (n) => ({ [n]: ["attributes", KeyValue, true] });
const Status = { 2: ["message", "string"], 3: ["code", "enum"] };
const SpanEvent = { 1: ["timeUnixNano", "fixed64"], 2: ["name", "string"], ...attributes(3), 4: ["droppedAttributesCount", "uint32"] };
const SpanLink = { 1: ["traceId", "hex"], 2: ["spanId", "hex"], 3: ["traceState", "string"], ...attributes(4),
	5: ["droppedAttributesCount", "uint32"], 6: ["flags", "fixed32"] };
const Span = { 1: ["traceId", "hex"], 2: ["spanId", "hex"], 3: ["traceState", "string"], 4: ["parentSpanId", "hex"],
	5: ["name", "string"], 6: ["kind", "enum"], 7: ["startTimeUnixNano", "fixed64"], 8: ["endTimeUnixNano", "fixed64"],
	...attributes(9), 10: ["droppedAttributesCount", "uint32"], 11: ["events", SpanEvent, true],
	12: ["droppedEventsCount", "uint32"], 13: ["links", SpanLink, true], 14: ["droppedLinksCount", "uint32"],
	15: ["status", Status], 16: ["flags", "fixed32"] };
const Scope = { 1: ["name", "string"], 2: ["version", "string"], ...attributes(3), 4: ["droppedAttributesCount", "uint32"] };
const ScopeSpans = { 1: ["scope", Scope], 2: ["spans", Span, true], 3: ["schemaUrl", "string"] };
const Resource = { ...attributes(1), 2: ["droppedAttributesCount", "uint32"] };
const ResourceSpans = { 1: ["resource", Resource], 2: ["scopeSpans", ScopeSpans, true], 3: ["schemaUrl", "string"] };
const ExportTraceServiceRequest = { 1: ["resourceSpans", ResourceSpans, true] };
const wireOf = { string: 2, hex: 2, base64: 2, bool: 0, int64: 0, enum: 0, uint32: 0, fixed64: 1, double: 1, fixed32: 5 };
const utf8 = new TextDecoder("utf-8", { fatal: true });

// The message of type `schema` in buf, in the OTLP JSON mapping.
function decodeMessage(buf, schema, what) {
	const out = {};
	let i = 0;
	const varint = () => {
		let v = 0n;
		for (let shift = 0n; ; shift += 7n) {
			need(i < buf.length, `${what}: a varint runs past the end`);
			need(shift < 70n, `${what}: a varint longer than ten bytes`);
			const b = buf[i++];
			v |= BigInt(b & 0x7f) << shift;
			if (!(b & 0x80)) return v & 0xffffffffffffffffn;
		}
	};
	const take = (n) => { need(i + n <= buf.length, `${what}: a field runs past the end`); const b = buf.subarray(i, i + n); i += n; return b; };
	while (i < buf.length) {
		const tag = varint(), field = Number(tag >> 3n), wire = Number(tag & 7n);
		const spec = schema[field];
		need(spec, `${what}: unknown field ${field}`);
		const [name, type, repeated] = spec;
		const nested = typeof type === "object";
		need(wire === (nested ? 2 : wireOf[type]), `${what}.${name}: wire type ${wire}`);
		let v;
		if (nested) v = decodeMessage(take(Number(varint())), type, `${what}.${name}`);
		else if (wire === 0) {
			const n = varint();
			v = type === "bool" ? n !== 0n : type === "int64" ? BigInt.asIntN(64, n).toString() : Number(n);
			if (type === "uint32" || type === "enum") need(n < 2n ** 32n, `${what}.${name}: out of range`);
		} else if (wire === 1) {
			const b = Buffer.from(take(8));
			v = type === "double" ? b.readDoubleLE(0) : b.readBigUInt64LE(0).toString();
		} else if (wire === 5) v = Buffer.from(take(4)).readUInt32LE(0);
		else {
			const b = take(Number(varint()));
			if (type === "string") {
				try { v = utf8.decode(b); } catch { throw new Malformed(`${what}.${name}: not UTF-8`); }
			} else v = Buffer.from(b).toString(type === "hex" ? "hex" : "base64");
		}
		if (repeated) (out[name] ??= []).push(v);
		else out[name] = v;   // a repeated scalar field: the last one wins, as protobuf says
	}
	return out;
}

export function decodeProtobuf(bytes) {
	return decodeMessage(Buffer.from(bytes), ExportTraceServiceRequest, "ExportTraceServiceRequest");
}

// Checks one ExportTraceServiceRequest (throws Malformed) and returns its spans, each with
// its resource's attributes and its own as plain objects.
// A protobuf export (protobuf true) was decoded into body by decodeProtobuf.
export function decodeExport(body, protobuf = false) {
	const records = readableSpans(body);
	const official = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(records)));
	if (!isDeepStrictEqual(canonical(official), canonical(body))) {
		throw new Malformed(`not what the OpenTelemetry encoder writes for the same spans:\n  got  ${JSON.stringify(canonical(body))}\n  want ${JSON.stringify(canonical(official))}`);
	}
	if (protobuf) {
		const wire = decodeProtobuf(ProtobufTraceSerializer.serializeRequest(records));
		if (!isDeepStrictEqual(canonical(wire), canonical(body))) {
			throw new Malformed(`not what the OpenTelemetry protobuf encoder writes for the same spans:\n  got  ${JSON.stringify(canonical(body))}\n  want ${JSON.stringify(canonical(wire))}`);
		}
	}
	const sent = body.resourceSpans.flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []));
	return records.map((r, i) => ({ ...sent[i], resource: r.resource.attributes, scope: r.instrumentationScope.name, attributes: r.attributes }));
}

export function startCollector({ port = 0, keep = true, parse = true } = {}) {
	const spans = [];
	const requests = [];
	const rejects = []; // { error, body } of each export answered 400
	const counts = { spans: 0, exports: 0, rejected: 0, bytes: 0 };
	let held = null; // a promise that delays every answer: a slow collector
	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on("data", (c) => chunks.push(c));
		req.on("end", async () => {
			if (req.method !== "POST" || req.url !== "/v1/traces") {
				res.writeHead(404).end();
				return;
			}
			const length = chunks.reduce((n, c) => n + c.length, 0);
			counts.bytes += length;
			if (!parse) {
				counts.exports++;
				res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
				return;
			}
			const type = (req.headers["content-type"] ?? "").split(";")[0].trim();
			if (type !== "application/json" && type !== "application/x-protobuf") {
				counts.rejected++;
				if (keep) rejects.push({ error: `content type ${JSON.stringify(type)}` });
				res.writeHead(415).end();
				return;
			}
			let body, got;
			try {
				const bytes = Buffer.concat(chunks);
				body = type === "application/json" ? JSON.parse(utf8.decode(bytes)) : decodeProtobuf(bytes);
				got = decodeExport(body, type !== "application/json");
			} catch (e) {
				if (!(e instanceof SyntaxError || e instanceof TypeError || e instanceof Malformed)) throw e;
				counts.rejected++;
				if (keep) rejects.push({ error: e.message, body });
				res.writeHead(400, { "Content-Type": "application/json" }).end(JSON.stringify({ code: 3, message: e.message }));
				return;
			}
			counts.spans += got.length;
			counts.exports++;
			if (keep) {
				requests.push({ headers: req.headers, contentType: req.headers["content-type"], body, length });
				spans.push(...got);
			}
			if (held) await held;
			res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
		});
	});
	return new Promise((resolve) => server.listen(port, "127.0.0.1", () => {
		const url = `http://127.0.0.1:${server.address().port}`;
		resolve({
			url, spans, requests, rejects, counts,
			// resolves to the spans once pred(spans) holds, within timeout ms
			async waitSpans(pred, timeout = 10000) {
				const until = Date.now() + timeout;
				while (!pred(spans)) {
					if (rejects.length) throw new Error(`the collector refused an export: ${rejects[0].error}`);
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
	const report = () => process.stderr.write(`otlp-collector spans=${c.counts.spans} exports=${c.counts.exports} rejected=${c.counts.rejected} bytes=${c.counts.bytes}\n`);
	process.on("SIGTERM", () => { report(); process.exit(0); });
}
