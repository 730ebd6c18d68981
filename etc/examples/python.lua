-- Python tools: the standard-library module and the NumPy one, each run by a supervised
-- pool of worker processes (see README.md, "Python tools").
--   mcpfed -c etc/examples/python.lua
-- Paths are relative to where mcpfed runs (the top of the source tree here).
return {
  admin = "/tmp/mcpfed-python.sock",   -- reload py / reload vec after editing a module
  providers = {
    { name = "py", transport = "python", module = "etc/examples/tools.py", workers = 2 },
    {
      name = "vec", transport = "python", module = "etc/examples/vectors.py", workers = 2,
      batch_window_ms = 2, batch_max = 64,   -- similarity calls arriving together: one batch
      max_rss_mb = 512,                       -- a worker over this is killed and restarted
      restart = { intensity = 10, period_ms = 60000 },
    },
  },
}
