/* What a client can answer, and URL-mode elicitations followed to their completion
 * (elicit.c). */
#ifndef MF_ELICIT_H
#define MF_ELICIT_H

#include "downstream.h"

/* The JSON-RPC error code of URLElicitationRequiredError (2025-11-25). */
#define MF_RPC_URL_ELICITATION_REQUIRED (-32042)

/* Whether a client whose capabilities are caps can answer request (sampling/createMessage,
 * elicitation/create, roots/list) in the form it takes: elicitation in form or URL mode,
 * sampling with or without tools. 0 if it can; else the JSON-RPC error code to refuse the
 * request with, and why. */
int mf_client_can_answer(const json_t *caps, const json_t *request, char *why, size_t len);

/* The elicitations a request or an error of provider (elicitation/create in URL mode, or a
 * -32042 error's data) announce, kept so that their notifications/elicitation/complete
 * reach s. */
void mf_elicit_track(const char *provider, const json_t *request_or_error, const session *s);
/* Route notifications/elicitation/complete from provider to the client its elicitation
 * was for (tracked above); related is the call it came with, if any. */
void mf_elicit_complete(const char *provider, json_t *note, uint64_t related);
void mf_elicit_shutdown(void);

#endif
