// Preload (node --import) that forces every TCP listen() onto 127.0.0.1, for servers that
// bind all interfaces and have no host option (server-everything's streamableHttp mode).
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
	const [first] = args;
	if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
		// listen(port[, host][, backlog][, cb]): keep the port and the callback only
		const cb = args.find((a) => typeof a === "function");
		return listen.call(this, { port: Number(first), host: "127.0.0.1" }, cb);
	}
	if (first && typeof first === "object" && first.path === undefined && !(first instanceof net.Server) && first.fd === undefined
		&& first._handle === undefined && first.handle === undefined) {
		args[0] = { ...first, host: "127.0.0.1" };
	}
	return listen.apply(this, args);
};
