/* A supervisor's decisions against Erlang/OTP's documented rules (supervisor(3),
 * "Restart Strategy", "Restart Intensity and Period", "Child Specification"), with a
 * fake clock. */
#include "harness.h"
#include "sup_core.h"

#include <signal.h>
#include <string.h>

static sup_core s;
static sup_act acts[64];

static void teardown(void) { mf_sup_core_free(&s); }

/* The actions as text, e.g. "stop 2, stop 0, restart 0, restart 1, restart 2". */
static const char *show(size_t n)
{
    static char buf[512];
    static const char *const names[] = {"stop", "restart", "remove", "escalate"};
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s %d", i ? ", " : "", names[acts[i].kind],
                              acts[i].child);
    return buf;
}

static const char *exit_of(int child, bool abnormal, uint64_t now)
{
    size_t n = mf_sup_core_exited(&s, child, abnormal, now, acts);
    for (size_t i = 0; i < n; i++)
        mf_sup_core_applied(&s, &acts[i]);
    return show(n);
}

static void children(mf_strategy st, unsigned intensity, uint64_t period, const mf_restart *types, int n)
{
    mf_sup_core_init(&s, st, intensity, period);
    for (int i = 0; i < n; i++)
        cr_assert_eq(mf_sup_core_add(&s, types[i]), i);
}

TestSuite(supervisor, .fini = teardown);

static const mf_restart P = MF_RESTART_PERMANENT, T = MF_RESTART_TRANSIENT, X = MF_RESTART_TEMPORARY;

Test(supervisor, restart_types)
{
    mf_restart types[] = {P, T, X};
    children(MF_ONE_FOR_ONE, 10, 60000, types, 3);
    cr_assert_str_eq(exit_of(0, false, 0), "restart 0", "permanent: restarted even after a normal exit");
    cr_assert_str_eq(exit_of(1, false, 1), "remove 1", "transient: not restarted after a normal exit");
    mf_sup_core_free(&s);
    children(MF_ONE_FOR_ONE, 10, 60000, types, 3);
    cr_assert_str_eq(exit_of(1, true, 0), "restart 1", "transient: restarted after an abnormal exit");
    cr_assert_str_eq(exit_of(2, true, 1), "remove 2", "temporary: never restarted");
}

Test(supervisor, one_for_one_touches_only_the_child)
{
    mf_restart types[] = {P, P, P};
    children(MF_ONE_FOR_ONE, 10, 60000, types, 3);
    cr_assert_str_eq(exit_of(1, true, 0), "restart 1");
}

Test(supervisor, one_for_all_stops_the_others_last_first_and_restarts_all_in_order)
{
    mf_restart types[] = {P, P, P};
    children(MF_ONE_FOR_ALL, 10, 60000, types, 3);
    cr_assert_str_eq(exit_of(1, true, 0), "stop 2, stop 0, restart 0, restart 1, restart 2");
}

Test(supervisor, one_for_all_does_not_bring_back_a_temporary_sibling)
{
    mf_restart types[] = {P, P, X};
    children(MF_ONE_FOR_ALL, 10, 60000, types, 3);
    cr_assert_str_eq(exit_of(0, true, 0), "stop 2, stop 1, restart 0, restart 1, remove 2");
    cr_assert_str_eq(exit_of(1, true, 1), "stop 0, restart 0, restart 1", "the removed child stays gone");
}

Test(supervisor, rest_for_one_restarts_the_child_and_those_started_after_it)
{
    mf_restart types[] = {P, P, P, P};
    children(MF_REST_FOR_ONE, 10, 60000, types, 4);
    cr_assert_str_eq(exit_of(1, true, 0), "stop 3, stop 2, restart 1, restart 2, restart 3");
    cr_assert_str_eq(exit_of(3, true, 1), "restart 3", "the last child has nobody after it");
    cr_assert_str_eq(exit_of(0, true, 2), "stop 3, stop 2, stop 1, restart 0, restart 1, restart 2, restart 3");
}

Test(supervisor, a_child_exiting_in_a_way_not_to_restart_does_not_touch_siblings)
{
    mf_restart types[] = {P, T, P};
    children(MF_ONE_FOR_ALL, 10, 60000, types, 3);
    cr_assert_str_eq(exit_of(1, false, 0), "remove 1", "no restart, so no group restart either");
}

