/* The result cache on a tools/call's path (cache_hook.c): asked before the call is routed,
 * told its answer; identical calls in flight share one upstream call. The entries are the
 * cache plugin's (mf_cache_ops). */
#ifndef MF_CACHE_HOOK_H
#define MF_CACHE_HOOK_H

#include "config.h"
#include "plugin_loader.h"

struct downreq;
struct rctx;
struct mf_provider;

/* Load the cache plugin when cfg caches anything (once; a reload may turn it on). Its hot
 * swap hands the entries to the next generation. */
int mf_cache_start(const mf_config *cfg, mf_error *err);
/* cfg's top-level cache settings apply (a configuration reload's switch). */
void mf_cache_configure(const mf_config *cfg);
void mf_cache_stop(void);
mf_module *mf_cache_module(void);

/* forward.c, for a request d (upparams and provider set) that the policy admitted, before
 * it goes to a target: true when it
 * is answered from the cache (d is then answered and freed) or waits for an identical call
 * in flight (d is then the session's, without a call of its own). */
bool mf_cache_before(const struct rctx *r, struct downreq *d, const char *upstream_tool);
/* d is answered with resp: keep what may be shared, answer those waiting for it. True when
 * d itself is done with (its client had left; d is freed), false to answer d's client. */
bool mf_cache_answer(struct downreq *d, json_t *resp);
/* d is cancelled: true when its call goes on for others waiting for it (d is the
 * session's no longer, and is freed once answered). */
bool mf_cache_keeps(struct downreq *d);
/* d is freed: it leaves what it waited for; the last to leave a call cancels it. */
void mf_cache_leave(struct downreq *d);
/* relay.c: the upstream of p asked a client something during d (NULL: during a call it
 * cannot tell): the answer of that call (of every call on p) is the asker's alone. */
void mf_cache_asked(struct mf_provider *p, struct downreq *d);

/* The admin socket's figures, and `cache clear [TOOL]` (how many entries went, or -1
 * with no cache). */
json_t *mf_cache_status(void);
long mf_cache_clear(const char *tool);

#endif
