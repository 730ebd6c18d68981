// mcpfed as a service: the admin socket's default place (the embedded default opens it
// under $XDG_RUNTIME_DIR or systemd's $RUNTIME_DIRECTORY, mcpfedctl finds it there), a second
// gateway refused a live socket, SIGHUP reloading the configuration as `reload config` does,
// and systemd's notification protocol over a datagram socket of the test's
// (t/lib/notify_socket.py): READY=1 once the listener accepts, WATCHDOG=1 with
// WATCHDOG_USEC, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 on SIGTERM. The unit
// file passes systemd-analyze verify where it is installed.
// Run: MCPFED_BIN=build/mcpfed MCPFED_BUILDDIR=build MCPFED_PLUGIN_PATH=build/plugins t/run-node-test t/integration/daemon.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
	admin, closeAfter, faulty, logTail, lua, mcpfedBin, scratchDir, startProcess, startStdio, waitFor, writeConfig,
} from "../lib/harness.mjs";

const tDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = process.env.MCPFED_BUILDDIR ?? path.join(tDir, "..", "build");
const ctlBin = () => path.join(path.dirname(mcpfedBin()), "tools", "mcpfedctl");
// the environment without what would choose another default place
const bareEnv = (extra) => ({ MCPFED_SOCKET: undefined, RUNTIME_DIRECTORY: undefined, XDG_RUNTIME_DIR: undefined, ...extra });
const cleanEnv = (extra) => Object.fromEntries(Object.entries({ ...process.env, ...bareEnv(extra) }).filter(([, v]) => v !== undefined));
const tail = (gw) => logTail(gw.stderrText(), 4000);

// A configuration file whose admin socket is the default place: admin = mcpfed.admin_socket.
const defaultAdminConfig = (top) => writeConfig(`local c = ${lua(top)}\nc.admin = mcpfed.admin_socket\nreturn c\n`);

test("--check: the embedded default's admin socket is $XDG_RUNTIME_DIR/mcpfed/admin.sock, $RUNTIME_DIRECTORY's, none with --stdio", () => {
	const run = (args, env) => spawnSync(mcpfedBin(), args, { encoding: "utf8", timeout: 20000, env: cleanEnv(env) });
	const xdg = scratchDir();
	let r = run(["--check"], { XDG_RUNTIME_DIR: xdg });
	assert.equal(r.status, 0, r.stderr);
	assert.match(r.stdout, new RegExp(`\\nmcpfed: admin socket: ${xdg}/mcpfed/admin\\.sock\\n`));
	r = run(["--check"], { XDG_RUNTIME_DIR: xdg, RUNTIME_DIRECTORY: "/run/mcpfed-unit:/run/other" });
	assert.match(r.stdout, /\nmcpfed: admin socket: \/run\/mcpfed-unit\/admin\.sock\n/);
	r = run(["--check", "--stdio"], { XDG_RUNTIME_DIR: xdg });
	assert.equal(r.status, 0, r.stderr);
	assert.doesNotMatch(r.stdout, /admin socket/, "no admin socket with --stdio");
	if (process.getuid() !== 0) {
		r = run(["--check"], {});
		assert.doesNotMatch(r.stdout, /admin socket/, "no default place for a user without XDG_RUNTIME_DIR");
	}
});

