/* The plugin ABI.
 *
 * A plugin is a shared object that exports one descriptor, `mcpfed_plugin`, declared with
 * MF_PLUGIN. The same macro writes an ABI stamp into the ELF section ".mcpfed_stamp";
 * the loader reads that stamp from the file and refuses a mismatch before the object is
 * mapped, so no code of a mismatched plugin ever runs.
 *
 * A plugin offers roles. A transport serves downstream MCP clients (one instance per
 * listener); a provider reaches one upstream MCP server (one instance per provider entry
 * in the configuration). Instances talk to the kernel with messages (mcpfed/msg.h) and
 * never to each other. */
#ifndef MCPFED_PLUGIN_H
#define MCPFED_PLUGIN_H

#include <mcpfed/base.h>
#include <mcpfed/msg.h>
#include <mcpfed/settings.h>

/* The SDK's version. A plugin loads into a kernel of the same major version whose minor
 * is at least the plugin's. A minor version only adds: a function, or an operation in one
 * of the reserved slots at the end of a descriptor or ops table (a plugin built before it
 * has NULL there, so the kernel treats the operation as absent). Anything else, a field
 * moved or a type changed, is a new major version. Comments and new declarations change
 * neither, so a plugin keeps loading into the kernels built after it. */
#define MF_SDK_MAJOR 4
#define MF_SDK_MINOR 5
#define MF_STAMP_SECTION ".mcpfed_stamp"
#define MF_STAMP_MAGIC "MCPFED2"
#define MF_PLUGIN_SYMBOL mcpfed_plugin
#define MF_PLUGIN_SYMBOL_NAME "mcpfed_plugin"
/* Room for operations a minor version adds. */
#define MF_RESERVED_OPS 8

typedef struct mf_stamp {
    char magic[8];
    uint16_t sdk_major;
    uint16_t sdk_minor;
    uint32_t reserved[3];
} mf_stamp;

typedef struct mf_instance mf_instance;

typedef struct mf_role_ops {
    /* Check conf (this instance's table from the configuration) with no side effect;
     * path names it in messages, e.g. "providers[2]". Return 0 or -1 with err set. */
    int (*check)(const json_t *conf, const char *path, mf_error *err);
    /* Start an instance. *self is handed back to the other calls. */
    int (*start)(mf_instance *inst, const json_t *conf, void **self, mf_error *err);
    /* A message for this instance; the plugin owns m from here on. */
    void (*receive)(void *self, mf_msg *m);
    /* Stop: answer or fail what is in flight, close every handle, then call
     * mf_instance_stopped(inst) (possibly later, from a callback). */
    void (*stop)(void *self);

    /* Hot swap (`reload NAME`): all four, or none (the role is then not reloadable while
     * an instance of it runs). The kernel holds the instance's messages from save to the
     * switch, so nothing arrives meanwhile.
     *
     * save: take no new work from outside (stop reading), and once what is under way can
     * be written down, hand over with mf_instance_saved (from inside save or later): a
     * state, as msgpack bytes, holding all the successor needs to carry on (sessions,
     * connections as file descriptors duplicated for it, calls in flight). What the
     * instance cannot hand over it keeps, and finishes while draining. */
    void (*save)(void *self);
    /* The successor failed to start: take everything back (close the duplicated file
     * descriptors) and go on as before. */
    void (*resume)(void *self);
    /* Start as the successor, from the predecessor's state. On failure, leave the state's
     * file descriptors open: they are still the predecessor's. */
    int (*adopt)(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
                 mf_error *err);
    /* The successor runs. Finish what was kept, pass every message about anything else to
     * the successor with mf_instance_forward, close the handles (not the duplicates handed
     * over), then mf_instance_stopped. If the drain deadline passes first, stop is called. */
    void (*drain)(void *self);

    /* Optional (providers): `scale NAME N` on the admin socket asks for N replicas. Return 0
     * once the change is under way (new replicas start in order; those beyond N finish
     * their calls and stop, last started first), or -1 with err saying why not. */
    int (*scale)(void *self, int replicas, mf_error *err);

    /* Optional (providers, SDK 4.1): `reload NAME` on the admin socket, where NAME is this
     * instance rather than a plugin, loads again what the instance runs (e.g. a module of
     * tools) while it serves. done runs exactly once, from inside reload or later, with
     * 200 or a refusal (409: what ran before keeps running) and a report (taken over).
     * Transports: `reload config` calls it on every listener to read again what it loads
     * from files (TLS certificates and keys); done must then run from inside reload. */
    void (*reload)(void *self, void (*done)(void *ud, int code, json_t *report), void *ud);

    /* Optional (SDK 4.2): the instance's own figures (an object, a new reference): a
     * provider's are shown by the admin `providers` as "figures", a transport's by
     * `listeners` (failed authentications, say). */
    json_t *(*status)(void *self);

    void (*reserved[MF_RESERVED_OPS - 2])(void);   /* for later minor versions; leave NULL */
} mf_role_ops;

