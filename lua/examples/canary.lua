-- Canary: 5% of calls go to targets tagged "canary" (a provider with tags = { "canary" },
-- declared as a fallback of the stable one), chosen by a hash of the session so that one
-- client sees one version; if the canary fails before the upstream got the call, the
-- stable targets take it.
local M = {}

local function is_canary(c)
  for _, t in ipairs(c.tags) do if t == "canary" then return true end end
  return false
end

function M.route(request, candidates)
  local canary, stable = {}, {}
  for _, c in ipairs(candidates) do
    if c.healthy and not c.draining then
      table.insert(is_canary(c) and canary or stable, c.id)
    end
  end
  local to_canary = mcpfed.hash(tostring(request.session)) % 100 < 5
  local first, second = stable, canary
  if to_canary and #canary > 0 then first, second = canary, stable end
  local out = {}
  for _, id in ipairs(first) do out[#out + 1] = id end
  for _, id in ipairs(second) do out[#out + 1] = id end
  return out
end

return M
