/* JSON-RPC 2.0 helpers shared by transports, providers and the kernel. */
#ifndef MCPFED_RPC_H
#define MCPFED_RPC_H

#include <mcpfed/base.h>

enum {
    MF_RPC_PARSE_ERROR = -32700,
    MF_RPC_INVALID_REQUEST = -32600,
    MF_RPC_METHOD_NOT_FOUND = -32601,
    MF_RPC_INVALID_PARAMS = -32602,
    MF_RPC_INTERNAL_ERROR = -32603,
    /* MCP and mcpfed codes in the implementation-defined range */
    MF_RPC_TIMEOUT = -32001,            /* the official SDKs' RequestTimeout */
    MF_RPC_RESOURCE_NOT_FOUND = -32002, /* MCP: unknown resource */
    MF_RPC_UNAVAILABLE = -32010,        /* no provider can take the call now */
    MF_RPC_UPSTREAM_LOST = -32011,      /* the upstream went away with the call in flight */
    MF_RPC_OVERLOADED = -32012,         /* a queue or process limit was reached */
    MF_RPC_REFUSED = -32013,            /* refused by routing policy or breaker */
    MF_RPC_TOO_LARGE = -32014,          /* a message over the configured size limit */
    MF_RPC_SHUTTING_DOWN = -32015,      /* the gateway or the provider is stopping */
    MF_RPC_NO_CREDENTIALS = -32016,     /* no credentials for the caller upstream: it presented no
                                         * token to pass on, or the token exchange failed (SDK 4.2) */
    MF_RPC_RATE_LIMITED = -32017,       /* over a rate limit: error.data.retryAfterMs says when
                                         * to try again (SDK 4.2) */
    /* revision 2026-07-28 */
    MF_RPC_HEADER_MISMATCH = -32020,
    MF_RPC_MISSING_CLIENT_CAPABILITY = -32021,
    MF_RPC_UNSUPPORTED_VERSION = -32022,
};

typedef enum mf_rpc_kind {
    MF_RPC_BAD = 0,
    MF_RPC_REQUEST,
    MF_RPC_NOTIFICATION,
    MF_RPC_RESPONSE,
} mf_rpc_kind;

/* Parse one message. On failure returns NULL and sets *error_reply (when given) to a
 * complete -32700 response. */
MF_API json_t *mf_rpc_parse(const char *buf, size_t len, json_t **error_reply);

/* Say what msg is. A malformed message gives MF_RPC_BAD and, when error_reply is given,
 * a complete -32600 response (with the id when one could be read) or NULL where the
 * message must not be answered (a malformed response). */
MF_API mf_rpc_kind mf_rpc_classify(const json_t *msg, json_t **error_reply);

/* Build responses; id is borrowed (NULL means null), result and data are taken over. */
MF_API json_t *mf_rpc_result(json_t *id, json_t *result);
MF_API json_t *mf_rpc_error(json_t *id, int code, const char *message, json_t *data);
MF_API json_t *mf_rpc_errorf(json_t *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A bare error object {"code", "message"} for MF_MSG_RESPONSE payloads. */
MF_API json_t *mf_rpc_error_body(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Serialize on one line (no raw newline can occur): compact JSON, as
 * json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY) writes it, and its length in *len (when
 * given); NULL (and a length of 0) when a string in it is not UTF-8. free() the result. */
MF_API char *mf_rpc_dump(const json_t *msg, size_t *len);

/* Keys of the per-request envelope of revision 2026-07-28 (params._meta). */
#define MF_META_PROTOCOL_VERSION "io.modelcontextprotocol/protocolVersion"
#define MF_META_CLIENT_CAPABILITIES "io.modelcontextprotocol/clientCapabilities"
#define MF_META_CLIENT_INFO "io.modelcontextprotocol/clientInfo"
#define MF_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"
#define MF_META_LOG_LEVEL "io.modelcontextprotocol/logLevel"
#define MF_PROTOCOL_MODERN "2026-07-28"

/* The protocol version a request's envelope names (2026-07-28 and later), or NULL for a
 * request of the session era. */
MF_API const char *mf_rpc_envelope_version(const json_t *msg);

/* The client capabilities a provider declares to its upstream (a new reference): the
 * gateway relays sampling, elicitation and roots requests to the client they concern. */
MF_API json_t *mf_client_capabilities(void);

/* Requests an upstream made, while the kernel finds them an answer: each gets a local
 * key (the corr of mf_provider_ask), and the upstream's id comes back, of its own JSON
 * type, when the answer does. */
typedef struct mf_idmap_entry mf_idmap_entry;
typedef struct mf_idmap {
    mf_idmap_entry *head;
    uint64_t next;
} mf_idmap;

MF_API uint64_t mf_idmap_put(mf_idmap *m, json_t *id);          /* keeps a reference */
MF_API json_t *mf_idmap_take(mf_idmap *m, uint64_t key);        /* the reference, or NULL */
MF_API bool mf_idmap_key_of(const mf_idmap *m, const json_t *id, uint64_t *key);
MF_API void mf_idmap_clear(mf_idmap *m);
MF_API bool mf_idmap_has(const mf_idmap *m, uint64_t key);
/* Put id under a key given before (a predecessor's, in a hot swap): later keys come after
 * it. Keeps a reference. */
MF_API void mf_idmap_put_at(mf_idmap *m, uint64_t key, json_t *id);
/* For a successor: [[key, id], ...] (new references; the map is unchanged). */
MF_API json_t *mf_idmap_save(const mf_idmap *m);
/* Take a saved map's entries (as mf_idmap_save wrote them) into m; -1 if saved is not of
 * that shape (entries before the bad one are kept). */
MF_API int mf_idmap_adopt(mf_idmap *m, const json_t *saved);

/* The "method" of a request or notification, or NULL. */
MF_API const char *mf_rpc_method(const json_t *msg);

#endif
