/* Kernel-internal declarations shared by the files of kernel/. Plugins never see this. */
#ifndef MF_KERNEL_H
#define MF_KERNEL_H

#include <mcpfed/mcpfed.h>

#define MF_UNUSED(x) (void)(x)

/* loop.c */
int mf_loop_init(void);
void mf_loop_run(void);
void mf_loop_close(void);

/* log.c */
void mf_log_set_level(mf_log_level level);
int mf_log_level_parse(const char *s, mf_log_level *out);

/* endpoint.c */
int mf_endpoints_init(void);
void mf_endpoints_close(void);
size_t mf_endpoints_queued(void);
/* Hold: messages for ep wait, in order, until it is released (hold false); they then go
 * ahead of anything sent since. */
void mf_endpoint_hold(mf_ep ep, bool hold);
/* Close ep, but for ttl_ms deliver what is sent to it (or was held for it) to `to`. */
void mf_endpoint_redirect(mf_ep ep, mf_ep to, uint64_t ttl_ms);

/* msg.c */
void mf_msg_ctl_release(mf_msg *m);

#endif
