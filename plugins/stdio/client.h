/* Upstream stdio: the provider instance (client.c) and its hot swap (client_swap.c). */
#ifndef STDIO_CLIENT_H
#define STDIO_CLIENT_H

#include "stdio.h"

#include <uthash.h>

typedef enum ustate { U_STARTING, U_READY, U_DOWN, U_FAILED, U_STOPPING } ustate;

struct client;

typedef struct replica {
    struct client *c;
    int index;
    mf_child *child;
    mf_lines lines;
    ustate state;
    int64_t init_id;
    json_t *init_result;       /* its answer to initialize, once ready */
    unsigned inflight;
    bool leaving;              /* a shrinking pool's: takes no new call, stops once idle */
    bool stop_sent;
    uv_timer_t init_timer;
} replica;

typedef struct call {
    int64_t upid;              /* our id on the upstream */
    uint64_t corr;             /* the kernel's */
    mf_ep reply_to;
    uint64_t session;
    replica *r;
    UT_hash_handle by_up, by_corr;
} call;

typedef struct client {
    mf_instance *inst;
    mf_sup *sup;
    replica *replicas;         /* room for cap; the first nreplicas are in use */
    int nreplicas, cap;
    bool pool;                 /* restart.strategy = "simple_one_for_one": scaled at run time */
    int want;                  /* a pool's size asked for; below nreplicas while shrinking */
    int open_timers;
    bool up;                   /* reported up to the kernel */
    bool failed;
    bool stopping;
    bool handed_over;          /* a successor has its work: draining */
    int64_t next_id;
    call *calls_by_up, *calls_by_corr;
    mf_msgq queue;             /* requests waiting for a ready replica */
    mf_idmap asks;             /* the upstream's requests the kernel is answering: [replica, id] */
    size_t max_queue;
    char *failed_reason;
    /* configuration */
    char **argv, **env;
    char *cwd;
    size_t max_message;
    uint64_t init_timeout_ms;
    mf_child_spec spec;
    mf_sup_spec sup_spec;
} client;

/* The callbacks of every replica's child (ud: the replica). */
extern const mf_child_ops stdio_child_ops;

/* A client from its configuration, with its replicas and their timers but no supervisor
 * and no process yet. */
client *client_new(mf_instance *inst, const json_t *conf);
/* Close its timers; the last one frees c and, when c->inst is set, stops the instance. */
void client_close_timers(client *c);
void client_on_init_timeout(uv_timer_t *t);
/* Forget calls and asks without answering them (they were handed over). */
void client_forget_all(client *c);

/* client_swap.c */
void client_save(void *self);
void client_resume(void *self);
int client_adopt(mf_instance *inst, const json_t *conf, const char *state, size_t len, void **self,
                 mf_error *err);
void client_drain(void *self);

#endif
