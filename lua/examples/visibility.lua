-- Who sees what: read-only tools (annotations.readOnlyHint, the upstream's or the
-- provider's `annotations` key) for everyone; every other tool, and every prompt and
-- resource, only for callers allowed to write: a subject whose scopes hold "tools:write"
-- when the caller authenticated (request.identity.method "jwt", "key" or "mtls"; or the
-- local user of the stdio transport, when the configuration gives it scopes), else a
-- client whose name starts with "admin-". What a caller may not see it cannot call either: mcpfed answers it as an
-- unknown tool. Routing is left as configured (candidates in their order).
local M = {}

local function has_scope(identity, want)
  for _, s in ipairs(identity.scopes or {}) do
    if s == want then return true end
  end
  return false
end

local function may_write(request)
  local id = request.identity
  if id.method ~= "anonymous" and (id.method ~= "local" or #id.scopes > 0) then
    return has_scope(id, "tools:write")
  end
  local name = request.client and request.client.name
  return name ~= nil and name:sub(1, 6) == "admin-"
end

function M.visible(request, item)
  if item.kind == "tool" and item.annotations.readOnlyHint == true then
    return true
  end
  return may_write(request)
end

function M.route(request, candidates)
  local ids = {}
  for i, c in ipairs(candidates) do ids[i] = c.id end
  return ids
end

return M
