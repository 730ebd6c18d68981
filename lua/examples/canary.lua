-- Canary: 5% of calls go to the new version, the rest to the stable one; if the canary
-- cannot take a call (it fails before the upstream got it), the stable targets do.
--
-- The new version runs as a provider of its own with tags = { "canary" }, declared as a
-- fallback of the stable provider, so that its targets are candidates for the stable
-- one's calls:
--
--   { name = "search", transport = "stdio", command = {...}, fallback = { "search-next" } },
--   { name = "search-next", transport = "stdio", command = {...}, tags = { "canary" } },
--
-- Each call is drawn on its own. To keep each client on one version instead, draw from
-- the session: mcpfed.hash(tostring(request.session)) % 100 < 5.
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
  local to_canary = math.random(100) <= 5
  local first, second = stable, canary
  if to_canary and #canary > 0 then first, second = canary, stable end
  local out = {}
  for _, id in ipairs(first) do out[#out + 1] = id end
  for _, id in ipairs(second) do out[#out + 1] = id end
  return out
end

return M
