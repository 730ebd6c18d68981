/* Calls: requests the kernel sends to an endpoint, each answered exactly once, by the
 * endpoint or by a timeout. */
#ifndef MF_CALL_H
#define MF_CALL_H

#include "kernel.h"

typedef struct mf_call mf_call;
/* response is the answer's JSON-RPC object holding "result" or "error" (borrowed). */
typedef void (*mf_call_fn)(void *ud, json_t *response);

int mf_calls_init(void);
void mf_calls_close(void);
/* Send request (a {"method", "params"} object, taken over) to dst; fn runs once with the
 * answer, or with a timeout error after timeout_ms (and dst gets MF_MSG_CANCEL). Never
 * NULL. */
mf_call *mf_call_start(mf_ep dst, uint64_t session, json_t *request, uint64_t timeout_ms,
                       mf_call_fn fn, void *ud);
/* Abandon: dst gets MF_MSG_CANCEL (json carries reason); fn is not called. */
void mf_call_cancel(mf_call *c, const char *reason);
uint64_t mf_call_corr(const mf_call *c);
/* The correlation the next call will get (to name it in its own request). */
uint64_t mf_call_next_corr(void);
/* The call in flight with this correlation, and what it was started with. */
mf_call *mf_call_find(uint64_t corr);
void *mf_call_ud(const mf_call *c);
mf_ep mf_call_dst(const mf_call *c);
size_t mf_calls_in_flight(void);

#endif
