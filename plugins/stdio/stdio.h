/* The stdio plugin: MCP over newline-delimited JSON-RPC on standard streams. */
#ifndef STDIO_PLUGIN_H
#define STDIO_PLUGIN_H

#include <mcpfed/mcpfed.h>

extern const mf_role_ops stdio_transport_ops;   /* server.c: serve the client on our stdio */
extern const mf_role_ops stdio_provider_ops;    /* client.c: run an upstream server as a child */

#define STDIO_DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)

#endif
