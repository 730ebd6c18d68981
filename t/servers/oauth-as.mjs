// An OAuth 2.1 authorization server for the tests, in the test's own process: metadata
// (RFC 8414), dynamic client registration (RFC 7591), /authorize that redirects straight
// back with a code (no user to ask), /token with the PKCE check (S256) issuing JWT access
// tokens for the resource asked for (RFC 8707), signed with a key published at /jwks.json.
// const as = await startAuthServer({ subject: "user-42" }); as.url is the issuer.
import crypto from "node:crypto";
import http from "node:http";
import { keyPair, now, sign } from "../lib/jwt.mjs";

export async function startAuthServer({ subject = "user-42", alg = "ES256", ttl = 300 } = {}) {
	const key = keyPair(alg, `as-${alg}`);
	const clients = new Map();
	const codes = new Map();
	const issued = [];
	let base;
	const json = (res, status, body) => {
		res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
		res.end(JSON.stringify(body));
	};
	const body = (req) => new Promise((resolve) => {
		let b = "";
		req.on("data", (d) => { b += d; });
		req.on("end", () => resolve(b));
	});
	const server = http.createServer(async (req, res) => {
		const u = new URL(req.url, base);
		if (req.method === "GET" && u.pathname === "/.well-known/oauth-authorization-server") {
			return json(res, 200, {
				issuer: base, authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token`,
				registration_endpoint: `${base}/register`, jwks_uri: `${base}/jwks.json`,
				response_types_supported: ["code"], grant_types_supported: ["authorization_code"],
				code_challenge_methods_supported: ["S256"], token_endpoint_auth_methods_supported: ["none"],
			});
		}
		if (req.method === "GET" && u.pathname === "/jwks.json") return json(res, 200, { keys: [key.jwk] });
		if (req.method === "POST" && u.pathname === "/register") {
			const meta = JSON.parse(await body(req));
			const client_id = crypto.randomUUID();
			clients.set(client_id, meta);
			return json(res, 201, { ...meta, client_id, client_id_issued_at: now(), token_endpoint_auth_method: "none" });
		}
		if (req.method === "GET" && u.pathname === "/authorize") {
			const q = Object.fromEntries(u.searchParams);
			const client = clients.get(q.client_id);
			if (!client || !client.redirect_uris?.includes(q.redirect_uri) || q.response_type !== "code" ||
				q.code_challenge_method !== "S256" || !q.code_challenge)
				return json(res, 400, { error: "invalid_request" });
			const code = crypto.randomBytes(16).toString("hex");
			codes.set(code, q);
			const back = new URL(q.redirect_uri);
			back.searchParams.set("code", code);
			if (q.state) back.searchParams.set("state", q.state);
			res.writeHead(302, { Location: back.href });
			return res.end();
		}
		if (req.method === "POST" && u.pathname === "/token") {
			const p = Object.fromEntries(new URLSearchParams(await body(req)));
			const grant = codes.get(p.code);
			codes.delete(p.code);
			const challenge = crypto.createHash("sha256").update(p.code_verifier ?? "").digest("base64url");
			if (p.grant_type !== "authorization_code" || !grant || grant.client_id !== p.client_id ||
				grant.redirect_uri !== p.redirect_uri || challenge !== grant.code_challenge)
				return json(res, 400, { error: "invalid_grant" });
			const resource = p.resource ?? grant.resource;
			const access_token = sign(key, {
				iss: base, aud: resource, sub: subject, client_id: p.client_id, scope: grant.scope ?? "",
				iat: now(), exp: now() + ttl,
			});
			issued.push({ resource, scope: grant.scope });
			return json(res, 200, { access_token, token_type: "Bearer", expires_in: ttl, scope: grant.scope });
		}
		json(res, 404, { error: "not_found" });
	});
	await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
	base = `http://127.0.0.1:${server.address().port}`;
	return {
		url: base, jwksUrl: `${base}/jwks.json`, issued,
		close() { server.closeAllConnections?.(); return new Promise((resolve) => server.close(resolve)); },
	};
}
