/* Rate limits on the calls clients make (ratelimit.c). */
#ifndef MF_RATELIMIT_H
#define MF_RATELIMIT_H

#include "policy.h"

/* The limit that refused a call. */
typedef enum mf_rate_kind {
    MF_RATE_IDENTITY = 0,   /* the caller's, from rate.per_identity or rate.subjects */
    MF_RATE_POLICY,         /* the caller's, a bucket the policy's rate() named */
    MF_RATE_TOOL,           /* rate.tools: all calls of one public tool */
    MF_RATE_PROVIDER,       /* a provider's rate: all calls to it */
    MF_RATE_KINDS
} mf_rate_kind;

typedef struct mf_rate_refusal {
    mf_rate_kind kind;
    uint64_t retry_ms;      /* when the bucket will hold a call again */
    char bucket[200];       /* its name */
} mf_rate_refusal;

/* Whether method is one the limits count (tools/call, prompts/get, resources/read). */
bool mf_rate_counts(const char *method);
/* Whether any limit may apply to a call to provider: one configured, or the policy's rate. */
bool mf_rate_configured(const mf_config *cfg, const mf_provider_conf *provider);
/* Admit the call req describes (to provider, public name req->name), or refuse it; each
 * bucket it counts against takes a call only when all of them have one. */
bool mf_rate_admit(const mf_config *cfg, const mf_policy_request *req, const mf_provider_conf *provider,
                   mf_rate_refusal *out);
const char *mf_rate_kind_name(mf_rate_kind k);
/* The buckets in use and the refusals, for the admin. */
json_t *mf_rate_status(void);
void mf_rate_shutdown(void);

#endif
