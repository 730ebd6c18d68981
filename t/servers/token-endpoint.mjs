// An OAuth 2.0 token endpoint doing RFC 8693 token exchange, for the credentials tests.
// POST /token (application/x-www-form-urlencoded, client authentication with HTTP Basic):
// answers {access_token: "xchg-<n>", token_type: "Bearer", expires_in,
// issued_token_type}. Side channel: GET /requests lists what it received ({basic, form});
// POST /control with JSON {expires_in, delay_ms, fail: {status, error}} changes how it
// answers from then on (fail: null answers again).
// Prints "token-endpoint listening port=N" on stderr.
import http from "node:http";

const requests = [];
let control = { expires_in: 3600, delay_ms: 0, fail: null };
let issued = 0;

const json = (res, status, body) => {
	res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
	res.end(JSON.stringify(body));
};

const server = http.createServer((req, res) => {
	let body = "";
	req.on("data", (d) => { body += d; });
	req.on("end", () => {
		if (req.method === "GET" && req.url === "/requests") return json(res, 200, requests);
		if (req.method === "POST" && req.url === "/control") {
			control = { ...control, ...JSON.parse(body) };
			return json(res, 200, control);
		}
		if (req.method !== "POST" || req.url !== "/token") return json(res, 404, {});
		const form = Object.fromEntries(new URLSearchParams(body));
		const basicHeader = req.headers.authorization ?? "";
		const basic = basicHeader.startsWith("Basic ")
			? Buffer.from(basicHeader.slice(6), "base64").toString() : null;
		requests.push({ basic, contentType: req.headers["content-type"], form });
		const answer = () => {
			if (control.fail)
				return json(res, control.fail.status, { error: control.fail.error, error_description: "refused by the test" });
			if (basic !== "gateway-client:s3cret%2Fpart") return json(res, 401, { error: "invalid_client" });
			if (form.grant_type !== "urn:ietf:params:oauth:grant-type:token-exchange" || !form.subject_token)
				return json(res, 400, { error: "invalid_request" });
			issued++;
			json(res, 200, {
				access_token: `xchg-${issued}`,
				issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
				token_type: "Bearer",
				expires_in: control.expires_in,
			});
		};
		if (control.delay_ms) setTimeout(answer, control.delay_ms);
		else answer();
	});
});
server.listen(0, "127.0.0.1", () => process.stderr.write(`token-endpoint listening port=${server.address().port}\n`));
