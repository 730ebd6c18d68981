/* wslay reads through a callback; both sides of WebSocket hand it bytes already received. */
#ifndef HTTP_WS_FEED_H
#define HTTP_WS_FEED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <wslay/wslay.h>

/* wslay's recv callback over a buffer being fed: up to len bytes of what is left of *feed
 * (*left bytes), or, when nothing is, -1 with WSLAY_ERR_WOULDBLOCK set on ctx. */
ssize_t ws_feed_take(wslay_event_context_ptr ctx, const uint8_t **feed, size_t *left, uint8_t *buf, size_t len);

#endif
