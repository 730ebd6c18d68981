// Helpers for the tests of mcpfed's Streamable HTTP listener: start a gateway that listens,
// JSON-RPC messages to post, and SSE event blocks.
import { logTail, luaConfig, mcpfedBin, startProcess, waitFor } from "./harness.mjs";

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
