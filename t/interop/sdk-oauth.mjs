// Interop with the official TypeScript SDK client's OAuth support: a client with no token
// meets a listener that takes JWTs, gets 401, discovers the authorization server through
// the protected resource metadata (RFC 9728), registers, authorizes with PKCE against
// t/servers/oauth-as.mjs, and calls a tool; the routing policy only lets the call through
// for the subject the token names, and the admin socket shows that subject.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/interop/sdk-oauth.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { admin, faulty, killAll, logTail, scratchDir, withTimeout } from "../lib/harness.mjs";
import { startHttpGateway } from "../lib/http.mjs";
import { policyWith } from "../lib/jwt.mjs";
import { startAuthServer } from "../servers/oauth-as.mjs";

let gw, as, gwUrl, sock;
const log = () => logTail(gw?.stderrText(), 4000);
const bounded = (p, what, ms = 10000) => withTimeout(p, ms, what, log);

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
		s.once("error", reject);
	});
}

// Only user-42, authenticated by a JWT, may call tools.
const policy = policyWith(`    local id = request.identity
    if id.subject ~= "user-42" or id.method ~= "jwt" then
      return nil, "not for " .. id.subject
    end`);

before(async () => {
	as = await startAuthServer({ subject: "user-42" });
	const port = await freePort();
	gwUrl = `http://127.0.0.1:${port}/mcp`;
	const dir = scratchDir();
	sock = path.join(dir, "admin.sock");
	const policyFile = path.join(dir, "policy.lua");
	fs.writeFileSync(policyFile, policy);
	({ gw } = await startHttpGateway({
		admin: sock, policy: policyFile,
		listen: [{
			url: gwUrl,
			auth: {
				jwt: { issuer: as.url, audience: gwUrl, jwks_url: as.jwksUrl },
				oauth: { authorization_servers: [as.url], scopes: ["mcp:tools"] },
			},
		}],
		providers: [faulty("f")],
	}, { listed: ["f"] }));
});

after(async () => {
	await killAll(gw);
	await as?.close();
});

// An OAuthClientProvider that keeps everything in memory and follows the authorization
// redirect itself (the authorization server asks no one), keeping the code it brings back.
class MemoryProvider {
	constructor() { this.redirects = 0; }
	get redirectUrl() { return "http://127.0.0.1:1/callback"; }
	get clientMetadata() {
		return { client_name: "sdk-oauth test", redirect_uris: [this.redirectUrl], grant_types: ["authorization_code"],
			response_types: ["code"], token_endpoint_auth_method: "none" };
	}
	clientInformation() { return this.client; }
	saveClientInformation(c) { this.client = c; }
	tokens() { return this.saved; }
	saveTokens(t) { this.saved = t; }
	saveCodeVerifier(v) { this.verifier = v; }
	codeVerifier() { return this.verifier; }
	async redirectToAuthorization(url) {
		this.redirects++;
		const res = await fetch(url, { redirect: "manual" });
		assert.equal(res.status, 302, await res.text());
		this.code = new URL(res.headers.get("location")).searchParams.get("code");
	}
}

test("the SDK client with no token is sent to authorize, completes the flow, and calls a tool as its subject", async () => {
	const provider = new MemoryProvider();
	const first = new Client({ name: "sdk-oauth", version: "1.0.0" });
	await assert.rejects(bounded(first.connect(new StreamableHTTPClientTransport(new URL(gwUrl), { authProvider: provider })),
		"the first connect"), UnauthorizedError);
	assert.equal(provider.redirects, 1, "the client was sent to authorize");
	assert.ok(provider.code, "the authorization server gave a code");
	assert.ok(provider.client?.client_id, "the client registered dynamically");
	const transport = new StreamableHTTPClientTransport(new URL(gwUrl), { authProvider: provider });
	await bounded(transport.finishAuth(provider.code), "the token exchange");
	assert.equal(as.issued.length, 1);
	assert.equal(as.issued[0].resource, gwUrl, "the token was asked for this gateway (RFC 8707)");
	assert.equal(as.issued[0].scope, "mcp:tools", "the scopes the metadata lists");
	const client = new Client({ name: "sdk-oauth", version: "1.0.0" });
	await bounded(client.connect(transport), "the authenticated connect");
	const res = await bounded(client.callTool({ name: "f__echo", arguments: { text: "hello" } }), "tools/call");
	assert.equal(res.content?.[0]?.text, "hello", JSON.stringify(res));
	const sessions = (await admin(sock, "sessions")).body.sessions;
	assert.ok(sessions.some((s) => s.subject === "user-42" && s.auth === "jwt"), JSON.stringify(sessions));
	await client.close();
	assert.match(gw.stderrText(), /authentication failed peer=\S+ reason="no credentials"/);
});
