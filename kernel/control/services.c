/* The last step of an orderly stop, once transports and providers are gone: every kernel
 * service closes its handles, so that the loop can end. */
#include "build-config.h"
#include "services.h"
#include "admin.h"
#include "metrics.h"
#include "stats.h"
#include "call.h"
#include "plugin_loader.h"
#include "policy.h"
#include "router.h"
#include "cache_hook.h"
#include "ratelimit.h"
#include "session.h"
#include "supervisor.h"

void mf_services_close(void)
{
    mf_admin_stop();
    mf_metrics_stop();
    mf_policy_stop();
    mf_session_shutdown();
    mf_stats_free();
    mf_rate_shutdown();
    mf_cache_stop();
    mf_registry_close();
    mf_router_stop();
    mf_plugins_stop();
    mf_calls_close();
    mf_child_reaper_stop();
    mf_endpoints_close();
}
