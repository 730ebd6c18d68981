-- Pin a tool to one provider's targets: calls of "search__web" go to provider "search-eu"
-- only (its replicas, least busy first); every other call goes to the least busy healthy
-- target among its candidates.
--
-- A call's candidates are the targets of the provider that owns the tool and of that
-- provider's fallbacks, so "search-eu" must be one of them: the owner ("search", whose
-- prefix makes search__web) lists it, { name = "search", ..., fallback = { "search-eu" } }.
local M = {}

local function least_busy(candidates, keep)
  local list = {}
  for _, c in ipairs(candidates) do
    if keep(c) and c.healthy and not c.draining then list[#list + 1] = c end
  end
  table.sort(list, function(a, b)
    if a.inflight ~= b.inflight then return a.inflight < b.inflight end
    return a.id < b.id
  end)
  local ids = {}
  for _, c in ipairs(list) do ids[#ids + 1] = c.id end
  return ids
end

function M.route(request, candidates)
  if request.name == "search__web" then
    local ids = least_busy(candidates, function(c) return c.provider == "search-eu" end)
    if #ids == 0 then return nil, "search__web is served by search-eu only, and it is down" end
    return ids
  end
  return least_busy(candidates, function() return true end)
end

return M
