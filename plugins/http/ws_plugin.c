#include "http.h"

/* The same server as http.so (a ws:// listener takes WebSocket upgrades only); the
 * provider reaches upstream servers over WebSocket. */
MF_PLUGIN(.name = "ws", .version = "1",
          .description = "MCP over WebSocket: serve clients on ws:// listeners, reach upstream servers",
          .transport = &http_transport_ops, .provider = &ws_provider_ops,
          .transport_settings = http_transport_settings, .provider_settings = ws_provider_settings);
