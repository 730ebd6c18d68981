/* mcpfed: command line, start-up and orderly shutdown. */
#include "build-config.h"
#include "call.h"
#include "config.h"
#include "curl_mem.h"
#include "fdlimit.h"
#include "help_config.h"
#include "services.h"
#include "instance.h"
#include "plugin_loader.h"
#include "router.h"
#include "cache_hook.h"
#include "session.h"
#include "supervisor.h"
#include "admin.h"
#include "policy.h"
#include "observe.h"
#include "reconfig.h"
#include "daemon.h"
#include "metrics.h"
#include "swap.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    const char *config;
    bool stdio;
    bool check;
    bool help_config;
} options;

static mf_config *cfg;              /* the configuration in force (a reload replaces it) */
static mf_instance **transports;   /* stdio and the listeners */
static size_t ntransports, transports_running;
static uv_signal_t sigint_h, sigterm_h;
static uv_timer_t shutdown_timer;
static uv_timer_t stop_timer;   /* stops the transports a turn after the listens ended */
static bool shutting_down;
static int exit_code;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mcpfed [-c FILE] [--stdio] [--check] [--help-config] [--version] [--help]\n"
            "\n"
            "A federating gateway for the Model Context Protocol.\n"
            "\n"
            "  -c, --config FILE  configuration (Lua); default: the embedded etc/mcpfed.lua\n"
            "      --stdio        serve one MCP client on standard input and output\n"
            "      --check        check the configuration and its plugins, then exit\n"
            "      --help-config  print every setting of mcpfed and of the plugins found, then exit\n"
            "  -V, --version      print the version and exit\n"
            "  -h, --help         print this help and exit\n"
            "\n"
            "Logs go to standard error, one line per event.\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"stdio", no_argument, NULL, 's'},
        {"check", no_argument, NULL, 'k'},        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {"help-config", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 's': o->stdio = true; break;
        case 'k': o->check = true; break;
        case 'H': o->help_config = true; break;
        case 'V': printf("mcpfed %s (plugin SDK %d.%d)\n", PACKAGE_VERSION, MF_SDK_MAJOR, MF_SDK_MINOR);
                  exit(0);
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mcpfed: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    return 0;
}

/* --- shutdown -------------------------------------------------------------------- */

static void close_kernel(void)
{
    uv_close((uv_handle_t *)&sigint_h, NULL);
    uv_close((uv_handle_t *)&sigterm_h, NULL);
    uv_close((uv_handle_t *)&shutdown_timer, NULL);
    uv_close((uv_handle_t *)&stop_timer, NULL);
    mf_daemon_close();
    mf_services_close();
    mf_trace_stop();
    mf_audit_stop();
    mf_obs_pool_clear();
}

static void providers_stopped(void)
{
    mf_info("kernel", "stopped", NULL);
    close_kernel();
}

static void transports_stopped(void)
{
    mf_registry_stop(providers_stopped);
}

static void on_transport_stopped(mf_instance *inst, void *ud)
{
    MF_UNUSED(inst);
    MF_UNUSED(ud);
    if (--transports_running == 0)
        transports_stopped();
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    MF_UNUSED(t);
    mf_error_log("kernel", "shutdown took too long; killing what is left and exiting", NULL);
    mf_child_kill_all();   /* no child outlives the gateway, even then */
    exit(exit_code ? exit_code : 1);
}

static void stop_transports(uv_timer_t *t)
{
    MF_UNUSED(t);
    if (transports_running == 0) {
        transports_stopped();
        return;
    }
    for (size_t i = 0; i < ntransports; i++)
        if (transports[i])
            mf_instance_stop(transports[i], on_transport_stopped, NULL);
}

