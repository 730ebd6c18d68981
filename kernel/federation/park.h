/* Calls waiting in the kernel for a target that can take them (park.c). */
#ifndef MF_PARK_H
#define MF_PARK_H

#include "forward.h"

/* Every target d's ranking named said it cannot take the call now (-32010): d waits until
 * a target of its provider (or a fallback) becomes ready, then it is routed again; or
 * until its deadline, when it is answered as a timeout. False (nothing done) when it
 * cannot wait: no deadline left, no client, or no target of its ranking may come back
 * (failed, leaving). */
bool mf_park_call(downreq *d);
/* p's start failed (why): its own calls waiting are answered -32010 now, not at their
 * deadline. */
void mf_park_fail(const mf_provider *p, const char *why);
/* d leaves the waiting calls, if it is one (it is answered, cancelled or freed). */
void mf_park_forget(downreq *d);
/* A target of p became ready (p NULL: the routing changed): the calls that may go there
 * are routed again, in the order they came. */
void mf_park_wake(const mf_provider *p);
void mf_park_shutdown(void);

#endif
