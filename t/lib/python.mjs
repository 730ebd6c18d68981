// The python provider in tests: its settings with the test module, and the wait for its
// tools to be listed.
import { serverPath, waitFor } from "./harness.mjs";

export const pyModule = serverPath("python/faults.py");

export const pyProvider = (extra = {}) => ({ name: "py", transport: "python", module: pyModule, workers: 1, ...extra });

// Resolves to the tools/list once tools of the provider (prefix py__ by default) are in it.
export async function pyReady(gw, prefix = "py__", { timeout = 10000 } = {}) {
	let tools = [];
	await waitFor(async () => {
		tools = (await gw.request("tools/list")).result?.tools ?? [];
		return tools.some((x) => x.name.startsWith(prefix));
	}, { timeout, interval: 50, what: `the tools of ${prefix}` });
	return tools;
}
