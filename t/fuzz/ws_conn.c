/* Fuzz target: WebSocket connections of the http transport (plugins/http/websocket.c on
 * conn.c), frames in, through a real TCP connection on the loop. The client sends a valid
 * opening handshake, then the input as frames (any bytes at all); the application accepts
 * every upgrade and echoes each text message, or closes the connection on a message that
 * starts with "close".
 *
 * Input: one byte steering the client as for http_conn (bit 0 shut its side after sending,
 * bit 1 send in pieces of 2^(bits 2-4) bytes letting the server run between them, bit 5
 * leave without reading), then the frames.
 * Properties: every message the application gets is valid UTF-8 within the message limit;
 * every connection ends (by the client, by a close, or by the idle limit) and the
 * application hears of each end once; nothing is left behind. */
#include "build-config.h"
#include "kernel.h"
#include "conns.h"
#include "fuzz.h"

#include <string.h>

#define MAX_MESSAGE 4096

static http_conns *conns;
static int port;
static size_t closes;

static void app_request(void *app, http_conn *c, http_request *r)
{
    (void)app;
    int status;
    const char *why = http_ws_wanted(r) ? http_ws_refusal(r, &status) : "no upgrade";
    FUZZ_ASSERT(why == NULL);   /* the client's handshake is always valid */
    http_ws_accept(c, r, "mcp");
}

static void app_message(void *app, http_conn *c, const char *text, size_t len)
{
    (void)app;
    FUZZ_ASSERT(len <= MAX_MESSAGE);
    FUZZ_ASSERT(mf_utf8_valid((const uint8_t *)text, len));
    if (len >= 5 && memcmp(text, "close", 5) == 0)
        http_ws_close(c, 1000, "asked to");
    else
        http_ws_send(c, text, len);
}

static void app_close(void *app, http_conn *c)
{
    (void)app;
    (void)c;
    closes++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    http_limits limits = {.max_header_bytes = 2048, .max_body_bytes = 8192, .idle_ms = 200,
                          .request_ms = 200, .max_write_queue = 1 << 20, .max_connections = 4,
                          .ws_max_frame = 2048, .ws_max_message = MAX_MESSAGE, .ws_ping_ms = 100,
                          .ws_idle_ms = 300};
    http_app app = {app_request, app_close, app_message};
    conns = fuzz_conns_start(&limits, &app, &port);
    return 0;
}

static const char handshake[] =
    "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: mcp\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t closed = closes;
    FUZZ_ASSERT(fuzz_conns_client(conns, port, handshake, data, size));
    FUZZ_ASSERT(closes == closed + 1);
    return 0;
}
