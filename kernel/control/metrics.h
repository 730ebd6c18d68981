/* The metrics endpoint: Prometheus text at the configuration's metrics URL, /healthz and
 * /readyz beside it, on a listener of its own. */
#ifndef MF_METRICS_H
#define MF_METRICS_H

#include "config.h"

/* Listen, when the configuration names a metrics URL; -1 with err when that fails. */
int mf_metrics_start(const mf_config *cfg, mf_error *err);
/* Stop listening (connections in progress finish their answer). */
void mf_metrics_stop(void);

#endif
