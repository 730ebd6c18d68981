// A bounded load client for MCP over WebSocket: CONNECTIONS connections, each with one
// tools/call in flight at a time (a closed loop, as wrk keeps one request per connection),
// for DURATION seconds. Prints requests/s, latency percentiles and errors; exits 1 on any
// error or a connection that did not come up.
//   t/node t/bench/ws-load.mjs URL TOOL CONNECTIONS DURATION
import WebSocket from "ws";

const [url, tool, conns = "1", secs = "10"] = process.argv.slice(2);
const nconn = Number(conns), duration = Number(secs) * 1000;
const lat = [];
let errors = 0, done = 0, stopAt = 0;
const hard = setTimeout(() => { console.error("ws-load: did not finish in time"); process.exit(1); }, duration + 30000);

function open() {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url, "mcp", { perMessageDeflate: false });
		const t = setTimeout(() => reject(new Error("connect timeout")), 10000);
		ws.once("error", reject);
		ws.once("open", () => {
			ws.send(JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize",
				params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "ws-load", version: "1" } } }));
			ws.once("message", () => {
				clearTimeout(t);
				ws.send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
				resolve(ws);
			});
		});
	});
}

function loop(ws) {
	return new Promise((resolve) => {
		let id = 0, sent = 0;
		const next = () => {
			if (performance.now() >= stopAt) { ws.close(); resolve(); return; }
			id++;
			sent = performance.now();
			ws.send(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${tool}","arguments":{"n":${id}}}}`);
		};
		ws.on("message", (data) => {
			const m = JSON.parse(data);
			if (m.id !== id) return;
			if (!m.result) errors++;
			lat.push(performance.now() - sent);
			done++;
			next();
		});
		ws.on("close", resolve);
		next();
	});
}

const sockets = await Promise.all(Array.from({ length: nconn }, open));
const start = performance.now();
stopAt = start + duration;
await Promise.all(sockets.map(loop));
const elapsed = (performance.now() - start) / 1000;
clearTimeout(hard);
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(3) : "-");
console.log(`websocket connections=${nconn} requests=${done} seconds=${elapsed.toFixed(1)} req/s=${(done / elapsed).toFixed(0)} ` +
	`latency_ms p50=${q(0.5)} p90=${q(0.9)} p99=${q(0.99)} max=${q(1)} errors=${errors}`);
process.exit(errors ? 1 : 0);