test("mcpfedctl finds the default socket; a second gateway on it is refused and the first keeps it", async (t) => {
	const xdg = scratchDir();
	const config = defaultAdminConfig({ providers: [faulty("a")] });
	const sock = path.join(xdg, "mcpfed", "admin.sock");
	const first = closeAfter(t, startStdio({ config, env: bareEnv({ XDG_RUNTIME_DIR: xdg }) }));
	await first.initialize();
	await waitFor(() => fs.existsSync(sock), { what: `${sock}${tail(first)}` });
	assert.equal(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700, "its directory is private");
	const ctl = (env) => spawnSync(ctlBin(), ["--json", "status"], { encoding: "utf8", timeout: 10000, env: cleanEnv(env) });
	let r = ctl({ XDG_RUNTIME_DIR: xdg });
	assert.equal(r.status, 0, `mcpfedctl status: ${r.stderr}${tail(first)}`);
	assert.equal(JSON.parse(r.stdout).pid, first.pid, "the first gateway answers");

	const second = closeAfter(t, startStdio({ config, env: bareEnv({ XDG_RUNTIME_DIR: xdg }) }));
	const st = await second.waitExit(10000);
	assert.equal(st.code, 1, `the second gateway fails${tail(second)}`);
	assert.match(second.stderrText(), new RegExp(`admin: ${sock.replace(/[.]/g, "\\.")} is in use by a running gateway`));
	r = ctl({ XDG_RUNTIME_DIR: xdg });
	assert.equal(r.status, 0, r.stderr);
	assert.equal(JSON.parse(r.stdout).pid, first.pid, "the socket is still the first gateway's");
	const res = await first.request("tools/list", {});
	assert.ok(res.result.tools.some((x) => x.name === "a__echo"), "the first gateway serves on");

	// with no default place that exists and none given, mcpfedctl names where it looked
	r = ctl({ XDG_RUNTIME_DIR: scratchDir() });
	assert.equal(r.status, 2);
	assert.match(r.stderr, /cannot reach mcpfed at \S+\/mcpfed\/admin\.sock/);
});

// t/lib/notify_socket.py bound in a scratch directory: next(pred) resolves to the first
// notification (an object of its assignments) not consumed yet that matches.
async function notifySocket(t) {
	const sockPath = path.join(scratchDir(), "notify.sock");
	const helper = startProcess(["python3", path.join(tDir, "lib", "notify_socket.py"), sockPath]);
	t.after(() => { helper.kill("SIGKILL"); });
	await waitFor(() => helper.stdoutLines.includes("bound"), { what: "the notify socket bound" });
	let seen = 1;
	return {
		path: sockPath,
		all: () => helper.stdoutLines.slice(1).map((l) => JSON.parse(l)),
		async next(pred, what) {
			let found;
			await waitFor(() => {
				for (; seen < helper.stdoutLines.length; seen++) {
					const m = JSON.parse(helper.stdoutLines[seen]);
					if (pred(m)) { seen++; found = m; return true; }
				}
				return false;
			}, { timeout: 15000, what });
			return found;
		},
	};
}

