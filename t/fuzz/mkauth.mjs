// Makes the seed corpora of the authentication fuzz targets (jwt, jwks, auth) and the key
// set they verify against, t/fuzz/corpus/jwt-keys.json. Run once, with the pinned node:
//   t/node t/fuzz/mkauth.mjs
// Each run makes new key pairs, so the key set and every signed seed change together; the
// private keys are not kept. Tokens expire in 2100, so the seeds stay valid.
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const corpus = path.join(here, "corpus");
const b64u = (b) => Buffer.from(b).toString("base64url");
const b64json = (o) => b64u(typeof o === "string" ? o : JSON.stringify(o));

// the verifier's settings in the targets (t/fuzz/jwt.c, t/fuzz/auth.c)
const ISS = "https://as.test", AUD = "https://mcp.test/mcp";
const EXP = 4102444800;   // 2100-01-01

const gen = (type, opts) => crypto.generateKeyPairSync(type, opts);
const keys = {
	"rsa-1": { alg: "RS256", pair: gen("rsa", { modulusLength: 2048 }) },
	"rsa-ps": { alg: "PS256", pair: gen("rsa", { modulusLength: 2048 }), noAlg: true },
	"ec-256": { alg: "ES256", pair: gen("ec", { namedCurve: "P-256" }) },
	"ec-384": { alg: "ES384", pair: gen("ec", { namedCurve: "P-384" }) },
	"ec-521": { alg: "ES512", pair: gen("ec", { namedCurve: "P-521" }) },
	"ed-1": { alg: "EdDSA", pair: gen("ed25519") },
};
const jwk = (kid) => {
	const k = keys[kid];
	const j = { ...k.pair.publicKey.export({ format: "jwk" }), kid, use: "sig" };
	if (!k.noAlg) j.alg = k.alg;
	return j;
};
// the key t/fuzz/jwt.c signs with itself: Ed25519 from its fixed seed
const edSeed = Buffer.from("mcpfed-fuzz-jwt-ed25519-key-seed");
const fuzzEd = crypto.createPublicKey(crypto.createPrivateKey({
	key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), edSeed]), format: "der", type: "pkcs8",
}));
const jwks = { keys: [...Object.keys(keys).map(jwk), { ...fuzzEd.export({ format: "jwk" }), kid: "fuzz-ed", alg: "EdDSA" }] };

