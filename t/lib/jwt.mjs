// JSON Web Tokens for the tests, signed with node's crypto: key pairs of the three
// algorithms a listener accepts by default, their public JWKs, and compact JWS tokens.
import crypto from "node:crypto";

const b64u = (buf) => Buffer.from(buf).toString("base64url");
export const b64json = (o) => b64u(JSON.stringify(o));

// A key pair for alg (RS256, ES256 or EdDSA) named kid.
export function keyPair(alg, kid) {
	const { privateKey, publicKey } =
		alg === "RS256" ? crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
		: alg === "ES256" ? crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
		: crypto.generateKeyPairSync("ed25519");
	const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg, use: "sig" };
	return { alg, kid, privateKey, publicKey, jwk };
}

// header.payload signed with key (a keyPair), or with header and signature as given.
export function sign(key, payload, { header = {}, alg = key.alg } = {}) {
	const h = { alg, typ: "JWT", kid: key.kid, ...header };
	const input = `${b64json(h)}.${b64json(payload)}`;
	let sig;
	if (alg === "RS256") sig = crypto.sign("sha256", Buffer.from(input), key.privateKey);
	else if (alg === "ES256") sig = crypto.sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
	else if (alg === "EdDSA") sig = crypto.sign(null, Buffer.from(input), key.privateKey);
	else throw new Error(`sign: ${alg}`);
	return `${input}.${b64u(sig)}`;
}

// An HS256 token whose secret is the text of the RSA public key (the classic confusion).
export function hs256WithPublicKey(key, payload) {
	const h = { alg: "HS256", typ: "JWT", kid: key.kid };
	const input = `${b64json(h)}.${b64json(payload)}`;
	const secrets = [key.publicKey.export({ format: "pem", type: "spki" }), JSON.stringify(key.jwk)];
	return `${input}.${b64u(crypto.createHmac("sha256", secrets[0]).update(input).digest())}`;
}

// An unsigned token (alg none).
export const unsigned = (payload, kid) => `${b64json({ alg: "none", typ: "JWT", kid })}.${b64json(payload)}.`;

export const now = () => Math.floor(Date.now() / 1000);

// The SHA-256 of an API key as the configuration writes it.
export const keyHash = (key) => `sha256:${crypto.createHash("sha256").update(key).digest("hex")}`;

// A routing policy (Lua text) that runs check, Lua statements that may return nil and a
// reason to refuse a call (request is in scope), then routes plainly.
export const policyWith = (check) => `return {
  route = function(request, candidates)
${check}
    local ids = {}
    for _, c in ipairs(candidates) do ids[#ids + 1] = c.id end
    return ids
  end,
}
`;

// A policy that refuses f__pid with who=SUBJECT/METHOD scopes=A,B: what it saw of the caller.
export const whoPolicy = policyWith(`    if request.name == "f__pid" then
      local id = request.identity
      return nil, "who=" .. id.subject .. "/" .. id.method .. " scopes=" .. table.concat(id.scopes, ",")
    end`);
