-- wrk script: one tools/call per request, revision 2026-07-28 (no session needed) or,
-- with MCPFED_SESSION set, the session era on that session. The arguments are {"n": the
-- request's number}, or the JSON text MCPFED_ARGS each time. With MCPFED_METHOD=ping (the
-- session era), a ping instead. MCPFED_AUTH, when set, is sent as the Authorization header.
local auth = os.getenv("MCPFED_AUTH")
if auth == "" then auth = nil end
local session = os.getenv("MCPFED_SESSION")
if session == "" then session = nil end
local tool = os.getenv("MCPFED_TOOL") or "lb__echo"
local fixed = os.getenv("MCPFED_ARGS")
if fixed == "" then fixed = nil end
local ping = os.getenv("MCPFED_METHOD") == "ping"
local counter = 0

request = function()
  counter = counter + 1
  local body, headers
  local args = fixed or string.format('{"n":%d}', counter)
  if session then
    body = string.format('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s","arguments":%s}}',
      counter, tool, args)
    if ping then body = string.format('{"jsonrpc":"2.0","id":%d,"method":"ping"}', counter) end
    headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json, text/event-stream",
      ["Mcp-Session-Id"] = session, ["MCP-Protocol-Version"] = "2025-11-25" }
  else
    body = string.format('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s","arguments":%s,' ..
      '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}',
      counter, tool, args)
    headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json, text/event-stream",
      ["MCP-Protocol-Version"] = "2026-07-28", ["Mcp-Method"] = "tools/call", ["Mcp-Name"] = tool }
  end
  if auth then headers["Authorization"] = auth end
  return wrk.format("POST", nil, headers, body)
end

-- every answer must be a result, and no tool error: each thread counts anything else
bad = 0
response = function(status, headers, body)
  if status ~= 200 or not body:find('"result"', 1, true) or body:find('"isError":true', 1, true) then
    bad = bad + 1
  end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("answers that were not results: %d\n", total))
end
