// A WebSocket client over a raw TCP socket, for tests that must send what a real client
// never would: unmasked frames, reserved bits and opcodes, lengths beyond any limit, bad
// UTF-8, fragmented control frames. It frames by hand on purpose (the server under test
// does not).
//
//   const ws = await rawWs(url, bounded, { protocols, headers, autoPong })
//     opens the TCP connection and sends the opening handshake; bounded(promise, what, ms)
//     bounds each wait
//   const head = await ws.handshake()   { status, headers, body } (body only when not 101)
//   ws.frame({ fin, rsv, opcode, payload, mask, length })   writes one frame: fin (default
//     true), rsv bits (0..7), payload (string or Buffer), mask (default true), length (the
//     length to announce, default the payload's: lets a frame claim more than it carries)
//   ws.text(s), ws.json(obj)   a whole text frame
//   ws.raw(bytes)   writes bytes as they are
//   await ws.next(ms)   the next frame from the server: { fin, opcode, payload (Buffer),
//     text, json, code, reason } (code and reason for a close); null once the server closed
//     the TCP connection. Pings are answered (unless autoPong is false) and not returned.
//   await ws.expectClose(code, ms)   the next frame is a close with code, then the TCP close
//   await ws.request(msg)   sends a JSON-RPC request and returns its answer (skipping the rest)
//   ws.pause(), ws.destroy()
import net from "node:net";
import crypto from "node:crypto";
import assert from "node:assert/strict";

export async function rawWs(url, bounded, { protocols = ["mcp"], headers = {}, autoPong = true, path } = {}) {
	const u = new URL(url);
	const sock = net.connect(Number(u.port), u.hostname.replace(/^\[|\]$/g, ""));
	let buf = Buffer.alloc(0);
	let closed = false;
	let ws;
	let wake = null;
	const notify = () => { const w = wake; wake = null; w?.(); };
	let upgraded = false;
	const frames = [];   // parsed as they arrive, so pings are answered even when nobody reads
	const parse = () => {
		while (buf.length >= 2) {
			let n = buf[1] & 0x7f, at = 2;
			if (n === 126) { if (buf.length < 4) return; n = buf.readUInt16BE(2); at = 4; }
			else if (n === 127) { if (buf.length < 10) return; n = Number(buf.readBigUInt64BE(2)); at = 10; }
			if (buf.length < at + n) return;
			const f = { fin: !!(buf[0] & 0x80), opcode: buf[0] & 0x0f, masked: !!(buf[1] & 0x80), payload: buf.subarray(at, at + n) };
			buf = buf.subarray(at + n);
			if (f.opcode === 9 && autoPong) ws.frame({ opcode: 10, payload: f.payload });
			else frames.push(f);
		}
	};
	sock.on("data", (d) => { buf = Buffer.concat([buf, d]); if (upgraded) parse(); notify(); });
	sock.on("close", () => { closed = true; notify(); });
	sock.on("end", () => { closed = true; notify(); });
	sock.on("error", () => { closed = true; notify(); });
	await bounded(new Promise((resolve, reject) => { sock.once("connect", resolve); sock.once("error", reject); }), `connect ${url}`);
	const key = crypto.randomBytes(16).toString("base64");
	const h = {
		Host: u.host, Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13",
		...(protocols.length ? { "Sec-WebSocket-Protocol": protocols.join(", ") } : {}), ...headers,
	};
	sock.write(`GET ${path ?? u.pathname} HTTP/1.1\r\n${Object.entries(h).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`);

	const until = async (take, what, ms) => {
		const deadline = Date.now() + ms;
		for (;;) {
			const v = take();
			if (v !== undefined) return v;
			if (closed) return null;   // (frames left are taken first)
			const left = deadline - Date.now();
			await bounded(new Promise((resolve) => { wake = resolve; }), what, left > 0 ? left : 1);
		}
	};

	ws = {
		sock,
		async handshake(ms = 5000) {
			const head = await until(() => {
				const i = buf.indexOf("\r\n\r\n");
				if (i < 0) return undefined;
				const t = buf.subarray(0, i).toString("latin1");
				buf = buf.subarray(i + 4);
				return t;
			}, "the handshake's answer", ms);
			assert.ok(head, "the server answered the handshake");
			const lines = head.split("\r\n");
			const status = Number(lines[0].split(" ")[1]);
			const headers = {};
			for (const l of lines.slice(1)) { const i = l.indexOf(":"); headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
			if (status === 101) {
				upgraded = true;
				parse();
				const want = crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
				assert.equal(headers["sec-websocket-accept"], want, "Sec-WebSocket-Accept");
				return { status, headers };
			}
			const len = Number(headers["content-length"] || 0);
			await until(() => (buf.length >= len ? true : undefined), "the refusal's body", ms);
			const body = buf.subarray(0, len).toString();
			buf = buf.subarray(len);
			return { status, headers, body };
		},
		frame({ fin = true, rsv = 0, opcode = 1, payload = "", mask = true, length } = {}) {
			const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
			const n = length ?? p.length;
			const parts = [Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode])];
			const m = mask ? 0x80 : 0;
			if (n < 126) parts.push(Buffer.from([m | n]));
			else if (n < 65536) { const b = Buffer.alloc(3); b[0] = m | 126; b.writeUInt16BE(n, 1); parts.push(b); }
			else { const b = Buffer.alloc(9); b[0] = m | 127; b.writeBigUInt64BE(BigInt(n), 1); parts.push(b); }
			if (mask) {
				const k = crypto.randomBytes(4);
				parts.push(k, Buffer.from(p.map((x, i) => x ^ k[i % 4])));
			} else {
				parts.push(p);
			}
			sock.write(Buffer.concat(parts));
		},
		text(s) { ws.frame({ payload: s }); },
		json(o) { ws.text(JSON.stringify(o)); },
		raw(bytes) { sock.write(bytes); },
		async next(ms = 5000) {
			const f = await until(() => frames.shift(), "a frame from the server", ms);
			if (!f) return null;
			assert.equal(f.masked, false, "a server's frames are not masked");
			if (f.opcode === 1) { f.text = f.payload.toString(); f.json = JSON.parse(f.text); }
			if (f.opcode === 8 && f.payload.length >= 2) { f.code = f.payload.readUInt16BE(0); f.reason = f.payload.subarray(2).toString(); }
			return f;
		},
		async expectClose(code, ms = 5000) {
			const f = await ws.next(ms);
			assert.ok(f, `a close frame with ${code} before the TCP close`);
			assert.equal(f.opcode, 8, `a close frame, not ${JSON.stringify(f)}`);
			assert.equal(f.code, code, `close code (reason: ${f.reason})`);
			assert.equal(await ws.next(ms), null, "then the TCP close");
			return f;
		},
		async request(msg, ms = 5000) {
			ws.json(msg);
			for (;;) {
				const f = await ws.next(ms);
				assert.ok(f, `an answer to ${msg.method}`);
				if (f.opcode === 1 && f.json.id === msg.id && f.json.method === undefined) return f.json;
			}
		},
		pause() { sock.pause(); },
		destroy() { sock.destroy(); },
	};
	return ws;
}

// Open a raw WebSocket session: handshake, initialize and initialized.
export async function rawWsSession(url, bounded, opts) {
	const ws = await rawWs(url, bounded, opts);
	const head = await ws.handshake();
	assert.equal(head.status, 101, JSON.stringify(head));
	const init = await ws.request({ jsonrpc: "2.0", id: 0, method: "initialize",
		params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
	assert.ok(init.result, JSON.stringify(init));
	ws.json({ jsonrpc: "2.0", method: "notifications/initialized" });
	return ws;
}
