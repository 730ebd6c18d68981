// node:http bridged by hand to a web-standard fetch(Request) handler (the 2.x SDK's
// createMcpHandler), for the test servers. serveFetch(name, fetch, { onRequest }) listens on
// 127.0.0.1:PORT (default 0: the system chooses) and prints "<name> listening port=N" on
// stderr; onRequest(req, body) sees each request first (headers, the body as a Buffer).
import http from "node:http";

export function serveFetch(name, fetch, { onRequest } = {}) {
	const server = http.createServer(async (req, res) => {
		try {
			const chunks = [];
			for await (const c of req) chunks.push(c);
			const body = Buffer.concat(chunks);
			onRequest?.(req, body);
			const headers = new Headers();
			for (const [k, v] of Object.entries(req.headers)) {
				if (Array.isArray(v)) for (const x of v) headers.append(k, x);
				else if (v !== undefined) headers.set(k, v);
			}
			const ac = new AbortController();
			res.on("close", () => ac.abort());
			const request = new Request(`http://${req.headers.host || "127.0.0.1"}${req.url}`, {
				method: req.method, headers, signal: ac.signal,
				body: req.method === "GET" || req.method === "HEAD" || body.length === 0 ? undefined : body,
			});
			const response = await fetch(request);
			const out = {};
			response.headers.forEach((v, k) => { out[k] = v; });
			res.writeHead(response.status, out);
			if (!response.body) return res.end();
			for await (const chunk of response.body) res.write(chunk);
			res.end();
		} catch (e) {
			if (e?.name !== "AbortError") process.stderr.write(`${name}: ${e.stack || e}\n`);
			if (!res.headersSent) res.writeHead(500);
			res.end();
		}
	});
	server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
		process.stderr.write(`${name} listening port=${server.address().port}\n`);
	});
	return server;
}
