// An HTTP/1.x client over a raw TCP socket, for tests that need what fetch hides: the HTTP
// version of the request (1.0 or 1.1), its Connection header, the exact framing of the
// answer (Content-Length, chunked, or until close), and whether the server closed the
// connection afterwards.
//
//   const conn = await rawConnect(url, bounded, detail)
//     bounded(promise, what, ms) bounds each wait; detail() is appended to errors (a log tail)
//   conn.send({ method, path, version, connection, headers, body })
//     writes a request: version "1.1" (default) or "1.0"; connection "close", "keep-alive"
//     or undefined (no header); Host and Content-Length are added
//   const res = await conn.response({ ms })
//     reads the next response whole (a 100 Continue is skipped): { version, status, headers
//     (lower-case names), body (text), framing ("length" | "chunked" | "close"), events (the
//     SSE events of a text/event-stream body, parsed), json (the body parsed, if it is JSON) }
//   const res = await conn.head(); await conn.bodyUntil(res, (body) => ..., { ms })
//     reads a response's head, then its body until a predicate holds or the body is whole
//     (res.complete); conn.rest(res) reads the rest
//   await conn.closedByServer(ms)   true once the server closed it (false after ms)
//   conn.destroy()
//   rawConnect(url, bounded, detail, tlsOptions): an https:// URL connects with TLS
//   (tls.connect with tlsOptions, e.g. { ca }); conn.socket is the socket
import net from "node:net";
import tls from "node:tls";
import { parseSseEvent } from "./http.mjs";