/* A circuit breaker, one per target (an upstream replica). The kernel asks it before
 * each call and tells it how each call it admitted ended. */
typedef enum mf_breaker_state {
    MF_BREAKER_CLOSED = 0,
    MF_BREAKER_OPEN,
    MF_BREAKER_HALF_OPEN,
    MF_BREAKER_FORCED_OPEN,   /* an operator's: refuse everything */
    MF_BREAKER_DISABLED,      /* an operator's or the configuration's: admit everything */
} mf_breaker_state;

typedef enum mf_breaker_force {
    MF_BREAKER_AUTO = 0,      /* back to its own rules, from closed */
    MF_BREAKER_FORCE_OPEN,
    MF_BREAKER_FORCE_CLOSED,  /* reset to closed, then its own rules */
    MF_BREAKER_DISABLE,
} mf_breaker_force;

/* How a call ended: error_code 0 for a result (a tool's isError included), else the
 * JSON-RPC error code; lost is true for a transport failure or a timeout, which always
 * count as failures. */
typedef struct mf_call_outcome {
    int error_code;
    bool lost;
    uint64_t duration_ms;
} mf_call_outcome;

typedef struct mf_breaker_ops {
    int (*check)(const json_t *conf, const char *path, mf_error *err);
    void *(*create)(const json_t *conf, const char *name);
    void (*destroy)(void *b);
    /* May a call go now? false: refused (open, forced open, half-open with all its
     * permitted calls under way). A true must be followed by one record or release. */
    bool (*acquire)(void *b, uint64_t now_ms);
    void (*record)(void *b, const mf_call_outcome *o, uint64_t now_ms);
    /* an admitted call that never went out */
    void (*release)(void *b);
    mf_breaker_state (*state)(void *b, uint64_t now_ms);
    void (*force)(void *b, mf_breaker_force f, uint64_t now_ms);
    /* its counters, for the admin socket and the routing policy */
    json_t *(*status)(void *b, uint64_t now_ms);
    /* Hot swap (optional): its state as msgpack bytes (malloc'd), and a breaker made from
     * such a state by the next generation. */
    char *(*save)(void *b, size_t *len);
    void *(*adopt)(const json_t *conf, const char *name, const char *state, size_t len);

    void (*reserved[MF_RESERVED_OPS])(void);   /* for later minor versions; leave NULL */
} mf_breaker_ops;

/* A provider plugin that needs no settings may declare an instance of itself (SDK 4.1).
 * When its file appears in a plugin directory the gateway watches (watch_plugins), the
 * gateway loads it and starts that instance as a provider, its tools joining the catalog
 * under its name as prefix, with no configuration entry; a new file hot-swaps it, and
 * deleting the file takes the provider out of the catalog and stops it once its calls are
 * over. Its provider role's check must accept an empty table. */
typedef struct mf_default_instance {
    const char *name;           /* the provider's name (its tools' prefix); NULL: the plugin's */
} mf_default_instance;

/* A result cache (since 4.1): the kernel asks it before it routes a tools/call and
 * hands it each shareable result. The kernel keeps the calls in flight and coalesces
 * identical ones; the cache keeps results, keyed by the public tool name and the canonical
 * form of the arguments, each for its time to live, within a byte cap. */
typedef struct mf_cache_ops {
    /* Optional, after the kernel has checked them against the plugin's cache_settings and
     * cache_provider_settings: what those tables cannot say of the top-level settings
     * ("cache" of the configuration) and a provider's ("providers[N].cache"): 0, or -1
     * with err naming the key. */
    int (*check)(const json_t *conf, const char *path, mf_error *err);
    int (*check_provider)(const json_t *conf, const char *path, mf_error *err);
    /* The cache, from checked settings; settings changed by a configuration reload are
     * applied with configure (entries over a smaller cap are evicted). */
    void *(*create)(const json_t *conf);
    void (*configure)(void *c, const json_t *conf);
    void (*destroy)(void *c);
    /* How long a result of tool (the upstream's name) of a provider with these settings
     * is kept: 0 when it is not cached. */
    uint64_t (*ttl_ms)(void *c, const json_t *provider_conf, const char *tool);
    /* The key of a call of public tool name with args (an object, or NULL for none):
     * malloc'd bytes, *len set; equal for arguments that differ only in key order,
     * whitespace and the spelling of numbers. NULL when args are no object. */
    char *(*key)(void *c, const char *tool, const json_t *args, size_t *len);
    /* The result kept under key (a new reference), or NULL; counts a hit or a miss. */
    json_t *(*lookup)(void *c, const char *key, size_t len, uint64_t now_ms);
    /* Keep result (borrowed) under key for ttl_ms; tool names it in the figures. */
    void (*store)(void *c, const char *key, size_t len, const char *tool, const json_t *result,
                  uint64_t ttl_ms, uint64_t now_ms);
    /* A call of tool was answered with another's upstream call: counted. */
    void (*coalesced)(void *c, const char *tool);
    /* Drop the entries of tool (NULL: all); how many went. */
    size_t (*clear)(void *c, const char *tool);
    /* entries, bytes, hits, misses, evictions, coalesced, and the same per tool */
    json_t *(*status)(void *c, uint64_t now_ms);
    /* Hot swap (optional): the entries and figures as msgpack bytes (malloc'd), and a
     * cache made from such a state by the next generation (NULL if it cannot be read). */
    char *(*save)(void *c, size_t *len);
    void *(*adopt)(const json_t *conf, const char *state, size_t len, uint64_t now_ms);

    void (*reserved[MF_RESERVED_OPS])(void);   /* for later minor versions; leave NULL */
} mf_cache_ops;

