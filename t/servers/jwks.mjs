// A JWKS server for the tests, in the test's own process: it serves the public keys it is
// given at /jwks.json, counts the fetches, and the keys can be changed (rotation).
// const s = await startJwksServer([key.jwk]); s.url; s.setKeys([...]); await s.nextFetch();
// (a query string is ignored, but nextFetch resolves with the path and query fetched)
import http from "node:http";

export async function startJwksServer(keys = []) {
	let current = keys;
	let fetches = 0;
	let waiters = [];
	const server = http.createServer((req, res) => {
		if (req.url.split("?")[0] !== "/jwks.json") {
			res.writeHead(404).end();
			return;
		}
		fetches++;
		res.writeHead(200, { "Content-Type": "application/json" });
		res.end(JSON.stringify({ keys: current }));
		const w = waiters;
		waiters = [];
		for (const f of w) f(req.url);
	});
	await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address();
	return {
		url: `http://127.0.0.1:${port}/jwks.json`,
		get fetches() { return fetches; },
		setKeys(k) { current = k; },
		// resolves at the next fetch after this call, with what was fetched
		nextFetch() { return new Promise((resolve) => waiters.push(resolve)); },
		close() { server.closeAllConnections?.(); return new Promise((resolve) => server.close(resolve)); },
	};
}
