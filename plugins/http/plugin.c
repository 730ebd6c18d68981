#include "http.h"

MF_PLUGIN(.name = "http", .version = "1",
          .description = "MCP Streamable HTTP: serve clients on listeners, reach upstream servers",
          .transport = &http_transport_ops, .provider = &http_provider_ops,
          .transport_settings = http_transport_settings, .provider_settings = http_provider_settings);