typedef struct mf_plugin {
    uint16_t sdk_major;         /* MF_SDK_MAJOR and MF_SDK_MINOR it was built with */
    uint16_t sdk_minor;
    const char *name;           /* must equal the file name without ".so" */
    const char *version;
    const char *description;
    /* optional: module-wide set-up and tear-down */
    int (*load)(mf_error *err);
    void (*unload)(void);
    const mf_role_ops *transport;   /* NULL when the plugin is no transport */
    const mf_role_ops *provider;    /* NULL when the plugin is no provider */
    const mf_breaker_ops *breaker;  /* NULL when the plugin is no circuit breaker */

    /* Since 4.1, in seven of the reserved slots: each role's settings (mcpfed/settings.h),
     * or NULL (the kernel checks an instance's table against them before the role's check,
     * and --help-config prints them without running the plugin); an instance that runs
     * when the plugin is dropped in (see above), or NULL; and the result cache role (NULL
     * when the plugin is no result cache) with its settings, the top level's `cache` and a
     * provider's `cache`. */
    const mf_setting *transport_settings;
    const mf_setting *provider_settings;
    const mf_setting *breaker_settings;
    const mf_default_instance *default_instance;
    const mf_cache_ops *cache;
    const mf_setting *cache_settings;
    const mf_setting *cache_provider_settings;

    const void *reserved[MF_RESERVED_OPS - 7];   /* for later minor versions; leave NULL */
} mf_plugin;

/* Declare the plugin: MF_PLUGIN(.name = "hello", .provider = &hello_provider, ...); */
#define MF_PLUGIN(...)                                                                     \
    __attribute__((used, section(MF_STAMP_SECTION))) static const mf_stamp mf_plugin_stamp_ = \
        {MF_STAMP_MAGIC, MF_SDK_MAJOR, MF_SDK_MINOR, {0, 0, 0}};                           \
    MF_EXTERN_C __attribute__((visibility("default"))) const mf_plugin MF_PLUGIN_SYMBOL = {  \
        .sdk_major = MF_SDK_MAJOR, .sdk_minor = MF_SDK_MINOR, __VA_ARGS__}

/* What an instance knows of itself. */
MF_API const char *mf_instance_name(const mf_instance *inst);   /* provider or listener name */
MF_API mf_ep mf_instance_ep(const mf_instance *inst);
/* The instance finished stopping (or draining); the kernel forgets it. */
MF_API void mf_instance_stopped(mf_instance *inst);
/* Hot swap: the state for the successor (msgpack bytes, copied), or error (state NULL)
 * when the instance cannot be handed over now; see mf_role_ops.save. */
MF_API void mf_instance_saved(mf_instance *inst, const char *state, size_t len, const char *error);
/* While draining: pass m (taken over) to the successor. -1 when there is none (m is then
 * answered or dropped as a message for a closed endpoint). */
MF_API int mf_instance_forward(mf_instance *inst, mf_msg *m);
/* JSON to msgpack bytes (malloc'd; *len set) and back, for the state of a hot swap.
 * Strings may hold any bytes. NULL on failure. */
MF_API char *mf_state_pack(const json_t *state, size_t *len);
/* A file descriptor for the successor's state: a duplicate of fd (or of the one under the
 * libuv handle h), close-on-exec so that upstream processes never inherit it, and never
 * 0, 1 or 2, which the gateway may have closed; -1 on failure. mf_fd_close closes one
 * that was not handed over (-1 is ignored). */
MF_API int mf_fd_dup(int fd);
MF_API int mf_fd_dup_handle(const uv_handle_t *h);
MF_API void mf_fd_close(int fd);
MF_API json_t *mf_state_unpack(const char *buf, size_t len, mf_error *err);
/* The kernel endpoint that takes session traffic from transports. */
MF_API mf_ep mf_kernel_ep(void);

