/* A gateway in process for the fuzz targets (gateway.h): the start and the orderly stop
 * of kernel/main.c, without its signals and command line. */
#include "build-config.h"
#include "kernel.h"
#include "services.h"
#include "admin.h"
#include "call.h"
#include "config.h"
#include "instance.h"
#include "plugin_loader.h"
#include "policy.h"
#include "reconfig.h"
#include "router.h"
#include "session.h"
#include "supervisor.h"
#include "swap.h"
#include "../../plugins/http/listener.h"
#include "gateway.h"
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/mcpfed-fuzz-gw-XXXXXX";
static char admin_path[sizeof dir + 16];
static char conf_path[sizeof dir + 16];
static mf_config *cfg;
static mf_instance *transport;
static int port = -1;
static bool stopped;

/* The kernel's plugins may ask for a shutdown (the stdio transport does); nothing here
 * serves stdio, so there is nothing to do but note it. */
MF_API void mf_request_shutdown(const char *reason)
{
    fprintf(stderr, "fuzz: the gateway asked to shut down: %s\n", reason);
}

/* A plugin reloaded or unloaded (admin commands) is unmapped with dlclose; libFuzzer keeps
 * reading the coverage counters of every module it has seen, and would fault on them.
 * In this process modules stay mapped (this definition takes the place of libc's for
 * the loader too; the process is short-lived). */
__attribute__((visibility("default"))) int dlclose(void *handle);
__attribute__((visibility("default"))) int dlclose(void *handle)
{
    (void)handle;
    return 0;
}

static const char config_text[] =
    "return {\n"
    "  log_level = 'error',\n"
    "  admin = 'admin.sock',\n"
    "  request_timeout_ms = 300,\n"
    "  shutdown_ms = 1000,\n"
    "  listen = { 'http://127.0.0.1:0/mcp' },\n"
    "  http = { idle_timeout_ms = 300, read_timeout_ms = 300, max_sessions = 64,\n"
    "           max_connections = 32, session_idle_ms = 60000 },\n"
    "  providers = { { name = 'lb', transport = 'loopback', timeout_ms = 300 } },\n"
    "}\n";

static void on_transport_stopped(mf_instance *inst, void *ud)
{
    (void)inst;
    (void)ud;
    transport = NULL;
}

static void providers_stopped(void) { stopped = true; }
static bool is_stopped(void *ud) { (void)ud; return stopped; }
static bool no_transport(void *ud) { (void)ud; return transport == NULL; }

static void gateway_stop(void)
{
    mf_swap_shutdown();
    mf_reconfig_shutdown();
    mf_session_end_listens();
    if (transport) {
        mf_instance_stop(transport, on_transport_stopped, NULL);
        fuzz_run_until(no_transport, NULL, 5000);
    }
    mf_registry_stop(providers_stopped);
    fuzz_run_until(is_stopped, NULL, 5000);
    mf_services_close();
    mf_loop_close();
    mf_plugins_shutdown();
    mf_config_unref(cfg);
    unlink(conf_path);
    rmdir(dir);
}

static bool settled(void *ud) { (void)ud; return mf_registry_settled(); }

void fuzz_gateway_start(void)
{
    mf_error err = {0};
    if (!mkdtemp(dir))
        abort();
    snprintf(admin_path, sizeof admin_path, "%s/admin.sock", dir);
    snprintf(conf_path, sizeof conf_path, "%s/c.lua", dir);
    FILE *f = fopen(conf_path, "w");
    fputs(config_text, f);
    fclose(f);
    cfg = mf_config_load(conf_path, false, &err);
    if (!cfg)
        goto fail;
    mf_log_set_level(cfg->log_level);
    if (mf_loop_init() || mf_endpoints_init() || mf_plugins_init(cfg->plugin_dirs, &err) ||
        mf_config_check_plugins(cfg, false, &err))
        goto fail;
    mf_admin_kernel_commands();
    mf_admin_plugin_commands();
    if (mf_admin_start(cfg, &err))
        goto fail;
    mf_calls_init();
    mf_session_init(cfg);
    mf_supervision_init((uint32_t)cfg->max_processes);
    mf_swap_init(cfg);
    mf_reconfig_init(&cfg, false);
    if (mf_router_start(cfg, &err) || mf_policy_start(cfg, &err) || mf_registry_start(cfg, &err))
        goto fail;
    if (!mf_instance_start(mf_plugin_find(cfg->listeners[0].transport), MF_ROLE_TRANSPORT,
                           cfg->listeners[0].url, cfg->listeners[0].plugin_conf, NULL, &transport, &err))
        goto fail;
    atexit(gateway_stop);
    if (!fuzz_run_until(settled, NULL, 5000)) {
        snprintf(err.msg, sizeof err.msg, "the provider did not come up");
        goto fail;
    }
    /* the listener's port: the system chose it */
    port = fuzz_port_of(&((listener *)transport->self)->tcp);
    if (port > 0)
        return;
    snprintf(err.msg, sizeof err.msg, "no port");
fail:
    fprintf(stderr, "fuzz: cannot start the gateway (MCPFED_PLUGIN_PATH, MCPFED_LUA_PATH?): %s\n", err.msg);
    exit(1);
}

int fuzz_gateway_port(void) { return port; }
const char *fuzz_gateway_admin(void) { return admin_path; }
