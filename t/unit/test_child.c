/* Supervised children: output, exit, restart policy, backoff, intensity, shutdown. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct record {
    int started, exited, failed, stopped;
    int64_t last_status;
    int last_signal;
    char out[4096];
    size_t outlen;
    char reason[512];
    uint64_t start_times[32];
} record;

static void on_started(mf_child *c, void *ud)
{
    record *r = ud;
    (void)c;
    if (r->started < 32)
        r->start_times[r->started] = uv_hrtime() / 1000000;
    r->started++;
}

static void on_output(mf_child *c, const char *buf, size_t len, void *ud)
{
    record *r = ud;
    (void)c;
    if (r->outlen + len < sizeof r->out) {
        memcpy(r->out + r->outlen, buf, len);
        r->outlen += len;
        r->out[r->outlen] = '\0';
    }
}

static void on_exited(mf_child *c, int64_t status, int sig, void *ud)
{
    record *r = ud;
    (void)c;
    r->exited++;
    r->last_status = status;
    r->last_signal = sig;
}

static void on_failed(mf_child *c, const char *reason, void *ud)
{
    record *r = ud;
    (void)c;
    r->failed++;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

static void on_stopped(mf_child *c, void *ud)
{
    record *r = ud;
    (void)c;
    r->stopped++;
}

static const mf_child_ops ops = {on_started, on_output, on_exited, on_failed, on_stopped};

static bool exited_once(void *ud) { return ((record *)ud)->exited >= 1; }
static bool exited_thrice(void *ud) { return ((record *)ud)->exited >= 3; }
static bool failed(void *ud) { return ((record *)ud)->failed >= 1; }
static bool stopped(void *ud) { return ((record *)ud)->stopped >= 1; }
static bool started(void *ud) { return ((record *)ud)->started >= 1; }
static bool started_twice(void *ud) { return ((record *)ud)->started >= 2; }
static bool said_ready(void *ud) { return strstr(((record *)ud)->out, "ready") != NULL; }

static mf_child *run(const char *script, mf_restart restart, record *r, mf_child_spec *extra)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    mf_child_spec spec = extra ? *extra : (mf_child_spec){0};
    spec.name = "test";
    spec.argv = argv;
    spec.restart = restart;
    mf_error err = {0};
    mf_child *c = mf_child_start(&spec, &ops, r, &err);
    cr_assert_not_null(c, "%s", err.msg);
    return c;
}

static void stop_and_wait(mf_child *c, record *r)
{
    mf_child_stop(c);
    cr_assert(run_until(stopped, r, 10000));
}

TestSuite(child, .init = kernel_up, .fini = kernel_down);

Test(child, output_and_exit_status)
{
    record r = {0};
    mf_child *c = run("echo hello; echo bye >&2; exit 3", MF_RESTART_TEMPORARY, &r, NULL);
    cr_assert(run_until(failed, &r, 5000));
    cr_assert_eq(r.started, 1);
    cr_assert_eq(r.exited, 1);
    cr_assert_eq(r.last_status, 3);
    cr_assert_str_eq(r.out, "hello\n", "everything written before the exit is delivered");
    cr_assert_eq(r.failed, 1, "a temporary child is not restarted");
    stop_and_wait(c, &r);
}

Test(child, environment_and_working_directory)
{
    record r = {0};
    const char *env[] = {"MCPFED_TEST_VALUE=forty two", NULL};
    mf_child_spec spec = {.env = env, .cwd = "/tmp"};
    mf_child *c = run("echo \"$MCPFED_TEST_VALUE:$(pwd):${PATH:+haspath}\"", MF_RESTART_TEMPORARY, &r, &spec);
    cr_assert(run_until(exited_once, &r, 5000));
    cr_assert_str_eq(r.out, "forty two:/tmp:haspath\n", "entries are added to the inherited environment");
    stop_and_wait(c, &r);
}

Test(child, transient_restarts_only_after_abnormal_exit)
{
    record r = {0};
    mf_child *c = run("exit 0", MF_RESTART_TRANSIENT, &r, NULL);
    cr_assert(run_until(failed, &r, 5000));
    cr_assert_eq(r.started, 1);
    cr_assert_str_eq(r.reason, "exited normally; not restarted");
    stop_and_wait(c, &r);

    record r2 = {0};
    mf_child_spec spec = {.backoff_min_ms = 10};
    c = run("exit 1", MF_RESTART_TRANSIENT, &r2, &spec);
    cr_assert(run_until(exited_thrice, &r2, 5000));
    cr_assert_geq(r2.started, 3, "an abnormal exit is restarted");
    stop_and_wait(c, &r2);
}

Test(child, backoff_grows_and_intensity_gives_up)
{
    record r = {0};
    mf_child_spec spec = {.backoff_min_ms = 20, .backoff_max_ms = 1000, .intensity = 4,
                          .period_ms = 60000, .cooldown_ms = 600000};
    mf_child *c = run("exit 7", MF_RESTART_PERMANENT, &r, &spec);
    cr_assert(run_until(failed, &r, 10000));
    cr_assert_eq(r.started, 5, "one start and four restarts");
    cr_assert_not_null(strstr(r.reason, "more than 4 restarts"), "%s", r.reason);
    /* delays 20, 40, 80, 160: each gap at least its delay */
    for (int i = 1; i < 5; i++) {
        uint64_t gap = r.start_times[i] - r.start_times[i - 1];
        cr_assert_geq(gap, (uint64_t)(20 << (i - 1)), "gap %d was %llu ms", i, (unsigned long long)gap);
    }
    stop_and_wait(c, &r);
}

