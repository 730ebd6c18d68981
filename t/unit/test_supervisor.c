/* A supervisor's decisions against Erlang/OTP's documented rules (supervisor(3),
 * "Restart Strategy", "Restart Intensity and Period", "Child Specification"), with a
 * fake clock. */
#include "harness.h"
#include "sup_core.h"

#include <string.h>

static sup_core s;
static sup_act acts[64];

static void teardown(void) { sup_core_free(&s); }

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
    size_t n = sup_core_exited(&s, child, abnormal, now, acts);
    for (size_t i = 0; i < n; i++)
        sup_core_applied(&s, &acts[i]);
    return show(n);
}

static void children(mf_strategy st, unsigned intensity, uint64_t period, const mf_restart *types, int n)
{
    sup_core_init(&s, st, intensity, period);
    for (int i = 0; i < n; i++)
        cr_assert_eq(sup_core_add(&s, types[i]), i);
}

TestSuite(supervisor, .fini = teardown);

static const mf_restart P = MF_RESTART_PERMANENT, T = MF_RESTART_TRANSIENT, X = MF_RESTART_TEMPORARY;

Test(supervisor, restart_types)
{
    mf_restart types[] = {P, T, X};
    children(MF_ONE_FOR_ONE, 10, 60000, types, 3);
    cr_assert_str_eq(exit_of(0, false, 0), "restart 0", "permanent: restarted even after a normal exit");
    cr_assert_str_eq(exit_of(1, false, 1), "remove 1", "transient: not restarted after a normal exit");
    sup_core_free(&s);
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
    cr_assert_eq(sup_core_add(&s, T), 4, "children join the pool at any time");
}

Test(supervisor, strategy_names)
{
    mf_strategy st;
    cr_assert_eq(mf_strategy_parse("rest_for_one", &st), 0);
    cr_assert_eq(st, MF_REST_FOR_ONE);
    cr_assert_str_eq(mf_strategy_name(MF_SIMPLE_ONE_FOR_ONE), "simple_one_for_one");
    cr_assert_neq(mf_strategy_parse("one_for_some", &st), 0);
}
