-- Helpers for configurations that build on each other:
--
--   local config = require "mcpfed.config"
--   local base = dofile(mcpfed.config_dir .. "/base.lua")
--   return config.extend(base, { log_level = "debug" })
local M = {}

local function is_list(t)
  return type(t) == "table" and (next(t) == nil or t[1] ~= nil)
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

-- A copy of base with overrides applied: tables of named keys merge key by key; lists
-- and plain values replace what base had.
function M.extend(base, overrides)
  local out = copy(base)
  for k, v in pairs(overrides or {}) do
    if type(v) == "table" and not is_list(v) and type(out[k]) == "table" and not is_list(out[k]) then
      out[k] = M.extend(out[k], v)
    else
      out[k] = copy(v)
    end
  end
  return out
end

-- The provider called name in a providers list, or nil; change it in place to adjust it.
function M.provider(providers, name)
  for _, p in ipairs(providers or {}) do
    if p.name == name then return p end
  end
  return nil
end

return M
