-- Tools mcpfed runs itself, no network needed: read-only SQL over the example shop
-- database (shop.db, made from shop.sql) and the files of this folder.
--   ./mcpfed --stdio -c ../etc/examples/facts.lua
return {
  providers = {
    { name = "shop", transport = "sql", databases = { shop = mcpfed.config_dir .. "/shop.db" } },
    { name = "examples", transport = "files", roots = { examples = mcpfed.config_dir } },
  },
}