Test(supervisor, more_than_intensity_restarts_in_the_period_give_up)
{
    mf_restart types[] = {P, P, P};
    children(MF_ONE_FOR_ONE, 3, 1000, types, 3);
    cr_assert_str_eq(exit_of(1, true, 0), "restart 1");
    cr_assert_str_eq(exit_of(1, true, 100), "restart 1");
    cr_assert_str_eq(exit_of(2, true, 200), "restart 2", "restarts of any child count");
    cr_assert_str_eq(exit_of(0, true, 300), "stop 2, stop 1, escalate 0",
                     "the fourth in the period: everything stops, last started first");
}

Test(supervisor, restarts_older_than_the_period_no_longer_count)
{
    mf_restart types[] = {P};
    children(MF_ONE_FOR_ONE, 2, 1000, types, 1);
    cr_assert_str_eq(exit_of(0, true, 0), "restart 0");
    cr_assert_str_eq(exit_of(0, true, 500), "restart 0");
    cr_assert_str_eq(exit_of(0, true, 1100), "restart 0", "the one at 0 has left the period");
    cr_assert_str_eq(exit_of(0, true, 1200), "escalate 0", "500, 1100 and now 1200: more than 2");
}

Test(supervisor, a_group_restart_counts_once)
{
    mf_restart types[] = {P, P, P};
    children(MF_ONE_FOR_ALL, 1, 60000, types, 3);
    cr_assert_str_eq(exit_of(0, true, 0), "stop 2, stop 1, restart 0, restart 1, restart 2");
    cr_assert_str_eq(exit_of(2, true, 10), "stop 1, stop 0, escalate 2");
}

Test(supervisor, intensity_zero_allows_no_restart)
{
    mf_restart types[] = {P, P};
    children(MF_ONE_FOR_ONE, 0, 60000, types, 2);
    cr_assert_str_eq(exit_of(0, true, 0), "stop 1, escalate 0");
}

Test(supervisor, simple_one_for_one_is_one_for_one_over_a_pool)
{
    mf_restart types[] = {T, T, T, T};
    children(MF_SIMPLE_ONE_FOR_ONE, 10, 60000, types, 4);
    cr_assert_str_eq(exit_of(2, true, 0), "restart 2");
    cr_assert_str_eq(exit_of(3, false, 1), "remove 3");
    cr_assert_eq(mf_sup_core_add(&s, T), 4, "children join the pool at any time");
}

/* OTP's rules as a table: strategy x the children's restart types x which child exits and
 * how -> the actions, in order. Restart types are written P (permanent), T (transient),
 * X (temporary), children numbered in start order. */
static const struct rule {
    mf_strategy strategy;
    const char *types;
    int child;
    bool abnormal;
    const char *expect;
    const char *why;
} rules[] = {
    {MF_ONE_FOR_ONE, "PPP", 1, true, "restart 1", "permanent, abnormal"},
    {MF_ONE_FOR_ONE, "PPP", 1, false, "restart 1", "permanent, normal: still restarted"},
    {MF_ONE_FOR_ONE, "PTP", 1, true, "restart 1", "transient, abnormal"},
    {MF_ONE_FOR_ONE, "PTP", 1, false, "remove 1", "transient, normal (or shutdown)"},
    {MF_ONE_FOR_ONE, "PXP", 1, true, "remove 1", "temporary, abnormal: never restarted"},
    {MF_ONE_FOR_ONE, "PXP", 1, false, "remove 1", "temporary, normal"},
    {MF_ONE_FOR_ALL, "PPP", 0, true, "stop 2, stop 1, restart 0, restart 1, restart 2", "all, last first"},
    {MF_ONE_FOR_ALL, "PTP", 0, true, "stop 2, stop 1, restart 0, restart 1, restart 2",
     "a transient sibling stopped by the group restart is restarted with it"},
    {MF_ONE_FOR_ALL, "TPP", 0, false, "remove 0", "a transient child's normal exit restarts no group"},
    {MF_ONE_FOR_ALL, "PXP", 1, true, "remove 1", "a temporary child's exit restarts no group"},
    {MF_ONE_FOR_ALL, "PPX", 0, true, "stop 2, stop 1, restart 0, restart 1, remove 2",
     "a temporary sibling stopped by the group restart is gone"},
    {MF_REST_FOR_ONE, "PPPP", 1, true, "stop 3, stop 2, restart 1, restart 2, restart 3", "it and those after it"},
    {MF_REST_FOR_ONE, "PPXP", 1, true, "stop 3, stop 2, restart 1, remove 2, restart 3",
     "a temporary sibling after it is stopped and removed"},
    {MF_REST_FOR_ONE, "XPPP", 2, true, "stop 3, restart 2, restart 3", "a temporary sibling before it is untouched"},
    {MF_REST_FOR_ONE, "PPTP", 1, true, "stop 3, stop 2, restart 1, restart 2, restart 3",
     "a transient sibling inside the group restart is restarted"},
    {MF_REST_FOR_ONE, "PTPP", 1, false, "remove 1", "transient, normal: nobody restarts"},
    {MF_REST_FOR_ONE, "PPPP", 3, true, "restart 3", "the last has nobody after it"},
    {MF_SIMPLE_ONE_FOR_ONE, "TTT", 1, true, "restart 1", "a pool: only that child"},
    {MF_SIMPLE_ONE_FOR_ONE, "TTT", 1, false, "remove 1", "a pool's transient child, normal"},
    {MF_SIMPLE_ONE_FOR_ONE, "PPP", 2, false, "restart 2", "a pool's permanent child"},
};