test("sd_notify: READY=1 once the listener accepts, WATCHDOG=1, RELOADING=1 and READY=1 around SIGHUP, STOPPING=1", async (t) => {
	const notify = await notifySocket(t);
	const sock = path.join(scratchDir(), "admin.sock");
	const top = (name) => ({ admin: sock, listen: ["http://127.0.0.1:0/mcp"], providers: [faulty(name)] });
	const file = writeConfig(`return ${lua(top("a"))}\n`);
	const gw = closeAfter(t, startStdio({ config: file, env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: "200000" } }));
	const ready = await notify.next((m) => m.READY === "1", "READY=1");
	assert.equal(ready.MAINPID, String(gw.pid));
	// ready means serving: the listener accepts, the catalog is whole
	const url = /info http: listening url=(\S+)/.exec(gw.stderrText())?.[1];
	assert.ok(url, `the listener logged its URL before READY=1${tail(gw)}`);
	const port = Number(new URL(url).port);
	await new Promise((resolve, reject) => {
		const c = net.connect(port, "127.0.0.1", () => { c.destroy(); resolve(); });
		c.on("error", reject);
	});
	assert.equal((await admin(sock, "status")).body.catalog_settled, true, "the catalog settled before READY=1");
	const before = notify.all().length;
	await notify.next((m) => m.WATCHDOG === "1", "WATCHDOG=1");
	await notify.next((m) => m.WATCHDOG === "1", "WATCHDOG=1 again");
	assert.ok(notify.all().length > before);

	// SIGHUP: the provider renamed in the file is what tools/list shows next
	fs.writeFileSync(file, `return ${lua(top("b"))}\n`);
	gw.kill("SIGHUP");
	await notify.next((m) => m.RELOADING === "1", "RELOADING=1");
	await notify.next((m) => m.READY === "1", "READY=1 after the reload");
	const names = (await gw.request("tools/list", {})).result.tools.map((x) => x.name);
	assert.ok(names.includes("b__echo") && !names.includes("a__echo"), `tools after SIGHUP: ${names}${tail(gw)}`);
	const providers = (await admin(sock, "providers")).body.providers.map((p) => p.name);
	assert.deepEqual(providers, ["b"]);
	assert.match(gw.stderrText(), /daemon: configuration reloaded \(SIGHUP\)/);

	// a refused file: framed the same, the log says why, the gateway serves the one in force
	fs.writeFileSync(file, "return { nosuchkey = 1 }\n");
	gw.kill("SIGHUP");
	await notify.next((m) => m.RELOADING === "1", "RELOADING=1 (refused)");
	const again = await notify.next((m) => m.READY === "1", "READY=1 after the refusal");
	assert.match(again.STATUS, /refused/);
	await waitFor(() => /daemon: configuration reload refused \(SIGHUP\) reason=".*nosuchkey/.test(gw.stderrText()), { what: `the refusal logged${tail(gw)}` });
	assert.ok((await gw.request("tools/list", {})).result.tools.some((x) => x.name === "b__echo"));

	gw.kill("SIGTERM");
	await notify.next((m) => m.STOPPING === "1", "STOPPING=1");
	const st = await gw.waitExit(15000);
	assert.equal(st.code, 0, tail(gw));
});

test("without NOTIFY_SOCKET nothing is sent and SIGHUP still reloads", async (t) => {
	const sock = path.join(scratchDir(), "admin.sock");
	const file = writeConfig(`return ${lua({ admin: sock, providers: [faulty("a")] })}\n`);
	const gw = closeAfter(t, startStdio({ config: file, env: { NOTIFY_SOCKET: undefined } }));
	await gw.initialize();
	fs.writeFileSync(file, `return ${lua({ admin: sock, providers: [faulty("a"), faulty("c")] })}\n`);
	gw.kill("SIGHUP");
	await waitFor(() => /daemon: configuration reloaded/.test(gw.stderrText()), { what: `the reload${tail(gw)}` });
	const providers = (await admin(sock, "providers")).body.providers.map((p) => p.name);
	assert.deepEqual(providers, ["a", "c"]);
});

test("the systemd unit: what make builds passes systemd-analyze verify", (t) => {
	const unit = path.join(buildDir, "etc", "mcpfed.service");
	assert.ok(fs.existsSync(unit), `${unit} is built by make`);
	const text = fs.readFileSync(unit, "utf8");
	for (const line of ["Type=notify", "ExecReload=", "WatchdogSec=", "RuntimeDirectory=mcpfed", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=read-only"])
		assert.ok(text.includes(`\n${line}`), `the unit has ${line}`);
	assert.doesNotMatch(text, /@[a-z]+@/, "every @variable@ substituted");
	const which = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
	if (which.error) return t.skip("systemd-analyze is not installed");
	// verify resolves ExecStart's binaries: a copy naming this build's
	const dir = scratchDir();
	const copy = path.join(dir, "mcpfed.service");
	fs.writeFileSync(copy, text.replace(/^(Exec\w+=)\S+\/(mcpfed|mcpfedctl)\b/gm,
		(m, k, bin) => `${k}${bin === "mcpfed" ? mcpfedBin() : ctlBin()}`));
	const r = spawnSync("systemd-analyze", ["verify", "--man=no", copy], { encoding: "utf8", timeout: 30000 });
	const complaints = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.includes("mcpfed.service"));
	assert.deepEqual(complaints, [], `systemd-analyze verify:\n${r.stdout}${r.stderr}`);
});
