/* mcpfed --help-config: every settings table, the kernel's and those of the plugins in the
 * plugin directories, one key a line (t/integration/readme-config.mjs compares them with
 * README.md's tables). */
#include "build-config.h"
#include "config.h"
#include "help_config.h"
#include "plugin_loader.h"

#include <stdio.h>

static void role(FILE *out, const char *plugin, const char *role, const void *ops, const mf_setting *table)
{
    char section[300];
    if (!ops)
        return;
    snprintf(section, sizeof section, "%s %s", plugin, role);
    if (table)
        mf_settings_describe(out, section, table);
    else
        fprintf(out, "[%s]\n# no settings table (the plugin checks its keys itself)\n\n", section);
}

static void plugin(const char *name, const mf_plugin *d, const char *error, void *ud)
{
    FILE *out = ud;
    if (!d) {
        fprintf(stderr, "mcpfed: %s: %s\n", name, error);
        return;
    }
    role(out, name, "transport", d->transport, d->transport_settings);
    role(out, name, "provider", d->provider, d->provider_settings);
    role(out, name, "breaker", d->breaker, d->breaker_settings);
    role(out, name, "cache", d->cache, d->cache_settings);
    role(out, name, "cache provider", d->cache, d->cache_provider_settings);
}

void mf_help_config(FILE *out)
{
    fprintf(out, "# mcpfed %s settings, one key a line: name, type, default, bounds, doc (tab-separated)\n\n",
            PACKAGE_VERSION);
    mf_settings_describe(out, "kernel", mf_top_settings);
    mf_settings_describe(out, "kernel provider", mf_provider_settings);
    mf_settings_describe(out, "kernel listen", mf_endpoint_settings);
    mf_settings_describe(out, "kernel rate", mf_rate_settings);
    mf_settings_describe(out, "kernel rate limit", mf_rate_limit_settings);
    mf_plugins_describe(plugin, out);
}
