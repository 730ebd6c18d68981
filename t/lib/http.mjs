// Helpers for the tests of mcpfed's Streamable HTTP listener: start a gateway that listens,
// JSON-RPC messages to post, and SSE event blocks.
import { logTail, luaConfig, mcpfedBin, nodeBin, serverPath, startProcess, waitFor } from "./harness.mjs";

export const ACCEPT_BOTH = "application/json, text/event-stream";

export const initMsg = (id = 1, protocolVersion = "2025-11-25", clientName = "harness") => ({
	jsonrpc: "2.0", id, method: "initialize",
	params: { protocolVersion, capabilities: {}, clientInfo: { name: clientName, version: "1" } },
});
export const callMsg = (id, name, args = {}) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });

// One SSE event block (the text between blank lines, "\n" line ends): its id, event, data
// and retry fields, only those present; comment lines are skipped, data lines joined.
export function parseSseEvent(block) {
	const ev = {};
	for (const line of block.split("\n")) {
		if (line.startsWith(":")) continue;
		const i = line.indexOf(":");
		const k = i < 0 ? line : line.slice(0, i);
		const v = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
		if (k === "data") ev.data = ev.data === undefined ? v : `${ev.data}\n${v}`;
		else if (k === "id" || k === "event" || k === "retry") ev[k] = v;
	}
	return ev;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// The URL a listener configured as `configured` logged in "... info http: listening url=URL"
// (port 0 stands for any port), or undefined while it has not.
function listeningUrl(log, configured) {
	const [before, after] = configured.split(":0/");
	const re = new RegExp(after === undefined ? `^${escapeRe(configured)}$` : `^${escapeRe(before)}:\\d+/${escapeRe(after)}$`);
	return [...log.matchAll(/ info http: listening url=(\S+)/g)].map((m) => m[1]).find((u) => re.test(u));
}

// Start mcpfed (not --stdio) with the configuration made of top (lua()) and wait, up to
// timeout ms, until every listener in top.listen has logged its URL; then, up to listedTimeout
// ms each, until every provider named in listed has listed its tools. Resolves to
// { gw, urls, config }: the startProcess handle, the listeners' real URLs in top.listen's
// order, and the configuration file (in a directory of its own, removed at exit).
// A failure to come up kills the gateway and says what its log holds.
export async function startHttpGateway(top, { timeout = 10000, listed = [], listedTimeout = timeout } = {}) {
	const config = luaConfig(top);
	const gw = startProcess([mcpfedBin(), "-c", config]);
	const configured = top.listen.map((l) => (typeof l === "string" ? l : l.url));
	try {
		const urls = await waitFor(() => {
			const found = configured.map((c) => listeningUrl(gw.stderrText(), c));
			return found.every(Boolean) && found;
		}, { timeout, what: `the listening lines of ${configured.join(", ")}` });
		for (const p of listed) {
			await waitFor(() => new RegExp(`registry: listed provider=${p} list=tools `).test(gw.stderrText()),
				{ timeout: listedTimeout, what: `the tools of provider ${p}` });
		}
		return { gw, urls, config };
	} catch (e) {
		gw.kill("SIGKILL");
		throw new Error(`${e.message}${logTail(gw.stderrText(), 4000)}`);
	}
}

// fetch helpers for one MCP endpoint: urlOf() is its URL (read at each request, so a test
// may set it in before()), bounded(promise, what, ms) bounds each wait. Every helper takes
// { session, version, headers, to } (to: another URL).
//   post(msg): POST one JSON-RPC message or batch, read whole: {status, headers, text, json}
//   plain(method): the same without a body (GET, DELETE)
//   openStream({ session, version, lastEventId, to, headers }): a GET stream: status, headers
//     and next(ms, what) for its SSE events ({id, event, data, json}; null once it ended); an
//     answer other than 200 is read whole instead; close() drops it either way.
//   sseOf(res): next() over the SSE body of a fetch Response already made.
export function endpointClient(urlOf, bounded) {
	const sessionHeaders = (h, session, version) => {
		if (session) h["Mcp-Session-Id"] = session;
		if (version) h["MCP-Protocol-Version"] = version;
		return h;
	};
	const answer = async (res) => {
		const text = await bounded(res.text(), "a response body");
		let json;
		try { json = JSON.parse(text); } catch {}
		return { status: res.status, headers: res.headers, text, json };
	};
	const sseOf = (res, ac) => {
		const reader = res.body.getReader();
		const decoder = new TextDecoder();
		let buf = "";
		let pending = null;
		let done = false;
		const seen = [];
		return {
			status: res.status,
			headers: res.headers,
			seen,
			async next(ms = 5000, what = "an SSE event") {
				for (;;) {
					const end = buf.indexOf("\n\n");
					if (end >= 0) {
						const ev = parseSseEvent(buf.slice(0, end));
						buf = buf.slice(end + 2);
						if (Object.keys(ev).length === 0) continue; // a keep-alive comment
						if (ev.data) ev.json = JSON.parse(ev.data);
						seen.push(ev);
						return ev;
					}
					if (done) return null;
					pending ??= reader.read();
					const r = await bounded(pending, `${what} (seen so far: ${JSON.stringify(seen)})`, ms);
					pending = null;
					if (r.done) done = true;
					else buf += decoder.decode(r.value, { stream: true }).replace(/\r\n?/g, "\n");
				}
			},
			close() { ac?.abort(); },
		};
	};
	const post = async (msg, { session, version, headers = {}, to = urlOf(), signal } = {}) => {
		const h = sessionHeaders({ Accept: ACCEPT_BOTH, "Content-Type": "application/json", ...headers }, session, version);
		const res = await bounded(fetch(to, { method: "POST", headers: h, body: JSON.stringify(msg), signal }),
			`POST ${JSON.stringify(msg).slice(0, 80)}`);
		return signal ? res : answer(res);
	};
	const plain = async (method, { session, version, headers = {}, to = urlOf() } = {}) => {
		const h = sessionHeaders({ ...headers }, session, version);
		const res = await bounded(fetch(to, { method, headers: h }), `${method} ${to}`);
		return answer(res);
	};
	const openStream = async ({ session, version = "2025-11-25", lastEventId, to = urlOf(), headers = {} } = {}) => {
		const ac = new AbortController();
		const h = { Accept: "text/event-stream", "Mcp-Session-Id": session, "MCP-Protocol-Version": version, ...headers };
		if (lastEventId !== undefined) h["Last-Event-ID"] = lastEventId;
		const res = await bounded(fetch(to, { method: "GET", headers: h, signal: ac.signal }), "GET stream");
		if (res.status !== 200) return { ...(await answer(res)), close() { ac.abort(); } };
		return sseOf(res, ac);
	};
	return { post, plain, openStream, answer, sseOf };
}

// Start the HTTP test server t/servers/<name>.mjs (it prints "<name> listening port=N" on
// stderr) and resolve to { proc, url } once it listens: url is its MCP endpoint.
export async function startHttpServer(name, { timeout = 10000 } = {}) {
	const proc = startProcess([nodeBin(), serverPath(`${name}.mjs`)]);
	try {
		const m = await waitFor(() => new RegExp(`${name} listening port=(\\d+)`).exec(proc.stderrText()),
			{ timeout, what: `${name} listening` });
		return { proc, url: `http://127.0.0.1:${m[1]}/mcp` };
	} catch (e) {
		proc.kill("SIGKILL");
		throw new Error(`${e.message}\n--- ${name} stderr ---\n${proc.stderrText()}`);
	}
}
