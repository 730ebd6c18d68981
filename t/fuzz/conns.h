/* For the fuzz targets of the http plugin's connection layer (http_conn, ws_conn): a set
 * of connections listening on 127.0.0.1, and one client's bytes sent to it. */
#ifndef MF_FUZZ_CONNS_H
#define MF_FUZZ_CONNS_H

#include "../../plugins/http/http.h"
#include "net.h"

/* Start the loop and listen with a connection set of these limits and app; everything is
 * closed at exit. Returns the set; *port is where it listens. */
http_conns *fuzz_conns_start(const http_limits *limits, const http_app *app, int *port);
/* One client: after prefix (may be empty), the input as steered by its first byte (bit 0
 * shut the client's side after sending, bit 1 send in pieces of 2^(bits 2-4) bytes letting
 * the server run between them, bit 5 leave without reading); then every connection must
 * end within 3 s. Returns false if one did not. */
bool fuzz_conns_client(http_conns *cs, int port, const char *prefix, const uint8_t *data, size_t size);

#endif
