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
/* A notification or request from an upstream (m is taken over). */
void mf_session_from_upstream(struct mf_provider *p, mf_msg *m);
/* A provider has a new upstream session: give it what the sessions asked of the old one
 * (subscriptions, log level). */
void mf_session_provider_up(struct mf_provider *p);
/* A reload replaced provider old by successor, or removed it (successor NULL): the
 * subscriptions to it go to successor, or end. */
void mf_session_provider_replaced(struct mf_provider *old, struct mf_provider *successor);
/* The configuration in force from now on (page size, request timeout). */
void mf_session_set_conf(const mf_config *cfg);
size_t mf_session_count(void);
/* Calls waiting in the kernel for a target that can take them (park.c). */
size_t mf_calls_waiting(void);
/* For the admin socket: what each endpoint (listen URL, and "stdio") serves, by curation
 * alone, since the policy's visible() depends on the caller: { endpoint: { tools: [...],
 * prompts, resources, resource_templates, providers } }; only endpoint's if not NULL (then
 * NULL when there is no such endpoint). view.c */
json_t *mf_view_endpoints(const char *endpoint);
/* For the admin socket: each session's peer, revision, client and what it has under way. */
json_t *mf_sessions_status(void);
/* For the admin socket: the tasks kept, with owner, provider, state and age (tasks.c). */
json_t *mf_tasks_status(void);
/* The gateway is shutting down: end every subscriptions/listen with its complete result
 * (before the transports stop, so that it reaches the clients); how many there were. */
size_t mf_session_end_listens(void);
/* A transport's hot swap: its sessions' messages go to its successor's endpoint. */
void mf_sessions_move(mf_ep from, mf_ep to);

/* The protocol revisions this gateway speaks, newest first. */
extern const char *const mf_protocol_versions[];

#endif
