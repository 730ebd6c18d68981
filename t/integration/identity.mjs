// Who a session acts for, beyond HTTP: the stdio client is the local user (its name, or the
// configuration's identity.subject, with method "local" and the configured scopes), as the
// routing policy and the admin socket see it; and a JWT with very large claims against a
// policy with a small memory cap fails the decision (counted) without hurting the gateway.
// Run: MCPFED_BIN=build/mcpfed MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/identity.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { admin, closeAfter, faulty, killAll, logTail, luaConfig, scratchDir, startStdio, withTimeout } from "../lib/harness.mjs";
import { callMsg, endpointClient, initMsg, startHttpGateway } from "../lib/http.mjs";
import { keyPair, now, sign, whoPolicy } from "../lib/jwt.mjs";

const policy = whoPolicy;

function setup() {
	const dir = scratchDir();
	const policyFile = path.join(dir, "policy.lua");
	fs.writeFileSync(policyFile, policy);
	return { dir, policyFile, sock: path.join(dir, "admin.sock") };
}

for (const [what, identity, subject, scopes] of [
	["the configured identity", { subject: "ops", scopes: ["deploy", "read"] }, "ops", "deploy,read"],
	["the user's name by default", undefined, os.userInfo().username, ""],
]) {
	test(`stdio: the client is the local user, ${what}`, async (t) => {
		const { policyFile, sock } = setup();
		const top = { policy: policyFile, admin: sock, providers: [faulty("f")], ...(identity ? { identity } : {}) };
		const gw = startStdio({ config: luaConfig(top) });
		closeAfter(t, gw);
		await gw.initialize();
		const res = await gw.request("tools/call", { name: "f__pid", arguments: {} });
		assert.equal(res.error?.message?.match(/who=.*/)?.[0], `who=${subject}/local scopes=${scopes}`, JSON.stringify(res));
		const sessions = (await admin(sock, "sessions")).body.sessions;
		assert.deepEqual(sessions.map((s) => [s.subject, s.auth]), [[subject, "local"]], JSON.stringify(sessions));
	});
}

// The header parser takes at most 80 KB of headers: claims of about 40 KB that are hundreds
// of KB as Lua tables.
test("a JWT with large claims against a policy capped at 64 KB: the decision fails and is counted, the gateway goes on", async () => {
	const { dir, policyFile, sock } = setup();
	const key = keyPair("EdDSA", "ed");
	const jwksFile = path.join(dir, "jwks.json");
	fs.writeFileSync(jwksFile, JSON.stringify({ keys: [key.jwk] }));
	const AUD = "https://mcp.test/mcp";
	const { gw, urls: [url] } = await startHttpGateway({
		admin: sock, policy: policyFile, policy_memory_bytes: 65536,
		listen: [{
			url: "http://127.0.0.1:0/mcp", max_header_bytes: 1048576,
			auth: { jwt: { issuer: "iss", audience: AUD, jwks_file: jwksFile } },
		}],
		providers: [faulty("f")],
	}, { listed: ["f"] });
	try {
		const bounded = (p, what) => withTimeout(p, 10000, what, () => logTail(gw.stderrText()));
		const { post } = endpointClient(() => url, bounded);
		const claims = { iss: "iss", aud: AUD, sub: "big", exp: now() + 300, blob: "x".repeat(20 * 1024),
			many: Array.from({ length: 2500 }, (_, i) => ({ i })) };
		const token = sign(key, claims);
		assert.ok(token.length > 40000 && token.length < 75000, `${token.length} bytes`);
		const headers = { Authorization: `Bearer ${token}` };
		const init = await post(initMsg(1, "2025-11-25", "identity"), { headers });
		assert.equal(init.status, 200, init.text);
		const session = init.headers.get("mcp-session-id");
		await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { session, headers });
		const before = (await admin(sock, "policy")).body;
		const res = await post(callMsg(2, "f__pid"), { session, headers });
		assert.equal(res.status, 200, res.text);
		assert.ok(res.json?.result || res.json?.error, `one answer: ${res.text}`);
		assert.doesNotMatch(res.text, /who=big/, "the policy never saw the identity it could not build");
		const status = (await admin(sock, "policy")).body;
		assert.equal(status.memory_overruns, before.memory_overruns + 1, JSON.stringify(status));
		assert.match(gw.stderrText(), /decision failed.*cannot build the request/);
		// and the gateway still serves a small identity
		const small = sign(key, { iss: "iss", aud: AUD, sub: "small", exp: now() + 300 });
		const other = await post(initMsg(3, "2025-11-25", "identity"), { headers: { Authorization: `Bearer ${small}` } });
		assert.equal(other.status, 200, other.text);
		const s2 = other.headers.get("mcp-session-id");
		const r2 = await post(callMsg(4, "f__pid"), { session: s2, headers: { Authorization: `Bearer ${small}` } });
		assert.match(r2.json?.error?.message ?? "", /who=small\/jwt/, r2.text);
	} finally {
		await killAll(gw);
	}
});
