-- mcpfed's default routing policy.
--
-- route(request, candidates) ranks the targets a call may go to: the replicas of the
-- provider that owns what the call names, then those of its fallback providers. It
-- returns their ids, best first (the kernel tries them in that order, skipping those
-- whose circuit breaker refuses), or nil and a reason to refuse the call.
--
-- This one sends a call to the healthy target with the least work: calls in flight,
-- weighted by its recent latency and its configured weight. Targets whose breaker is
-- open go last (the breaker decides when they may be tried again), draining ones never,
-- and the fallback providers' targets only after every target of the owner.
local M = {}

local function cost(c)
  return (c.inflight + 1) * (c.latency_ms + 1) / (c.weight > 0 and c.weight or 1)
end

local function better(a, b)
  local ca, cb = cost(a), cost(b)
  if ca ~= cb then return ca < cb end
  return a.id < b.id   -- ties stay in configuration order
end

function M.route(request, candidates)
  local groups = { {}, {}, {}, {} }   -- owner healthy, owner not, fallback healthy, fallback not
  for _, c in ipairs(candidates) do
    if not c.draining then
      local ready = c.healthy and c.breaker ~= "open" and c.breaker ~= "forced_open"
      local g = (c.fallback and 2 or 0) + (ready and 1 or 2)
      table.insert(groups[g], c)
    end
  end
  local order = {}
  for _, g in ipairs(groups) do
    table.sort(g, better)
    for _, c in ipairs(g) do order[#order + 1] = c.id end
  end
  return order
end

return M
