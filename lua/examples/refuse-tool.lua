-- Refuse a tool for some clients: "admin__delete_everything" only for clients whose name
-- starts with "ops-"; everyone else gets the reason as their JSON-RPC error.
local M = {}

function M.route(request, candidates)
  if request.name == "admin__delete_everything" and not (request.client.name or ""):match("^ops%-") then
    return nil, "admin__delete_everything is for the operations team's clients only"
  end
  local ids = {}
  for _, c in ipairs(candidates) do
    if c.healthy and not c.draining then ids[#ids + 1] = c.id end
  end
  return ids
end

return M
