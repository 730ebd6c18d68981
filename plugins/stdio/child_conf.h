/* Settings of a provider that runs supervised children (the stdio provider's upstreams, the
 * python provider's workers): the `restart` table, with OTP's meanings (type, strategy,
 * backoff, intensity, period, cool-down, shutdown time), and the `env` map. */
#ifndef STDIO_CHILD_CONF_H
#define STDIO_CHILD_CONF_H

#include <mcpfed/mcpfed.h>

/* Check conf.restart (absent is fine) and, when spec or sup is given, set what it says
 * there (the defaults of mf_child_spec and mf_sup_spec where it says nothing). */
int child_conf_restart(const json_t *conf, const char *path, mf_child_spec *spec, mf_sup_spec *sup,
                       mf_error *err);
/* A checked `env` map (or NULL) as a NULL-terminated list of "K=V" (malloc'd, each too). */
char **child_conf_env(const json_t *map);

#endif
