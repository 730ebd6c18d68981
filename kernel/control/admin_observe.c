/* The admin commands about tracing and the audit log. */
#include "build-config.h"
#include "admin.h"
#include "observe.h"

#include <string.h>

static void cmd_tracing(int argc, char **argv, mf_admin_reply *out)
{
    (void)argc;
    (void)argv;
    out->body = mf_trace_status();
}

static void cmd_audit(int argc, char **argv, mf_admin_reply *out)
{
    if (argc == 1) {
        out->body = mf_audit_status();
        return;
    }
    if (argc != 2 || strcmp(argv[1], "reopen") != 0) {
        out->code = 400;
        out->body = json_pack("{s:s}", "error", "usage: audit [reopen]");
        return;
    }
    if (mf_audit_reopen() != 0) {
        out->code = 409;
        out->body = json_pack("{s:s}", "error", "no audit log is configured");
        return;
    }
    out->body = json_pack("{s:b}", "reopening", true);
}

void mf_admin_observe_commands(void)
{
    mf_admin_command("tracing", "tracing", "the span exporter: spans queued, exported, dropped; failed exports",
                     cmd_tracing);
    mf_admin_command("audit", "audit [reopen]",
                     "the audit log: records, dropped, write errors; or open its file again (after logrotate)",
                     cmd_audit);
}
