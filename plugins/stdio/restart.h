/* The `restart` table of a provider that runs supervised children (the stdio provider's
 * upstreams, the python provider's workers): type, strategy, backoff, intensity, period,
 * cool-down and shutdown time, with OTP's meanings. */
#ifndef STDIO_RESTART_H
#define STDIO_RESTART_H

#include <mcpfed/mcpfed.h>

/* Check conf.restart (absent is fine) and, when spec or sup is given, set what it says
 * there (the defaults of mf_child_spec and mf_sup_spec where it says nothing). */
int restart_check(const json_t *conf, const char *path, mf_child_spec *spec, mf_sup_spec *sup, mf_error *err);

#endif
