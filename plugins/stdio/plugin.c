#include "stdio.h"

MF_PLUGIN(.name = "stdio", .version = "1",
          .description = "MCP over stdin/stdout: serve a client, or run an upstream server",
          .transport = &stdio_transport_ops, .provider = &stdio_provider_ops,
          .transport_settings = stdio_transport_settings, .provider_settings = stdio_provider_settings);