Test(child, a_missing_program_fails_with_its_reason)
{
    record r = {0};
    const char *argv[] = {"/nonexistent/program", NULL};
    mf_child_spec spec = {.name = "missing", .argv = argv, .backoff_min_ms = 5, .intensity = 2,
                          .cooldown_ms = 600000};
    mf_error err = {0};
    mf_child *c = mf_child_start(&spec, &ops, &r, &err);
    cr_assert_not_null(c);
    cr_assert(run_until(failed, &r, 5000));
    cr_assert_eq(r.started, 0);
    cr_assert_not_null(strstr(r.reason, "cannot start /nonexistent/program"), "%s", r.reason);
    stop_and_wait(c, &r);
}

Test(child, sigterm_ignored_means_sigkill_after_the_wait)
{
    record r = {0};
    mf_child_spec spec = {.shutdown_ms = 200};
    mf_child *c = run("trap '' TERM; echo ready; while :; do sleep 1; done", MF_RESTART_PERMANENT, &r, &spec);
    cr_assert(run_until(said_ready, &r, 5000));
    uint64_t t0 = uv_hrtime() / 1000000;
    stop_and_wait(c, &r);
    uint64_t took = uv_hrtime() / 1000000 - t0;
    cr_assert_geq(took, 200, "SIGTERM is given its time");
    cr_assert_lt(took, 5000);
    cr_assert_eq(r.last_signal, SIGKILL);
}

Test(child, descendants_die_with_the_leader)
{
    record r = {0};
    mf_child *c = run("sleep 300 & echo $!; exit 0", MF_RESTART_TEMPORARY, &r, NULL);
    cr_assert(run_until(failed, &r, 5000));
    int pid = atoi(r.out);
    cr_assert_gt(pid, 0);
    /* gone, or a zombie waiting for its new parent: never running on */
    char path[64], stat[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f) {
        cr_assert_not_null(fgets(stat, sizeof stat, f));
        fclose(f);
        char *paren = strrchr(stat, ')');
        cr_assert(paren && paren[2] == 'Z', "the grandchild still runs: %s", stat);
    }
    stop_and_wait(c, &r);
}

Test(child, stop_while_running_ends_the_process_group)
{
    record r = {0};
    mf_child *c = run("sleep 300 & echo ready; wait", MF_RESTART_PERMANENT, &r, NULL);
    cr_assert(run_until(said_ready, &r, 5000));
    cr_assert_gt(mf_child_pid(c), 0);
    stop_and_wait(c, &r);
    cr_assert_eq(r.started, 1, "a stopped child is not restarted");
}

Test(child, kill_restarts_a_permanent_child)
{
    record r = {0};
    mf_child_spec spec = {.backoff_min_ms = 10};
    mf_child *c = run("echo ready; exec sleep 300", MF_RESTART_PERMANENT, &r, &spec);
    cr_assert(run_until(started, &r, 5000));
    cr_assert(run_until(said_ready, &r, 5000));
    int first = mf_child_pid(c);
    mf_child_kill(c, "test");
    cr_assert(run_until(exited_once, &r, 5000));
    cr_assert_eq(r.last_signal, SIGKILL);
    cr_assert(run_until(started_twice, &r, 5000), "never restarted");
    cr_assert(mf_child_pid(c) != first);
    cr_assert_eq(mf_child_restarts(c), 1);
    stop_and_wait(c, &r);
}

Test(child, a_child_that_exits_at_end_of_input_is_not_signalled)
{
    record r = {0};
    mf_child *c = run("echo ready; exec cat", MF_RESTART_PERMANENT, &r, NULL);
    cr_assert(run_until(said_ready, &r, 5000));
    stop_and_wait(c, &r);
    cr_assert_eq(r.last_signal, 0, "it left on its own when stdin closed");
    cr_assert_eq(r.last_status, 0);
}

