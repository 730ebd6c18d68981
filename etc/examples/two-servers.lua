-- Two reference servers, installed by npx on first use. The memory server keeps its
-- graph next to this file.
return {
  providers = {
    { name = "everything", transport = "stdio",
      command = { "npx", "-y", "@modelcontextprotocol/server-everything" } },
    { name = "memory", transport = "stdio", prefix = "mem",
      command = { "npx", "-y", "@modelcontextprotocol/server-memory" },
      env = { MEMORY_FILE_PATH = mcpfed.config_dir .. "/memory.jsonl" } },
  },
}
