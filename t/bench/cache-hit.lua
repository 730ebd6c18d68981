-- wrk script: the same request over and over on one session of the session era:
-- MCPFED_METHOD "ping", or "tools/call" of MCPFED_TOOL with the same arguments each time (a
-- cache hit once the first is answered).
local session = os.getenv("MCPFED_SESSION")
local method = os.getenv("MCPFED_METHOD") or "ping"
local tool = os.getenv("MCPFED_TOOL") or "up__counted"
local counter = 0
local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json, text/event-stream",
  ["Mcp-Session-Id"] = session, ["MCP-Protocol-Version"] = "2025-11-25" }

request = function()
  counter = counter + 1
  local body
  if method == "ping" then
    body = string.format('{"jsonrpc":"2.0","id":%d,"method":"ping"}', counter)
  else
    body = string.format('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s","arguments":{"a":1,"text":"x"}}}',
      counter, tool)
  end
  return wrk.format("POST", nil, headers, body)
end

-- every answer must be a result: each thread counts anything else
bad = 0
response = function(status, headers, body)
  if status ~= 200 or not body:find('"result"', 1, true) then bad = bad + 1 end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("answers that were not results: %d\n", total))
end