void mf_request_shutdown(const char *reason)
{
    if (shutting_down)
        return;
    shutting_down = true;
    mf_info("kernel", "shutting down", "reason=\"%s\"", reason);
    uv_signal_stop(&sigint_h);
    uv_signal_stop(&sigterm_h);
    mf_daemon_stopping();
    mf_watch_stop();
    mf_swap_shutdown();
    mf_reconfig_shutdown();
    /* a bound on the whole sequence, past every child's own shutdown bound */
    uv_timer_start(&shutdown_timer, on_shutdown_timeout, (uint64_t)cfg->shutdown_ms + 5000, 0);
    uv_unref((uv_handle_t *)&shutdown_timer);
    /* open listens end with their result, which the transports deliver before they stop:
     * the kernel hands messages over at the end of this turn, the timer runs on the next */
    if (mf_session_end_listens() > 0)
        uv_timer_start(&stop_timer, stop_transports, 0, 0);
    else
        stop_transports(NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    MF_UNUSED(h);
    mf_request_shutdown(signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* --- main ------------------------------------------------------------------------ */

static mf_instance *start_transport(const char *plugin, const char *name, const json_t *conf)
{
    mf_error err = {0};
    mf_instance *t = mf_instance_start(mf_plugin_find(plugin), MF_ROLE_TRANSPORT, name, conf, NULL,
                                       &transports[ntransports], &err);
    if (!t) {
        mf_error_log("kernel", "start failed", "transport=%s reason=\"%s\"", name,
                     mf_log_esc(err.msg, (size_t)-1));
        return NULL;
    }
    ntransports++;
    transports_running++;
    return t;
}

static int serve(const options *o)
{
    mf_error err = {0};
    if (!o->stdio && cfg->nlisteners == 0) {
        fprintf(stderr, "mcpfed: nothing to serve: configure listen = { \"http://127.0.0.1:8808/mcp\" } "
                        "or pass --stdio\n");
        return 1;
    }
    mf_admin_kernel_commands();
    mf_admin_plugin_commands();
    if (mf_admin_start(cfg, &err) != 0 || mf_metrics_start(cfg, &err) != 0) {
        fprintf(stderr, "mcpfed: %s\n", err.msg);
        mf_admin_stop();
        return 1;
    }
    transports = mf_xcalloc(cfg->nlisteners + 1, sizeof *transports);
    mf_calls_init();
    mf_session_init(cfg);
    mf_supervision_init((uint32_t)cfg->max_processes);
    mf_swap_init(cfg);
    mf_watch_start(cfg);
    mf_reconfig_init(&cfg, o->stdio);
    uv_signal_init(mf_loop(), &sigint_h);
    uv_signal_init(mf_loop(), &sigterm_h);
    uv_signal_start(&sigint_h, on_signal, SIGINT);
    uv_signal_start(&sigterm_h, on_signal, SIGTERM);
    uv_unref((uv_handle_t *)&sigint_h);
    uv_unref((uv_handle_t *)&sigterm_h);
    mf_daemon_start();
    uv_timer_init(mf_loop(), &shutdown_timer);
    uv_timer_init(mf_loop(), &stop_timer);
    mf_info("kernel", "starting", "version=%s providers=%zu config=%s allocator=\"%s\"", PACKAGE_VERSION,
            cfg->nproviders, cfg->file ? cfg->file : "(embedded)", mf_allocator());
    mf_fd_limits_init(cfg);
    if (mf_router_start(cfg, &err) != 0 || mf_cache_start(cfg, &err) != 0 || mf_policy_start(cfg, &err) != 0 ||
        mf_trace_configure(cfg, &err) != 0 || mf_audit_configure(cfg, &err) != 0) {
        mf_error_log("kernel", "start failed", "reason=\"%s\"", mf_log_esc(err.msg, (size_t)-1));
        exit_code = 1;
        mf_request_shutdown("start failed");
    } else if (mf_registry_start(cfg, &err) != 0) {
        mf_error_log("kernel", "start failed", "reason=\"%s\"", mf_log_esc(err.msg, (size_t)-1));
        exit_code = 1;
        mf_request_shutdown("start failed");
    } else {
        bool ok = true;
        for (size_t i = 0; i < cfg->nlisteners && ok; i++)
            ok = start_transport(cfg->listeners[i].transport, cfg->listeners[i].url,
                                 cfg->listeners[i].plugin_conf) != NULL;
        if (ok && o->stdio) {
            json_t *tc = mf_config_stdio_conf(cfg);
            ok = start_transport("stdio", "stdio", tc) != NULL;
            json_decref(tc);
        }
        if (!ok) {
            exit_code = 1;
            mf_request_shutdown("start failed");
        } else {
            mf_daemon_serving();
        }
    }
    mf_loop_run();
    free(transports);
    return exit_code;
}

int main(int argc, char **argv)
{
    /* before anything allocates through jansson or libuv */
    if (mf_alloc_init() != 0) {
        fprintf(stderr, "mcpfed: cannot set the allocator\n");
        return 1;
    }
    /* before any libcurl call, a plugin's too: its memory functions are the process's */
    if (mf_curl_global_init() != 0) {
        fprintf(stderr, "mcpfed: cannot initialise libcurl\n");
        return 1;
    }
    atexit(mf_curl_global_cleanup);
    options o = {0};
    if (parse_args(argc, argv, &o))
        return 2;
    signal(SIGPIPE, SIG_IGN);
    mf_error err = {0};
    cfg = mf_config_load(o.config, o.stdio, &err);
    if (!cfg) {
        fprintf(stderr, "mcpfed: config error: %s\n", err.msg);
        return 1;
    }
    mf_log_set_level(cfg->log_level);
    int rc = 1;
    if (o.help_config) {
        /* the plugins of the configuration's directories too */
        if (mf_plugins_init(cfg->plugin_dirs, &err)) {
            fprintf(stderr, "mcpfed: %s\n", err.msg);
        } else {
            mf_help_config(stdout);
            rc = 0;
        }
        mf_plugins_shutdown();
        mf_config_unref(cfg);
        return rc;
    }
    if (mf_loop_init() || mf_endpoints_init()) {
        fprintf(stderr, "mcpfed: cannot initialise the event loop\n");
        mf_config_unref(cfg);
        return 1;
    }
    if (mf_plugins_init(cfg->plugin_dirs, &err) || mf_config_check_plugins(cfg, o.stdio, &err)) {
        fprintf(stderr, "mcpfed: config error: %s: %s\n", cfg->file ? cfg->file : "embedded default",
                err.msg);
        mf_endpoints_close();
        goto out;
    }
    if (o.check) {
        printf("mcpfed: %s: configuration OK (%zu providers)\n",
               cfg->file ? cfg->file : "embedded default", cfg->nproviders);
        if (cfg->admin)
            printf("mcpfed: admin socket: %s\n", cfg->admin);
        if (cfg->metrics)
            printf("mcpfed: metrics: %s\n", cfg->metrics);
        mf_endpoints_close();
        rc = 0;
        goto out;
    }
    rc = serve(&o);
out:
    mf_loop_close();
    mf_plugins_shutdown();
    mf_config_unref(cfg);
    return rc;
}
