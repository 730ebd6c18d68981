/* The session layer: the MCP lifecycle with downstream clients and the dispatch of
 * their requests. */
#ifndef MF_SESSION_H
#define MF_SESSION_H

#include "config.h"

struct mf_provider;

int mf_session_init(const mf_config *cfg);
/* Close every session (their calls are cancelled) and the layer itself. */
void mf_session_shutdown(void);
/* The catalog is ready: answer the tools/list requests that waited for it. */
void mf_session_catalog_settled(void);
/* Send a notification (taken over) to every initialized session. */
void mf_session_broadcast(json_t *notification);
/* A notification from an upstream (borrowed) about call corr (0: none). */
void mf_session_from_upstream(struct mf_provider *p, json_t *notification, uint64_t corr);
size_t mf_session_count(void);

/* The protocol revisions this gateway speaks, newest first. */
extern const char *const mf_protocol_versions[];

#endif
