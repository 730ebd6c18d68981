/* subscriptions/listen, the 2026-07-28 stream of notifications (listen.c). */
#ifndef MF_LISTEN_H
#define MF_LISTEN_H

#include "downstream.h"

/* An open subscriptions/listen request (listen.c). */
typedef struct lstream {
    session *s;
    json_t *id;               /* the client's request id: the subscription's id */
    uint64_t tcorr;           /* the transport's correlation: the request's stream */
    bool lists[3];            /* tools, prompts, resources list_changed */
    json_t *tasks;            /* the ids of the caller's tasks it follows (notifications/tasks) */
    struct lstream *prev, *next;
} lstream;

void mf_listen_open(const rctx *r, json_t *params);
/* The client cancelled request_id: true if it was a listen of s (now ended). */
bool mf_listen_cancel(session *s, json_t *request_id);
void mf_listen_session_closed(session *s);
/* A list of the catalog changed: the listens of s that opted in get note, tagged. */
void mf_listen_list_changed(session *s, int kind, json_t *note);
/* notifications/resources/updated on l's stream (params with the public URI). */
void mf_listen_updated(lstream *l, json_t *params);
/* Task task_id changed (task: it as tasks/get of 2026-07-28 shows it): notifications/tasks on
 * the listens that follow it. */
void mf_listen_task(const char *task_id, json_t *task);

#endif
