/* Messages: the only way plugins and the kernel talk to each other.
 *
 * Each instance of a plugin has an endpoint, a mailbox the kernel delivers to (its
 * role's receive). A message is a small header plus a payload, a JSON-RPC object
 * (jansson, reference-counted and treated as immutable once sent). Sending hands the
 * message over: the sender must not touch it afterwards, the receiving handler owns it
 * and frees it. Delivery happens on a later turn of the loop, in send order. A plugin
 * addresses only the kernel (mf_kernel_ep, or the sender of what it answers), never
 * another plugin. */
#ifndef MCPFED_MSG_H
#define MCPFED_MSG_H

#include <mcpfed/base.h>

/* An endpoint handle; 0 means none. A handle carries its slot's generation, so a stale
 * one fails to send instead of reaching the endpoint that reused the slot. */
typedef uint64_t mf_ep;

typedef enum mf_msg_kind {
    MF_MSG_REQUEST = 1, /* wants exactly one MF_MSG_RESPONSE carrying the same corr */
    MF_MSG_RESPONSE,    /* json holds "result" or "error" */
    MF_MSG_NOTIFY,      /* json is a JSON-RPC notification */
    MF_MSG_CANCEL,      /* the request with this corr is abandoned: send no answer */
    MF_MSG_CONTROL,     /* between parts of the kernel; a plugin never receives one */
} mf_msg_kind;

/* The answer says the request itself was malformed (its envelope, not its handling):
 * transports that have a status of their own (HTTP 400) use it. */
#define MF_MSGF_MALFORMED 0x1u
/* The answer refuses the request over a rate limit (SDK 4.2): its error (MF_RPC_RATE_LIMITED)
 * has data.retryAfterMs, the milliseconds after which to try again. Transports with a
 * status of their own use it (HTTP 429 with Retry-After). */
#define MF_MSGF_RATE_LIMITED 0x2u

typedef struct mf_msg {
    mf_msg_kind kind;
    mf_ep src;
    mf_ep dst;
    uint64_t session;   /* the downstream session concerned, 0 if none */
    uint64_t corr;      /* correlation id chosen by the sender of a request; on a
                         * notification, the request it is about (0: none) */
    uint64_t related;   /* on a request, the request it is made for (0: none) */
    uint64_t deadline;  /* mf_now() after which an answer is useless; 0 = none */
    uint64_t trace;     /* follows a call across every hop, for logs */
    uint32_t flags;     /* MF_MSGF_* */
    uint32_t reserved;  /* 0; keeps the layout of SDK 4.0, where it named the target that
                         * served an answer */
    json_t *json;       /* payload reference owned by the message, or NULL */
} mf_msg;               /* the kernel keeps more after it: make one only with mf_msg_new */

/* json is a reference the message takes over (NULL allowed). Never NULL: memory is
 * mf_xmalloc's (base.h). */
MF_API mf_msg *mf_msg_new(mf_msg_kind kind, mf_ep src, mf_ep dst, json_t *json);
/* A response to req (to req->src, same session and corr), taking json over. */
MF_API mf_msg *mf_msg_reply(const mf_msg *req, mf_ep self, json_t *json);
/* An error response to req with a JSON-RPC error object. */
MF_API mf_msg *mf_msg_reply_error(const mf_msg *req, mf_ep self, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
MF_API void mf_msg_free(mf_msg *m);

/* Queue m for delivery to m->dst; the kernel owns m from here on. When dst does not
 * exist, a request is answered with an error to m->src and anything else is dropped;
 * the return value is then -1. */
MF_API int mf_send(mf_msg *m);

/* A FIFO of messages held back, e.g. requests waiting for an upstream to come up. */
typedef struct mf_msgq {
    mf_msg *head, *tail;
    size_t len;
} mf_msgq;

MF_API void mf_msgq_push(mf_msgq *q, mf_msg *m);
MF_API void mf_msgq_push_front(mf_msgq *q, mf_msg *m);
MF_API mf_msg *mf_msgq_pop(mf_msgq *q);   /* NULL when empty */
/* Take out (and free) the request with this corr; false if none was there. */
MF_API bool mf_msgq_drop(mf_msgq *q, uint64_t corr);
/* Answer every request held with an error from self, and free everything. */
MF_API void mf_msgq_fail(mf_msgq *q, mf_ep self, int code, const char *why);

#endif
