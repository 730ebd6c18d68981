/* The plugin loader: what it accepts, what it refuses, and that a refused plugin's code
 * never runs. MCPFED_PLUGIN_PATH points at the build tree's plugins and t/plugins. */
#include "harness.h"
#include "instance.h"
#include "plugin_loader.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char marker[64];

static void setup(void)
{
    kernel_up();
    snprintf(marker, sizeof marker, "/tmp/mcpfed-marker-%d", (int)getpid());
    unlink(marker);
    setenv("MCPFED_TEST_MARKER", marker, 1);
    mf_error err = {0};
    cr_assert_eq(mf_plugins_init(NULL, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
    mf_plugins_shutdown();
    unlink(marker);
    kernel_down();
}

static void expect_refused(const char *name, const char *want)
{
    mf_error err = {0};
    cr_assert_null(mf_plugin_load(name, &err), "%s must be refused", name);
    cr_assert_not_null(strstr(err.msg, want), "\"%s\" should contain \"%s\"", err.msg, want);
}

TestSuite(loader, .init = setup, .fini = teardown);

Test(loader, loads_stdio_with_both_roles_once)
{
    mf_error err = {0};
    mf_module *m = mf_plugin_load("stdio", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_str_eq(m->name, "stdio");
    cr_assert_not_null(m->desc->transport);
    cr_assert_not_null(m->desc->provider);
    cr_assert_eq(mf_plugin_load("stdio", &err), m, "a loaded plugin is not loaded twice");
    cr_assert_eq(mf_plugin_find("stdio"), m);
}

Test(loader, refuses_a_newer_minor_sdk_before_running_its_code)
{
    char want[300];
    snprintf(want, sizeof want, "its stamp says SDK %d.%d, this kernel speaks SDK %d.%d (a newer minor version",
             MF_SDK_MAJOR, MF_SDK_MINOR + 1, MF_SDK_MAJOR, MF_SDK_MINOR);
    expect_refused("oddminor", want);
    expect_refused("oddminor", "oddminor.so");
    cr_assert_neq(access(marker, F_OK), 0, "the refused plugin's constructor must not have run");
}

Test(loader, refuses_another_major_sdk_before_running_its_code)
{
    char want[300];
    snprintf(want, sizeof want, "its stamp says SDK %d.%d, this kernel speaks SDK %d.%d (another major version",
             MF_SDK_MAJOR + 1, MF_SDK_MINOR, MF_SDK_MAJOR, MF_SDK_MINOR);
    expect_refused("oddmajor", want);
    cr_assert_neq(access(marker, F_OK), 0);
}

/* SDK 4.1 added the settings tables in slots 4.0 reserved: a 4.0 plugin loads, has none,
 * and its own check still decides. */
Test(loader, loads_a_plugin_of_an_older_minor_which_has_no_settings_tables)
{
    mf_error err = {0};
    mf_module *m = mf_plugin_load("oldminor", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(m->desc->sdk_minor, 0);
    cr_assert_null(mf_module_settings(m, MF_ROLE_PROVIDER));
    json_t *conf = json_pack("{s:i}", "anything", 1);
    cr_assert_eq(mf_instance_check(m, MF_ROLE_PROVIDER, conf, "providers[1]", &err), 0, "%s", err.msg);
    json_object_set_new(conf, "bad", json_true());
    cr_assert_eq(mf_instance_check(m, MF_ROLE_PROVIDER, conf, "providers[1]", &err), -1);
    cr_assert_str_eq(err.msg, "providers[1].bad: refused by the plugin's own check");
    json_decref(conf);
}

/* A plugin of this minor: the kernel checks its table first, then its own check. */
Test(loader, checks_a_role_against_its_settings_table)
{
    mf_error err = {0};
    mf_module *m = mf_plugin_load("stdio", &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_not_null(mf_module_settings(m, MF_ROLE_PROVIDER));
    json_t *conf = json_pack("{s:[s],s:{s:i}}", "command", "x", "restart", "intensity", -1);
    cr_assert_eq(mf_instance_check(m, MF_ROLE_PROVIDER, conf, "providers[3]", &err), -1);
    cr_assert_str_eq(err.msg, "providers[3].restart.intensity: expected an integer from 0 to 100000, not -1");
    json_decref(conf);
    conf = json_pack("{s:[s],s:i,s:i}", "command", "x", "replicas", 3, "max_processes", 2);
    cr_assert_eq(mf_instance_check(m, MF_ROLE_PROVIDER, conf, "providers[3]", &err), -1);
    cr_assert_str_eq(err.msg, "providers[3].replicas: 3 is more than max_processes (2)", "then the plugin's check");
    json_decref(conf);
}

Test(loader, takes_plugins_of_the_same_major_up_to_its_minor)
{
    mf_error err = {0};
    for (unsigned minor = 0; minor <= MF_SDK_MINOR; minor++)
        cr_assert_eq(mf_sdk_refuses("p.so", "stamp", MF_SDK_MAJOR, minor, &err), 0, "minor %u: %s", minor,
                     err.msg);
    cr_assert_neq(mf_sdk_refuses("p.so", "stamp", MF_SDK_MAJOR, MF_SDK_MINOR + 1, &err), 0);
    cr_assert_neq(mf_sdk_refuses("p.so", "stamp", MF_SDK_MAJOR - 1, 0, &err), 0);
    cr_assert_not_null(strstr(err.msg, "another major version"), "%s", err.msg);
}

Test(loader, refuses_a_stamp_of_another_generation)
{
    /* a copy of a good plugin whose stamp's magic is the former one's */
    mf_error err = {0};
    char *file = mf_plugin_locate("loopback", &err);
    cr_assert_not_null(file, "%s", err.msg);
    char dir[] = "/tmp/mcpfed-loader-XXXXXX", path[128], cmd[600];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/loopback.so", dir);
    snprintf(cmd, sizeof cmd, "sed 's/MCPFED2/MCPFED1/' %s > %s", file, path);
    cr_assert_eq(system(cmd), 0);
    expect_refused(path, "its stamp is of another SDK generation (magic \"MCPFED1\"");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(file);
}

Test(loader, refuses_a_descriptor_that_names_another_plugin)
{
    expect_refused("oddname", "its descriptor names it \"somethingelse\"");
}

Test(loader, reports_a_failing_load_function)
{
    expect_refused("oddload", "load failed: deliberate failure");
    cr_assert_null(mf_plugin_find("oddload"));
}

Test(loader, refuses_missing_truncated_and_foreign_files)
{
    expect_refused("nosuchplugin", "plugin \"nosuchplugin\" not found (searched");
    mf_error err = {0};
    char *stdio = mf_plugin_locate("stdio", &err);
    cr_assert_not_null(stdio, "%s", err.msg);
    char dir[] = "/tmp/mcpfed-loader-XXXXXX", path[128], cmd[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cut.so", dir);
    snprintf(cmd, sizeof cmd, "head -c 3000 %s > %s", stdio, path);
    cr_assert_eq(system(cmd), 0);
    expect_refused(path, "cut.so: truncated");
    snprintf(path, sizeof path, "%s/text.so", dir);
    snprintf(cmd, sizeof cmd, "echo 'not a plugin' > %s", path);
    cr_assert_eq(system(cmd), 0);
    expect_refused(path, "not an ELF shared object");
    snprintf(path, sizeof path, "%s/libc.so", dir);
    snprintf(cmd, sizeof cmd, "cp /bin/true %s", path);
    cr_assert_eq(system(cmd), 0);
    expect_refused(path, "no ABI stamp");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(stdio);
}

Test(loader, leaves_no_private_copy_behind)
{
    mf_error err = {0};
    cr_assert_not_null(mf_plugin_load("loopback", &err), "%s", err.msg);
    cr_assert_neq(system("ls -d /tmp/mcpfed-plugin-* >/dev/null 2>&1"), 0,
                  "the private copy and its directory are removed once mapped");
}

Test(loader, checks_roles)
{
    mf_error err = {0};
    mf_module *m = mf_plugin_load("loopback", &err);
    cr_assert_not_null(m, "%s", err.msg);
    json_t *conf = json_object();
    cr_assert_neq(mf_instance_check(m, MF_ROLE_TRANSPORT, conf, "listen[1]", &err), 0);
    cr_assert_str_eq(err.msg, "listen[1]: plugin \"loopback\" is no transport");
    json_decref(conf);
}