/* Providers report their upstream's state. info is borrowed: for MF_PROVIDER_UP it is
 * the upstream's initialize result. */
typedef enum mf_provider_state {
    MF_PROVIDER_STARTING = 0,
    MF_PROVIDER_UP,
    MF_PROVIDER_DOWN,     /* restarting; calls wait for it up to their deadline */
    MF_PROVIDER_FAILED,   /* given up for now; calls fail at once */
} mf_provider_state;

MF_API void mf_provider_status(mf_instance *inst, mf_provider_state state, const json_t *info,
                               const char *reason);
/* A provider with several targets (replicas) says how many, then which are ready. The
 * kernel's routing decides where each call goes and names the target (1-based) in the
 * request's "target" member; the provider sends it to that target and no other, so that
 * latency, errors and breakers are counted where the call ran. A target that cannot take
 * a call now (starting, restarting, disconnected, leaving a shrinking pool) gets it
 * answered at once with MF_RPC_UNAVAILABLE, never held: the kernel tries the next target it
 * ranked, and when none could take it, waits itself for one that becomes ready (so report
 * each target's readiness, and a failed start with the provider's status and a reason).
 * A request without "target" (the kernel's own: listings,
 * subscriptions) is for the provider as a whole: any ready replica may serve it. A
 * provider that says nothing has one target, ready when the provider is up. */
MF_API void mf_provider_targets(mf_instance *inst, int count);
MF_API void mf_provider_target_status(mf_instance *inst, int index, bool up);

/* Hand the kernel a notification from the upstream (taken over). corr is the request it
 * concerns (progress, logging during a call), or 0. A notifications/cancelled about a
 * request the upstream made must name it by the corr it was asked with (below). */
MF_API void mf_provider_notify(mf_instance *inst, json_t *notification, uint64_t corr);
/* Hand the kernel a request the upstream makes of a client (sampling/createMessage,
 * elicitation/create, roots/list), taken over. The kernel finds the client it is for and
 * answers, exactly once, with an MF_MSG_RESPONSE carrying corr (chosen by the provider,
 * unique among its open asks). related is the kernel's request it was made while
 * handling, when the provider knows it, or 0. */
MF_API void mf_provider_ask(mf_instance *inst, json_t *request, uint64_t corr, uint64_t related);

/* Transports open a session per downstream client (or per stateless request) and tag
 * every message they send to mf_kernel_ep() with it. The kernel answers on the
 * instance's endpoint with MF_MSG_RESPONSE (same corr as the request), MF_MSG_NOTIFY
 * and MF_MSG_REQUEST, each carrying a complete JSON-RPC message ready to write. A request
 * the client cancelled (notifications/cancelled) gets no answer: instead an MF_MSG_CANCEL
 * with its corr says that none will come, so that the transport can let it go. */
MF_API uint64_t mf_session_open(mf_instance *transport, const char *peer);
/* End a session: what it has in flight upstream is cancelled. */
MF_API void mf_session_close(uint64_t session);
/* Who a session acts for, as its transport authenticated the client: an object
 * {"subject": string, "method": "jwt"|"key"|"mtls"|"anonymous"|"local", "scopes": [string],
 * "claims": object}, taken over. A transport sets it before it hands the kernel the
 * session's first message; the routing policy sees it as request.identity. A session
 * whose transport sets none acts for {"subject": "anonymous", "method": "anonymous"}.
 * (SDK 4.2) */
MF_API void mf_session_set_identity(uint64_t session, json_t *identity);
/* The session's identity (borrowed, valid until the session closes or its identity is
 * set again), or NULL when its transport set none or there is no such session. (SDK 4.2) */
MF_API const json_t *mf_session_identity(uint64_t session);
/* The bearer token the client presented with its latest request, kept for the providers
 * configured to pass it on (and only those may read it); a transport sets it again when
 * the client sends a new one, NULL to forget it. Copied; never logged. (SDK 4.2) */
MF_API void mf_session_set_bearer(uint64_t session, const char *token);
MF_API const char *mf_session_bearer(uint64_t session);
/* The session's id as its client knows it (Streamable HTTP's Mcp-Session-Id), which its
 * requests' spans record as mcp.session.id; a transport whose clients have none (stdio,
 * WebSocket, a stateless request) sets none. Copied. (SDK 4.4) */
MF_API void mf_session_set_mcp_id(uint64_t session, const char *mcp_session_id);
/* At a hot swap's switch, every session of the transport moves to its successor: the
 * kernel's messages for them go there from then on. */

/* Ask the gateway to shut down in order (e.g. the stdio client closed its input). */
MF_API void mf_request_shutdown(const char *reason);

#endif
