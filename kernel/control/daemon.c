/* SIGHUP and systemd's notification protocol (daemon.h).
 *
 * READY=1 waits for the catalog to settle, so that a unit ordered After=mcpfed.service
 * finds every provider's tools listed. A reload (SIGHUP, or `reload config` on the admin
 * socket) is framed by RELOADING=1 and READY=1, whatever its outcome: a refused
 * configuration leaves the gateway serving the one in force. WATCHDOG=1 is sent from a
 * loop timer, so a loop that hangs stops feeding it. */
#include "build-config.h"
#include "daemon.h"
#include "control.h"
#include "reconfig.h"
#include "registry.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

static struct {
    uv_signal_t sighup;
    uv_timer_t watchdog;
    bool started, ready, stopping;
} D;

static void notify_ready(void)
{
    if (D.ready || D.stopping)
        return;
    D.ready = true;
    sd_notifyf(0, "READY=1\nSTATUS=serving\nMAINPID=%d", (int)getpid());
    mf_debug("daemon", "ready", NULL);
}

static void reload_done(void *ud, int code, json_t *report)
{
    MF_UNUSED(ud);
    const char *why = json_string_value(json_object_get(report, "reason"));
    if (!why)
        why = json_string_value(json_object_get(report, "error"));
    if (code == 200)
        mf_info("daemon", "configuration reloaded (SIGHUP)", NULL);
    else
        mf_warn("daemon", "configuration reload refused (SIGHUP)", "reason=\"%s\"", mf_log_esc(why ? why : "", (size_t)-1));
    json_decref(report);
    if (!D.stopping)
        sd_notify(0, code == 200 ? "READY=1\nSTATUS=serving" : "READY=1\nSTATUS=serving; the last reload was refused");
}

static void on_sighup(uv_signal_t *h, int signum)
{
    MF_UNUSED(h);
    MF_UNUSED(signum);
    if (D.stopping)
        return;
    mf_info("daemon", "SIGHUP: reloading the configuration", NULL);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* MONOTONIC_USEC: what Type=notify-reload units need beside RELOADING=1 */
    sd_notifyf(0, "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
    mf_reconfig_reload(reload_done, NULL);
}

static void on_watchdog(uv_timer_t *t)
{
    MF_UNUSED(t);
    sd_notify(0, "WATCHDOG=1");
}

void mf_daemon_start(void)
{
    uv_signal_init(mf_loop(), &D.sighup);
    uv_signal_start(&D.sighup, on_sighup, SIGHUP);
    uv_unref((uv_handle_t *)&D.sighup);
    uv_timer_init(mf_loop(), &D.watchdog);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(1, &usec) > 0 && usec > 0) {
        uint64_t ms = usec / 2000 ? usec / 2000 : 1;   /* twice per interval, as sd_watchdog_enabled(3) advises;
                                                         * the variables unset, so that children do not inherit them */
        uv_timer_start(&D.watchdog, on_watchdog, ms, ms);
        uv_unref((uv_handle_t *)&D.watchdog);
        mf_info("daemon", "feeding the watchdog", "interval_ms=%llu", (unsigned long long)ms);
    }
    D.started = true;
}

void mf_daemon_serving(void)
{
    if (mf_registry_settled())
        notify_ready();
    else
        mf_registry_on_settled(notify_ready);
}

void mf_daemon_stopping(void)
{
    if (D.stopping)
        return;
    D.stopping = true;
    mf_registry_on_settled(NULL);
    if (D.started)
        uv_signal_stop(&D.sighup);
    sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
}

void mf_daemon_close(void)
{
    if (!D.started)
        return;
    uv_close((uv_handle_t *)&D.sighup, NULL);
    uv_close((uv_handle_t *)&D.watchdog, NULL);
    D.started = false;
}
