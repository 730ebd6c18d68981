/* Settings of a provider that runs supervised children (the stdio provider's upstreams, the
 * python provider's workers): the `restart` table, with OTP's meanings (type, strategy,
 * backoff, intensity, period, cool-down, shutdown time), and the `env` map. */
#ifndef STDIO_CHILD_CONF_H
#define STDIO_CHILD_CONF_H

#include <mcpfed/mcpfed.h>

#include <stddef.h>

/* What `restart` says, as child_restart_settings fills it. A provider's settings struct
 * has it as its first member, so that the table's offsets (into this struct) are the same
 * in the provider's: CHILD_RESTART_FIRST(type) checks that at compile time. */
typedef struct child_restart {
    int type, strategy;   /* indexes in the table's choices: mf_restart and mf_strategy */
    int64_t backoff_min_ms, backoff_max_ms, backoff_reset_ms, intensity, period_ms, cooldown_ms, shutdown_ms;
} child_restart;

#define CHILD_RESTART_FIRST(type) \
    _Static_assert(offsetof(type, restart) == 0, "the restart settings come first")

/* The keys of `restart` (a provider's table has {"restart", MF_SET_TABLE, .def = "{}",
 * .sub = child_restart_settings}). */
extern const mf_setting child_restart_settings[];

/* What the table cannot say: backoff_max_ms not below backoff_min_ms (conf is the
 * provider's table, to tell which of the two it set). 0, or -1 with err naming the key. */
int child_conf_check(const child_restart *r, const json_t *conf, const char *path, mf_error *err);
/* The child's and the supervisor's specs as r says. */
void child_conf_apply(const child_restart *r, mf_child_spec *spec, mf_sup_spec *sup);
/* A checked `env` map (or NULL) as a NULL-terminated list of "K=V" (malloc'd, each too). */
char **child_conf_env(const json_t *map);

#endif
