-- mcpfed's default routing policy.
--
-- route(request, candidates) ranks the targets a call may go to: the replicas of the
-- provider that owns what the call names, then those of its fallback providers. It
-- returns their ids, best first (the kernel tries them in that order, skipping those
-- whose circuit breaker refuses), or nil and a reason to refuse the call.
--
-- This one sends a call to the healthy target with the least work: calls in flight,
-- weighted by its recent latency and its configured weight. Targets whose breaker is
-- open go last (the breaker decides when they may be tried again), draining ones never.
-- A fallback provider's targets come after the owner's that are ready, but before the
-- owner's that are not (unhealthy, down, or behind an open breaker): a hung owner whose
-- pings fail does not keep the calls while a fallback could answer them. Ties keep
-- configuration order.
local M = {}

function M.route(request, candidates)
  local ids, keys, m = {}, {}, 0
  for i = 1, #candidates do
    local c = candidates[i]
    if not c.draining then
      local b = c.breaker
      local ready = c.healthy and b ~= "open" and b ~= "forced_open"
      -- the group decides first: owner ready, fallback ready, owner not, fallback not
      local group = (ready and 0 or 2) + (c.fallback and 1 or 0)
      local w = c.weight > 0 and c.weight or 1
      m = m + 1
      ids[m] = c.id
      keys[m] = group * 1e15 + (c.inflight + 1) * (c.latency_ms + 1) / w
    end
  end
  -- insertion sort: a handful of targets
  for i = 2, m do
    local k, id = keys[i], ids[i]
    local j = i - 1
    while j >= 1 and (keys[j] > k or (keys[j] == k and ids[j] > id)) do
      keys[j + 1], ids[j + 1] = keys[j], ids[j]
      j = j - 1
    end
    keys[j + 1], ids[j + 1] = k, id
  end
  return ids
end

return M