Test(child, a_transient_child_terminated_from_outside_is_not_restarted)
{
    /* OTP: `shutdown` is a normal exit for a transient child; SIGTERM from outside is that */
    record r = {0};
    mf_child *c = run("echo ready; exec sleep 300", MF_RESTART_TRANSIENT, &r, NULL);
    cr_assert(run_until(said_ready, &r, 5000));
    kill(mf_child_pid(c), SIGTERM);
    cr_assert(run_until(failed, &r, 5000));
    cr_assert_eq(r.last_signal, SIGTERM);
    cr_assert_eq(r.started, 1, "not restarted");
    cr_assert_str_eq(r.reason, "stopped by SIGTERM (shutdown); not restarted");
    stop_and_wait(c, &r);

    /* any other signal is abnormal: restarted */
    record r2 = {0};
    mf_child_spec spec = {.backoff_min_ms = 10};
    c = run("echo ready; exec sleep 300", MF_RESTART_TRANSIENT, &r2, &spec);
    cr_assert(run_until(said_ready, &r2, 5000));
    kill(mf_child_pid(c), SIGINT);
    cr_assert(run_until(started_twice, &r2, 5000), "a transient child killed by SIGINT is restarted");
    cr_assert_eq(r2.last_signal, SIGINT);
    cr_assert_eq(r2.failed, 0);
    stop_and_wait(c, &r2);
}

static void sup_done(void *ud) { *(bool *)ud = true; }
static bool is_true(void *ud) { return *(bool *)ud; }

static mf_child *child_of(mf_sup *s, const char *script, bool ack, mf_restart restart, record *r,
                          mf_error *err)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    mf_child_spec spec = {.sup = s, .name = "kid", .argv = argv, .start_ack = ack, .restart = restart};
    return mf_child_start(&spec, &ops, r, err);
}

static void stop_sup(mf_sup *s)
{
    bool done = false;
    mf_sup_stop(s, sup_done, &done);
    cr_assert(run_until(is_true, &done, 10000));
}

Test(child, a_supervisor_refuses_a_child_beyond_its_max_processes)
{
    mf_error err = {0};
    mf_sup_spec ss = {.name = "capped", .max_children = 2};
    mf_sup *s = mf_sup_start(&ss, &err);
    cr_assert_not_null(s);
    record r[3] = {{0}};
    const char *sh = "echo ready; exec sleep 300";
    cr_assert_not_null(child_of(s, sh, false, MF_RESTART_PERMANENT, &r[0], &err), "%s", err.msg);
    cr_assert_not_null(child_of(s, sh, false, MF_RESTART_PERMANENT, &r[1], &err), "%s", err.msg);
    cr_assert_null(child_of(s, sh, false, MF_RESTART_PERMANENT, &r[2], &err));
    cr_assert_eq(err.code, MF_RPC_OVERLOADED);
    cr_assert_str_eq(err.msg, "supervisor capped runs 2 processes, its max_processes");
    cr_assert(run_until(said_ready, &r[1], 5000));
    cr_assert_eq(r[2].started, 0);
    stop_sup(s);
    cr_assert_eq(r[0].stopped + r[1].stopped, 2);
}

static bool never(void *ud)
{
    (void)ud;
    return false;
}

Test(child, with_start_ack_a_sibling_starts_once_the_start_before_it_completed)
{
    mf_error err = {0};
    mf_sup_spec ss = {.name = "ordered"};
    mf_sup *s = mf_sup_start(&ss, &err);
    cr_assert_not_null(s);
    record r[3] = {{0}};
    /* a: ready once acknowledged; b: its start ends in an exit, which completes it too */
    mf_child *a = child_of(s, "echo ready; exec sleep 300", true, MF_RESTART_PERMANENT, &r[0], &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_assert_not_null(child_of(s, "sleep 0.2; exit 0", true, MF_RESTART_TEMPORARY, &r[1], &err), "%s", err.msg);
    cr_assert_not_null(child_of(s, "echo ready; exec sleep 300", true, MF_RESTART_PERMANENT, &r[2], &err), "%s", err.msg);
    cr_assert(run_until(said_ready, &r[0], 5000));
    /* a runs and has said so, but its start is not acknowledged: nothing follows it */
    cr_assert_not(run_until(never, NULL, 150));
    cr_assert_eq(r[1].started, 0, "b started before a's start completed");
    mf_child_ready(a);
    cr_assert(run_until(started, &r[1], 5000));
    cr_assert(run_until(said_ready, &r[2], 5000), "c started after b's start ended in its exit");
    cr_assert_eq(r[1].exited, 1);
    cr_assert_geq(r[2].start_times[0] - r[1].start_times[0], 200, "c started %llu ms after b",
                  (unsigned long long)(r[2].start_times[0] - r[1].start_times[0]));
    stop_sup(s);
}
