-- mcpfed's embedded default configuration: what `mcpfed` runs when given no -c FILE.
-- Copy it, edit it, and run `mcpfed -c yours.lua`; `mcpfed --check -c yours.lua` checks it.
return {
  log_level = "info",
  -- MCP over Streamable HTTP on loopback only. With --stdio mcpfed serves its stdin and
  -- stdout instead, so that a desktop client can start one per window.
  listen = mcpfed.stdio and {} or { "http://127.0.0.1:8808/mcp" },
  -- The admin socket, for mcpfedctl: $RUNTIME_DIRECTORY/admin.sock under systemd, else
  -- $XDG_RUNTIME_DIR/mcpfed/admin.sock, else /run/mcpfed/admin.sock for root (none for
  -- others). Not with --stdio, where a desktop client may start several gateways at once.
  admin = not mcpfed.stdio and mcpfed.admin_socket or nil,
  -- Prometheus metrics, /healthz, /readyz and the /status page on a listener of their
  -- own, on loopback.
  metrics = not mcpfed.stdio and "http://127.0.0.1:9808/metrics" or nil,
  providers = {
    -- The reference MCP server, fetched and run by npx on first use.
    { name = "everything", transport = "stdio",
      command = { "npx", "-y", "@modelcontextprotocol/server-everything" } },
    -- Tools mcpfed runs itself, with no network: read-only SQL over the example shop
    -- database, the example files, read-only, and Python tools.
    { name = "shop", transport = "sql", databases = { shop = mcpfed.examples_dir .. "/shop.db" } },
    { name = "examples", transport = "files", roots = { examples = mcpfed.examples_dir } },
    -- Tools written in Python (statistics, text diff, dates, JSON queries), run by a
    -- supervised worker process (python3 with python3-msgpack).
    { name = "py", transport = "python", module = mcpfed.examples_dir .. "/tools.py" },
  },
}