function signWith(kid, alg, input) {
	const key = keys[kid].pair.privateKey;
	const bits = { "256": "sha256", "384": "sha384", "512": "sha512" }[alg.slice(2)];
	if (alg.startsWith("RS")) return crypto.sign(bits, Buffer.from(input), key);
	if (alg.startsWith("PS"))
		return crypto.sign(bits, Buffer.from(input), { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
			saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST });
	if (alg.startsWith("ES")) return crypto.sign(bits, Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
	return crypto.sign(null, Buffer.from(input), key);
}

const claims = (extra = {}) => ({ iss: ISS, aud: AUD, sub: "alice", scope: "tools read", exp: EXP, iat: 1700000000, ...extra });
// a compact JWS: header fields over {alg, typ, kid}, payload an object or raw text
function token(kid, payload = claims(), { alg = keys[kid].alg, header = {} } = {}) {
	const input = `${b64json({ alg, typ: "JWT", kid, ...header })}.${b64json(payload)}`;
	return `${input}.${b64u(signWith(kid, keys[kid].alg.startsWith("PS") ? alg : keys[kid].alg, input))}`;
}

const tokens = {
	"rs256": token("rsa-1"),
	"ps256": token("rsa-ps"),
	"ps384-on-ps-key": token("rsa-ps", claims(), { alg: "PS384" }),
	"es256": token("ec-256"),
	"es384": token("ec-384"),
	"es512": token("ec-521"),
	"eddsa": token("ed-1"),
	"aud-list": token("rsa-1", claims({ aud: ["https://other.test", AUD] })),
	"aud-list-other": token("ec-256", claims({ aud: ["https://other.test", 7, null] })),
	"aud-missing": token("ed-1", claims({ aud: undefined })),
	"scp-list": token("rsa-1", claims({ scope: undefined, scp: ["tools", "read", 3] })),
	"scope-spaces": token("ed-1", claims({ scope: "  tools   read  admin " })),
	"client-id": token("ec-256", claims({ client_id: "svc", sub: undefined })),
	"nbf-future": token("rsa-1", claims({ nbf: EXP - 10 })),
	"nbf-string": token("ed-1", claims({ nbf: "soon" })),
	"nbf-past": token("ec-256", claims({ nbf: 1600000000 })),
	"expired": token("rsa-1", claims({ exp: 1600000000 })),
	"exp-missing": token("ed-1", claims({ exp: undefined })),
	"exp-string": token("ec-256", claims({ exp: "2100" })),
	"exp-huge": token("ed-1", claims({ exp: 1e300 })),
	"iss-wrong": token("rsa-1", claims({ iss: "https://evil.test" })),
	"sub-empty": token("ed-1", claims({ sub: "" })),
	"sub-number": token("ed-1", claims({ sub: 42 })),
	"claims-array": token("ed-1", "[1,2,3]"),
	"claims-not-json": token("ed-1", "{\"iss\":"),
	"claims-dup": token("ed-1", `{"iss":"${ISS}","aud":"${AUD}","sub":"a","sub":"b","exp":${EXP}}`),
	"kid-unknown": token("rsa-1", claims(), { header: { kid: "nobody" } }),
	"kid-missing": token("rsa-1", claims(), { header: { kid: undefined } }),
	"kid-control": token("rsa-1", claims(), { header: { kid: "a\"b\\c\u0001\u00e9" } }),
	"alg-key-mismatch": token("rsa-1", claims(), { alg: "ES256" }),
	"alg-none": `${b64json({ alg: "none", typ: "JWT", kid: "rsa-1" })}.${b64json(claims())}.`,
	"alg-hs256": `${b64json({ alg: "HS256", kid: "rsa-1" })}.${b64json(claims())}.${b64u(crypto.randomBytes(32))}`,
	"alg-number": token("ed-1", claims(), { header: { alg: 1 } }),
	"ec-curve-mismatch": token("ec-384", claims(), { alg: "ES256", header: { kid: "ec-384" } }),
};
// a signature altered in its middle, and one cut short
const t = tokens.rs256, s = t.lastIndexOf(".") + 1, mid = s + ((t.length - s) >> 1);
tokens["sig-altered"] = t.slice(0, mid) + (t[mid] === "A" ? "B" : "A") + t.slice(mid + 1);
tokens["sig-short"] = tokens.eddsa.slice(0, -10);
tokens["sig-not-b64"] = `${tokens.es256.slice(0, tokens.es256.lastIndexOf("."))}.!!!`;
tokens["two-parts"] = tokens.rs256.slice(0, tokens.rs256.lastIndexOf("."));
tokens["four-parts"] = `${tokens.rs256}.x`;
tokens["empty-parts"] = "..";
tokens["header-not-json"] = `${b64u("{alg")}.${b64json(claims())}.AAAA`;
tokens["header-array"] = `${b64u("[]")}.${b64json(claims())}.AAAA`;
tokens["header-b64-padding"] = `${b64json({ alg: "EdDSA", kid: "ed-1" })}==.${b64json(claims())}.AAAA`;

function write(dir, name, bytes) {
	fs.mkdirSync(path.join(corpus, dir), { recursive: true });
	fs.writeFileSync(path.join(corpus, dir, name), bytes);
}

fs.writeFileSync(path.join(corpus, "jwt-keys.json"), `${JSON.stringify(jwks, null, 1)}\n`);

// jwt: a settings byte (t/fuzz/jwt.c), then the token
const settings = { "": 0, "-all-algs": 1, "-scp": 4 | 1, "-client-id": 8, "-no-skew": 16 };
for (const [name, tok] of Object.entries(tokens)) {
	const variant = name === "scp-list" ? "-scp" : name === "client-id" ? "-client-id"
		: name.startsWith("ps") || name.startsWith("es3") || name.startsWith("es5") ? "-all-algs" : "";
	write("jwt", name + variant, Buffer.concat([Buffer.from([settings[variant]]), Buffer.from(tok)]));
}

// jwt, signed by the target (settings bit 32): [header JSON, newline,] claims JSON
const signedSeeds = {
	"ok": claims(),
	"aud-list": claims({ aud: [AUD, "x", 1, null, { a: AUD }] }),
	"aud-nested": claims({ aud: [[AUD]] }),
	"scope-odd": claims({ scope: "\t a  b\u00e9 \u0000x " }),
	"scp-mixed": claims({ scope: undefined, scp: ["a", "", 1, ["b"], "c d"] }),
	"exp-float": claims({ exp: 4102444800.5, nbf: -1e300 }),
	"exp-neg": claims({ exp: -1 }),
	"sub-unicode": claims({ sub: "\u00e9\ud83d\ude00" }),
	"iss-prefix": claims({ iss: `${ISS}/` }),
};
for (const [name, c] of Object.entries(signedSeeds))
	write("jwt", `signed-${name}`, Buffer.concat([Buffer.from([32]), Buffer.from(JSON.stringify(c))]));
write("jwt", "signed-header-dup-alg", Buffer.concat([Buffer.from([32]),
	Buffer.from(`{"alg":"EdDSA","kid":"fuzz-ed","alg":"none"}\n${JSON.stringify(claims())}`)]));
write("jwt", "signed-header-crit", Buffer.concat([Buffer.from([32 | 1]),
	Buffer.from(`{"alg":"EdDSA","kid":"fuzz-ed","crit":["exp"],"b64":false}\n${JSON.stringify(claims())}`)]));
write("jwt", "signed-claims-scp", Buffer.concat([Buffer.from([32 | 4 | 8]),
	Buffer.from(JSON.stringify(claims({ client_id: "svc", scp: ["x"] })))]));

// jwks: documents with keys of every kty and crv, members missing, extra and huge
const pub = (type, opts) => gen(type, opts).publicKey.export({ format: "jwk" });
const big = "A".repeat(9000);
const docs = {
	"all": jwks,
	"empty": { keys: [] },
	"rsa": { keys: [jwk("rsa-1")] },
	"rsa-no-e": { keys: [{ ...jwk("rsa-1"), e: undefined }] },
	"rsa-e-empty": { keys: [{ ...jwk("rsa-1"), e: "" }] },
	"rsa-n-huge": { keys: [{ ...jwk("rsa-1"), n: big }] },
	"rsa-n-number": { keys: [{ ...jwk("rsa-1"), n: 12345 }] },
	"rsa-private": { keys: [{ ...gen("rsa", { modulusLength: 1024 }).privateKey.export({ format: "jwk" }), kid: "p" }] },
	"ec-256": { keys: [jwk("ec-256")] },
	"ec-384": { keys: [jwk("ec-384")] },
	"ec-521": { keys: [jwk("ec-521")] },
	"ec-secp256k1": { keys: [{ ...pub("ec", { namedCurve: "secp256k1" }), kid: "k1", alg: "ES256K" }, jwk("rsa-1")] },
	"ec-no-crv": { keys: [{ ...jwk("ec-256"), crv: undefined }] },
	"ec-crv-long": { keys: [{ ...jwk("ec-256"), crv: "P-256-and-much-longer-than-that" }] },
	"ec-x-short": { keys: [{ ...jwk("ec-256"), x: "AAAA" }] },
	"ec-y-huge": { keys: [{ ...jwk("ec-521"), y: big }] },
	"ec-off-curve": { keys: [{ ...jwk("ec-256"), y: jwk("ec-256").x }] },
	"okp-ed25519": { keys: [jwk("ed-1")] },
	"okp-ed25519-x-short": { keys: [{ ...jwk("ed-1"), x: "AAAA" }] },
	"okp-ed25519-no-x": { keys: [{ ...jwk("ed-1"), x: undefined }] },
	"okp-ed25519-x-number": { keys: [{ ...jwk("ed-1"), x: 1 }] },
	"okp-ed448": { keys: [{ ...pub("ed448"), kid: "448" }] },
	"okp-x25519": { keys: [{ ...pub("x25519"), kid: "x" }] },
	"okp-no-crv": { keys: [{ ...jwk("ed-1"), crv: undefined }] },
	"oct": { keys: [{ kty: "oct", k: b64u("secret"), kid: "hs" }, jwk("ed-1")] },
	"use-enc": { keys: [{ ...jwk("rsa-1"), use: "enc" }, jwk("ec-256")] },
	"use-number": { keys: [{ ...jwk("rsa-1"), use: 1 }] },
	"kty-unknown": { keys: [{ kty: "XYZ", kid: "?" }, jwk("ed-1")] },
	"kty-long": { keys: [{ ...jwk("rsa-1"), kty: "RSA-but-longer" }] },
	"kty-missing": { keys: [{ ...jwk("rsa-1"), kty: undefined }] },
	"kty-number": { keys: [{ ...jwk("rsa-1"), kty: 3 }] },
	"key-not-object": { keys: [1, "two", null, [jwk("ed-1")]] },
	"extra-members": { keys: [{ ...jwk("ec-256"), x5c: ["AAAA"], key_ops: ["verify"], extra: { deep: [1, 2, { a: null }] } }], other: true },
	"kid-duplicate": { keys: [jwk("ed-1"), { ...jwk("ec-256"), kid: "ed-1" }] },
	"kid-huge": { keys: [{ ...jwk("ed-1"), kid: big }] },
	"kid-number": { keys: [{ ...jwk("ed-1"), kid: 7, alg: 8 }] },
	"keys-object": { keys: { a: jwk("ed-1") } },
	"no-keys": { key: [] },
};
for (const [name, d] of Object.entries(docs)) write("jwks", name, JSON.stringify(d));
write("jwks", "not-json", "{\"keys\": [");
write("jwks", "array", "[]");
write("jwks", "nul-inside", Buffer.from('{"keys":[]}\u0000garbage'));
write("jwks", "unicode-escapes", '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"\\u0041","kid":"\\ud83d\\ude00"}]}');

// auth: a settings byte (t/fuzz/auth.c), the path, headers, a blank line, and a DER
// client certificate for the mtls settings
const API_KEY = "ci-key-0123456789abcdef0123456789abcdef";   // the key t/fuzz/auth.c configures
const req = (bits, pathname, headers, cert = Buffer.alloc(0)) =>
	Buffer.concat([Buffer.from([bits]), Buffer.from(`${pathname}\n${headers.map((h) => `${h}\n`).join("")}\n`), cert]);
const A = { keys: 1, jwt: 2, oauth: 4, anon: 8, mtls: 16, scopes: 32, get: 64 };
const all = A.keys | A.jwt | A.oauth;
const authSeeds = {
	"jwt-ok": req(all, "/mcp", [`Authorization: Bearer ${tokens.rs256}`]),
	"jwt-eddsa-scoped": req(all | A.scopes, "/mcp", [`authorization: bearer   ${tokens.eddsa}`]),
	"jwt-bad": req(all, "/mcp", [`Authorization: Bearer ${tokens["sig-altered"]}`]),
	"jwt-no-jwt-settings": req(A.keys | A.oauth, "/mcp", [`Authorization: Bearer ${tokens.es256}`]),
	"key-header": req(all, "/mcp", [`X-API-Key: ${API_KEY}`]),
	"key-bearer": req(A.keys, "/mcp", [`Authorization: Bearer ${API_KEY}`]),
	"key-dots": req(all, "/mcp", [`Authorization: Bearer a.b.c`]),
	"key-wrong": req(all | A.scopes, "/mcp", ["X-API-Key: nope"]),
	"basic": req(all, "/mcp", ["Authorization: Basic dXNlcjpwYXNz"]),
	"bearer-empty": req(all, "/mcp", ["Authorization: Bearer    "]),
	"bearer-only": req(all, "/mcp", ["Authorization:    Bearer"]),
	"none-anon": req(A.anon | A.scopes, "/mcp", []),
	"none": req(all, "/mcp", []),
	"metadata": req(all | A.get, "/.well-known/oauth-protected-resource/mcp", []),
	"metadata-root": req(all | A.get, "/.well-known/oauth-protected-resource", []),
	"metadata-post": req(all, "/.well-known/oauth-protected-resource", []),
	"metadata-other": req(all | A.get, "/.well-known/oauth-protected-resourcex", []),
};
// client certificates: a subject with every kind of attribute, one with none
function cert(subj) {
	const dir = fs.mkdtempSync(path.join(fs.realpathSync("/tmp"), "mkauth-"));
	const k = path.join(dir, "k.pem"), c = path.join(dir, "c.der");
	execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", k, "-outform", "DER", "-out", c, "-days", "1", "-subj", subj, "-utf8"], { stdio: "ignore" });
	const der = fs.readFileSync(c);
	fs.rmSync(dir, { recursive: true });
	return der;
}
authSeeds["mtls"] = req(A.mtls | A.keys, "/mcp", [], cert("/CN=client one/O=Example, Inc./C=DE"));
authSeeds["mtls-escapes"] = req(A.mtls, "/mcp", [], cert("/CN=a+b=c;d<e>#f\\\"g/OU=\u00e9t\u00e9 \u2603/emailAddress=x@y"));
authSeeds["mtls-scoped"] = req(A.mtls | A.scopes, "/mcp", [], cert("/CN=scoped"));
for (const [name, bytes] of Object.entries(authSeeds)) write("auth", name, bytes);
