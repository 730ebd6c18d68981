/* The stdio plugin: MCP over newline-delimited JSON-RPC on standard streams. */
#ifndef STDIO_PLUGIN_H
#define STDIO_PLUGIN_H

#include <mcpfed/mcpfed.h>

extern const mf_role_ops stdio_transport_ops;   /* server.c: serve the client on our stdio */
extern const mf_role_ops stdio_provider_ops;    /* client.c: run an upstream server as a child */
extern const mf_setting stdio_transport_settings[];
extern const mf_setting stdio_provider_settings[];


#endif