Test(supervisor, the_table_of_otp_rules)
{
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        const struct rule *u = &rules[r];
        mf_restart types[8];
        int n = (int)strlen(u->types);
        for (int i = 0; i < n; i++)
            types[i] = u->types[i] == 'P' ? P : u->types[i] == 'T' ? T : X;
        children(u->strategy, 10, 60000, types, n);
        const char *got = exit_of(u->child, u->abnormal, 0);
        cr_expect_str_eq(got, u->expect, "%s %s, child %d exits %s (%s): got \"%s\"",
                         mf_strategy_name(u->strategy), u->types, u->child,
                         u->abnormal ? "abnormally" : "normally", u->why, got);
        /* what was restarted counts once, whatever the group; a removal counts nothing */
        cr_expect_eq(s.nhistory, strstr(u->expect, "restart") ? 1u : 0u, "%s %s child %d: intensity count %u",
                     mf_strategy_name(u->strategy), u->types, u->child, s.nhistory);
        mf_sup_core_free(&s);
    }
}

Test(supervisor, intensity_accounting_over_a_mix_of_exits)
{
    mf_restart types[] = {P, T, X, P};
    children(MF_ONE_FOR_ALL, 2, 1000, types, 4);
    cr_assert_str_eq(exit_of(1, false, 0), "remove 1", "a normal transient exit is not a restart");
    cr_assert_str_eq(exit_of(2, true, 10), "remove 2", "nor is a temporary child's");
    cr_assert_eq(s.nhistory, 0);
    cr_assert_str_eq(exit_of(0, true, 20), "stop 3, restart 0, restart 3", "removed children stay out of the group");
    cr_assert_str_eq(exit_of(3, true, 30), "stop 0, restart 0, restart 3");
    cr_assert_eq(s.nhistory, 2);
    cr_assert_str_eq(exit_of(3, true, 1025), "stop 0, restart 0, restart 3", "the one at 20 has left the period");
    cr_assert_str_eq(exit_of(0, true, 1029), "stop 3, escalate 0", "30 and 1025 and now 1029: more than 2");
}

Test(supervisor, exit_reasons_as_otp_has_them)
{
    cr_assert_not(mf_sup_exit_abnormal(0, 0), "status 0: normal");
    cr_assert(mf_sup_exit_abnormal(1, 0), "any other status: abnormal");
    cr_assert_not(mf_sup_exit_abnormal(0, SIGTERM), "SIGTERM from outside: shutdown, normal");
    cr_assert(mf_sup_exit_abnormal(0, SIGKILL), "SIGKILL: killed, abnormal");
    cr_assert(mf_sup_exit_abnormal(0, SIGINT));
    cr_assert(mf_sup_exit_abnormal(0, SIGSEGV));
}

Test(supervisor, strategy_names)
{
    mf_strategy st;
    cr_assert_eq(mf_strategy_parse("rest_for_one", &st), 0);
    cr_assert_eq(st, MF_REST_FOR_ONE);
    cr_assert_str_eq(mf_strategy_name(MF_SIMPLE_ONE_FOR_ONE), "simple_one_for_one");
    cr_assert_neq(mf_strategy_parse("one_for_some", &st), 0);
}
