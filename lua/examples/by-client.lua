-- Route by client: calls from clients named "ci-bot" go to targets tagged "batch"; all
-- other clients avoid them while another target is healthy.
local M = {}

local function has_tag(c, tag)
  for _, t in ipairs(c.tags) do if t == tag then return true end end
  return false
end

function M.route(request, candidates)
  local batch = request.client.name == "ci-bot"
  local first, rest = {}, {}
  for _, c in ipairs(candidates) do
    if not c.draining then
      local fits = has_tag(c, "batch") == batch and c.healthy
      table.insert(fits and first or rest, c.id)
    end
  end
  for _, id in ipairs(rest) do first[#first + 1] = id end
  return first
end

return M
