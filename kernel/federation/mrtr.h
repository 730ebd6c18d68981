/* Input-required exchanges: the requests a server makes in revision 2026-07-28 (mrtr.c). */
#ifndef MF_MRTR_H
#define MF_MRTR_H

#include "relay.h"

/* An upstream asks a 2026-07-28 client something while serving d: answer d with an
 * input-required result and keep the call going until the client comes back. */
void mf_mrtr_ask_modern(downreq *d, mf_ep from, uint64_t pcorr, json_t *request);
/* A 2026-07-28 request that comes back with input for a call of ours: true if handled. */
bool mf_mrtr_resume(const rctx *r, json_t *params);
/* An upstream's input-required result for d, a client of the session era or a task's call:
 * ask the client (the task) and send the call again with its answers. True if handled. */
bool mf_mrtr_on_result(downreq *d, json_t *result);
/* d's call answered while d waits for its client to come back: keep it. True if so. */
bool mf_mrtr_hold(downreq *d, json_t *resp);
/* Send d's call again with the input collected (d->inputs) and the upstream's requestState. */
void mf_mrtr_send_inputs(downreq *d);
/* The client answered a relay that collects input for a call. */
void mf_mrtr_collected(relay *x, json_t *msg);
/* The suspended call made with this provider, if exactly one (for attribution). */
downreq *mf_mrtr_only_suspended(const mf_provider *p);
/* Forget what d collects from its client (d is going away). */
void mf_mrtr_forget(downreq *d);
void mf_mrtr_shutdown(void);

/* Questions an upstream asks a client that is not there to be asked now (a 2026-07-28
 * client's call, a task's): a JSON object, key -> {ep, corr, request}, or, for a question of
 * a 2026-07-28 upstream's input-required result to a task's call, {round: its key there,
 * request} (answered by sending the call again: tasks.c). */
/* Keep entry (taken over) under a new key in *asks (made when NULL). */
void mf_asks_put(json_t **asks, json_t *entry);
/* Keep request under a new key in *asks (made when NULL); false, and the upstream refused,
 * when a client of capabilities caps cannot answer it. */
bool mf_asks_add(json_t **asks, const json_t *caps, mf_ep from, uint64_t pcorr, json_t *request);
/* Send the upstream the answers inputs holds (by key), and forget those questions. */
void mf_asks_answer(json_t *asks, const json_t *inputs);
/* Tell the upstream none of its questions will be answered, and forget them (those of an
 * input-required round too, which need no answer). */
void mf_asks_refuse(json_t *asks, const char *why);

#endif
