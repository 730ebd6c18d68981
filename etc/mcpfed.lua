-- mcpfed's embedded default configuration: what `mcpfed` runs when given no -c FILE.
-- Copy it, edit it, and run `mcpfed -c yours.lua`; `mcpfed --check -c yours.lua` checks it.
return {
  log_level = "info",
  providers = {
    -- The reference MCP server, fetched and run by npx on first use.
    { name = "everything", transport = "stdio",
      command = { "npx", "-y", "@modelcontextprotocol/server-everything" } },
  },
}
