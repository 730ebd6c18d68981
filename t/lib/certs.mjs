// Certificates for TLS tests, made by the openssl command into a fresh directory:
//   const c = makeCerts()   // { dir, ca, serverCert, serverKey, clientCert, clientKey, ... }
//   ca: the test CA (PEM path); server: 127.0.0.1 (subjectAltName IP) signed by it;
//   client (CN=alice), expired client (CN=old), a client of another CA (CN=mallory);
//   server2: another server certificate for 127.0.0.1 (for reloads), same CA;
//   nameless, blank: clients of the CA with an empty subject, named in subjectAltName
//   (DNS:bot.example first) or not at all.
//   fingerprint(pemPath): SHA-256 of a certificate, "AB:CD:..." as Node prints it.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { scratchDir } from "./harness.mjs";

const ossl = (dir, ...args) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });

function makeCa(dir, name) {
	ossl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
		"-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.pem`);
	return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

// A certificate for subj signed by ca; ext: extensions text; days = -1 makes it expired.
function issue(dir, ca, name, subj, ext, days = 30) {
	ossl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subj,
		"-keyout", `${name}.key`, "-out", `${name}.csr`);
	fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
	// -days -1: it ended a day before it began, before now
	ossl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
		"-days", String(days), "-extfile", `${name}.ext`, "-out", `${name}.pem`);
	return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

export function makeCerts() {
	const dir = fs.mkdtempSync(path.join(scratchDir(), "certs-"));
	const ca = makeCa(dir, "ca");
	const other = makeCa(dir, "otherca");
	const serverExt = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
	const clientExt = "extendedKeyUsage=clientAuth\n";
	const server = issue(dir, ca, "server", "/CN=127.0.0.1", serverExt);
	const server2 = issue(dir, ca, "server2", "/CN=127.0.0.1", serverExt);
	const client = issue(dir, ca, "client", "/O=Example/CN=alice", clientExt);
	const expired = issue(dir, ca, "expired", "/CN=old", clientExt, -1);
	const stranger = issue(dir, other, "stranger", "/CN=mallory", clientExt);
	// an empty subject: the holder named in subjectAltName alone, or not at all
	const nameless = issue(dir, ca, "nameless", "/", `subjectAltName=DNS:bot.example,email:bot@example.com\n${clientExt}`);
	const blank = issue(dir, ca, "blank", "/", clientExt);
	return { dir, ca: ca.cert, server, server2, client, expired, stranger, nameless, blank };
}

export const fingerprint = (pemPath) => new X509Certificate(fs.readFileSync(pemPath)).fingerprint256;
