/* What the federation keeps, in one place: the providers and their settling, the catalog,
 * the downstream sessions and the requests they forwarded, the calls waiting for a target,
 * the input-required calls held for a retry, the routing's breakers and its policy, the
 * result cache. Its files reach it through mf_fed; a
 * design with a loop per core would have one of these for each loop. Only the
 * federation's own files include this. */
#ifndef MF_FEDERATION_H
#define MF_FEDERATION_H

#include "registry.h"

/* catalog.c: the public names of one kind */
typedef struct mf_catalog_kind {
    struct mf_catalog_entry *by_name;
    json_t *items;
    uint64_t generation;
} mf_catalog_kind;

/* policy.c */
typedef struct mf_policy_stats {
    uint64_t decisions, visible_decisions, errors, budget_overruns, time_overruns, memory_overruns, reloads, failed_reloads;
} mf_policy_stats;

typedef struct mf_federation {
    /* registry.c */
    struct {
        mf_ep self;
        mf_provider **active;     /* in routing and the catalog, in configuration order */
        size_t nactive;
        mf_provider *all;         /* every provider alive, active or not */
        uv_timer_t settle_timer;
        bool settle_timer_on;
        bool settled;
        void (*on_settled)(void);   /* the control layer's: readiness told to systemd */
        void (*stop_done)(void);
        bool stop_finished;       /* done has been called */
        bool stop_in_step, stop_again;
        size_t running;           /* instances started and not stopped yet */
    } registry;
    /* catalog.c */
    mf_catalog_kind catalog[MF_KINDS];
    /* view.c: what a catalog rebuild under way changes, per kind (name -> true) */
    struct {
        json_t *changed[MF_KINDS];
    } views;
    /* cursor.c: the key cursors are sealed with */
    uint64_t cursor_key;
    /* session.c */
    struct {
        mf_ep self;               /* the kernel's session endpoint */
        const mf_config *conf;
        struct session *all;      /* by id */
        uint64_t next_id;
        uint64_t identity_gen;   /* last identity generation handed out */
        struct downreq *parked;   /* requests waiting for the catalog */
    } sessions;
    /* elicit.c: URL-mode elicitations under way, by provider and id, oldest first */
    struct tracked *elicitations;
    /* forward.c: requests forwarded, by the correlation of their call */
    struct downreq *forwarded;
    /* park.c: calls waiting for a target that can take them, in the order they came */
    struct {
        struct downreq *head;
        uint64_t next_seq;
        uv_timer_t timer;
        bool timer_on, in_timer;
    } park;
    /* mrtr.c: calls held for a client's retry, by requestState */
    struct {
        struct suspended *by_token;
        uint64_t next_state;
        unsigned next_key;
    } mrtr;
    /* task_store.c: the tasks kept, by id and in creation order, and the bytes of their results */
    struct {
        struct mf_task *by_id, *all;
        uint64_t next_seq;
        size_t bytes;
        uv_timer_t timer;
        bool timer_init;
    } tasks;
    /* router.c: the breaker plugin the targets' breakers come from */
    struct {
        const mf_breaker_ops *ops;
        mf_module *mod;
    } breakers;
    /* policy.c */
    struct {
        struct lstate *current;
        char *file;
        char *dir, *base;
        uint64_t budget;          /* instructions per decision */
        uint64_t time_ms;         /* per decision */
        size_t memcap;
        uv_fs_event_t watcher;
        uv_timer_t debounce;
        bool watching;
        mf_policy_stats stats;
        uint64_t generation;      /* counts the policies installed */
        char last_error[512];
    } policy;
    /* cache_hook.c: the result cache plugin, its cache, and the cached calls under way */
    struct {
        const mf_cache_ops *ops;
        mf_module *mod;
        void *cache;
        json_t *settings;
        struct mf_cache_flight *flights;   /* by key */
        struct mf_cached *all;             /* every cached call under way */
    } cache;
    /* otlp.c, audit.c: the span exporter and the audit log, NULL when off */
    struct mf_tracer *tracer;
    struct mf_auditor *auditor;
} mf_federation;

extern mf_federation mf_fed;

#endif