export async function rawConnect(url, bounded, detail = () => "", tlsOptions = {}) {
	const u = new URL(url);
	const host = u.hostname.replace(/^\[|\]$/g, "");
	const secure = u.protocol === "https:";
	const sock = secure ? tls.connect({ port: Number(u.port), host, ...tlsOptions }) : net.connect(Number(u.port), host);
	let buf = Buffer.alloc(0);
	let closed = false;
	let error = null;
	let wake = null;
	const notify = () => { const w = wake; wake = null; w?.(); };
	sock.on("data", (d) => { buf = Buffer.concat([buf, d]); notify(); });
	sock.on("end", () => { closed = true; notify(); });
	sock.on("close", () => { closed = true; notify(); });
	sock.on("error", (e) => { error = e; closed = true; notify(); });
	await bounded(new Promise((resolve, reject) => {
		sock.once(secure ? "secureConnect" : "connect", resolve);
		sock.once("error", reject);
	}), `a connection to ${url}`);

	// Wait until take() returns something other than undefined (it may consume buf), or
	// the socket closed (then undefined).
	const until = async (take, what, ms) => {
		const deadline = Date.now() + ms;
		for (;;) {
			const v = take();
			if (v !== undefined) return v;
			if (closed) return undefined;
			const left = deadline - Date.now();
			await bounded(new Promise((resolve) => { wake = resolve; }), what, left > 0 ? left : 1);
		}
	};

	const head = async ({ ms = 5000 } = {}) => {
		for (;;) {
			const text = await until(() => {
				const i = buf.indexOf("\r\n\r\n");
				if (i < 0) return undefined;
				const t = buf.subarray(0, i).toString("latin1");
				buf = buf.subarray(i + 4);
				return t;
			}, "a response head", ms);
			if (text === undefined) throw new Error(`the server closed the connection before answering${error ? ` (${error.message})` : ""}${detail()}`);
			const [statusLine, ...lines] = text.split("\r\n");
			const m = /^HTTP\/(\d\.\d) (\d{3}) ?(.*)$/.exec(statusLine);
			if (!m) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
			const headers = {};
			for (const l of lines) {
				const i = l.indexOf(":");
				headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
			}
			if (m[2] === "100") continue;
			const te = headers["transfer-encoding"];
			const framing = te && /chunked/i.test(te) ? "chunked" : headers["content-length"] !== undefined ? "length" : "close";
			return { version: m[1], status: Number(m[2]), reason: m[3], headers, framing, raw: Buffer.alloc(0), complete: false };
		}
	};

	// One step of res's body: true when some was read, false when it is whole, undefined
	// when more bytes are needed first.
	const step = (res) => {
		if (res.framing === "length") {
			const want = Number(res.headers["content-length"]) - res.raw.length;
			if (want === 0) return false;
			if (!buf.length) return undefined;
			const n = Math.min(want, buf.length);
			res.raw = Buffer.concat([res.raw, buf.subarray(0, n)]);
			buf = buf.subarray(n);
			return true;
		}
		if (res.framing === "chunked") {
			const eol = buf.indexOf("\r\n");
			if (eol < 0) return undefined;
			const size = parseInt(buf.subarray(0, eol).toString("latin1"), 16);
			if (Number.isNaN(size)) throw new Error(`a bad chunk size line: ${JSON.stringify(buf.subarray(0, eol).toString())}`);
			if (size === 0) {
				if (buf.length < eol + 4) return undefined;   // "0\r\n\r\n": no trailers are sent
				buf = buf.subarray(eol + 4);
				return false;
			}
			if (buf.length < eol + 2 + size + 2) return undefined;
			res.raw = Buffer.concat([res.raw, buf.subarray(eol + 2, eol + 2 + size)]);
			buf = buf.subarray(eol + 2 + size + 2);
			return true;
		}
		if (buf.length) {
			res.raw = Buffer.concat([res.raw, buf]);
			buf = Buffer.alloc(0);
			return true;
		}
		return closed ? false : undefined;
	};

	const decorate = (res) => {
		res.body = res.raw.toString("utf8");
		if (/^text\/event-stream/.test(res.headers["content-type"] ?? "")) {
			res.events = res.body.replace(/\r\n?/g, "\n").split("\n\n").slice(0, -1).map(parseSseEvent)
				.filter((e) => Object.keys(e).length);
			for (const e of res.events) if (e.data) e.json = JSON.parse(e.data);
		}
		try { res.json = JSON.parse(res.body); } catch {}
		return res;
	};

	const bodyUntil = async (res, pred, { ms = 5000, what = "a response body" } = {}) => {
		while (!res.complete) {
			const more = await until(() => step(res), `${what} (so far: ${JSON.stringify(res.raw.toString().slice(-400))})`, ms);
			if (more === undefined) {
				if (res.framing !== "close") throw new Error(`the server closed the connection within a response (${res.framing}): ${res.raw.toString().slice(-400)}${detail()}`);
				res.complete = true;
			} else if (more === false) {
				res.complete = true;
			}
			decorate(res);
			if (pred(res)) break;
		}
		return decorate(res);
	};

	const conn = {
		send({ method = "POST", path = u.pathname, version = "1.1", connection, headers = {}, body } = {}) {
			const data = body === undefined ? Buffer.alloc(0) : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
			const h = { Host: u.host, ...headers };
			if (connection) h.Connection = connection;
			if (body !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === "content-length")) h["Content-Length"] = data.length;
			const text = `${method} ${path} HTTP/${version}\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
			sock.write(Buffer.concat([Buffer.from(text, "latin1"), data]));
		},
		head,
		bodyUntil,
		rest: (res, opts) => bodyUntil(res, () => false, opts),
		async response({ ms = 5000 } = {}) {
			const res = await head({ ms });
			return bodyUntil(res, () => false, { ms });
		},
		async closedByServer(ms = 3000) {
			try {
				await until(() => (buf.length ? buf.length : undefined), "the server to close the connection", ms);
			} catch {
				return false;
			}
			if (buf.length) throw new Error(`bytes after the response where the connection should close: ${buf.toString().slice(0, 200)}`);
			return closed;
		},
		get closed() { return closed; },
		socket: sock,
		destroy() { sock.destroy(); },
	};
	return conn;
}
