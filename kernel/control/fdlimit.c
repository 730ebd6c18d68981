/* File descriptors. Idle client connections must not take the descriptors that keep the
 * gateway working: the admin socket and its clients, upstream processes' pipes (anew at each
 * restart), connections to HTTP upstreams, plugin files at a reload. At start the soft limit
 * is raised to the hard one, and a reserve of it is kept from client connections, which get
 * the rest as slots that transports take and give back. */
#include "build-config.h"
#include "fdlimit.h"
#include "control.h"

#include <stdint.h>
#include <sys/resource.h>

#define RESERVE_BASE 48          /* the loop, the admin socket and a few of its clients, plugins */
#define RESERVE_PER_UPSTREAM 8   /* one replica's pipes or connections, with room for a restart */

/* Replicas (stdio) or URLs (http) of every provider: one upstream each. */
static size_t upstreams(const mf_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->nproviders; i++) {
        const json_t *pc = cfg->providers[i].plugin_conf;
        json_int_t replicas = json_integer_value(json_object_get(pc, "replicas"));
        size_t urls = json_array_size(json_object_get(pc, "urls"));
        n += urls ? urls : replicas > 1 ? (size_t)replicas : 1;
    }
    return n;
}

void mf_fd_limits_init(const mf_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        mf_warn("kernel", "cannot read the file descriptor limit; client connections are not capped by it", NULL);
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
        else
            mf_warn("kernel", "cannot raise the file descriptor limit to the hard limit", "soft=%llu hard=%llu",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    }
    if (rl.rlim_cur == RLIM_INFINITY) {
        mf_info("kernel", "file descriptors", "limit=unlimited");
        return;
    }
    size_t reserve = RESERVE_BASE + RESERVE_PER_UPSTREAM * upstreams(cfg);
    mf_ctrl.fds.slots = rl.rlim_cur > reserve ? (size_t)rl.rlim_cur - reserve : 0;
    mf_info("kernel", "file descriptors", "limit=%llu reserved=%zu client_connections=%zu",
            (unsigned long long)rl.rlim_cur, reserve, mf_ctrl.fds.slots);
    if (mf_ctrl.fds.slots == 0)
        mf_warn("kernel", "the file descriptor limit leaves nothing for client connections; raise it (ulimit -n)",
                "limit=%llu reserved=%zu", (unsigned long long)rl.rlim_cur, reserve);
}

bool mf_conn_slot_take(void)
{
    if (mf_ctrl.fds.taken >= mf_ctrl.fds.slots)
        return false;
    mf_ctrl.fds.taken++;
    return true;
}

void mf_conn_slot_give(void)
{
    if (mf_ctrl.fds.taken > 0)
        mf_ctrl.fds.taken--;
}
