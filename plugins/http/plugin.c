#include "http.h"

MF_PLUGIN(.name = "http", .version = "1",
          .description = "MCP Streamable HTTP: serve clients on listeners, reach upstream servers",
          .transport = &http_transport_ops, .provider = &http_provider_ops);
