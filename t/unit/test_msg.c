/* Endpoints and message passing. */
#include "harness.h"

#include <string.h>

#define MAX_SEEN 16

typedef struct inbox {
    mf_msg *seen[MAX_SEEN];
    int n;
} inbox;

static void collect(void *ud, mf_msg *m)
{
    inbox *box = ud;
    cr_assert_lt(box->n, MAX_SEEN);
    box->seen[box->n++] = m;
}

static void empty(inbox *box)
{
    for (int i = 0; i < box->n; i++)
        mf_msg_free(box->seen[i]);
    box->n = 0;
}

static bool has(void *ud) { return ((inbox *)ud)->n > 0; }
static bool has3(void *ud) { return ((inbox *)ud)->n >= 3; }
static bool has2(void *ud) { return ((inbox *)ud)->n >= 2; }

TestSuite(msg, .init = kernel_up, .fini = kernel_down);

Test(msg, delivery_is_asynchronous_and_in_order)
{
    inbox box = {0};
    mf_ep a = mf_endpoint_open("a", collect, &box);
    cr_assert_neq(a, 0);
    for (int i = 0; i < 3; i++) {
        mf_msg *m = mf_msg_new(MF_MSG_NOTIFY, 0, a, json_integer(i));
        cr_assert_eq(mf_send(m), 0);
    }
    cr_assert_eq(box.n, 0, "no handler runs inside mf_send");
    cr_assert(run_until(has3, &box, 1000));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(json_integer_value(box.seen[i]->json), i);
    empty(&box);
    mf_endpoint_close(a);
}

Test(msg, names_are_unique_and_found)
{
    mf_ep a = mf_endpoint_open("same", collect, NULL);
    cr_assert_neq(a, 0);
    cr_assert_eq(mf_endpoint_open("same", collect, NULL), 0);
    cr_assert_eq(mf_endpoint_find("same"), a);
    cr_assert_str_eq(mf_endpoint_name(a), "same");
    mf_endpoint_close(a);
    cr_assert_eq(mf_endpoint_find("same"), 0);
}

Test(msg, stale_handle_never_reaches_the_new_owner)
{
    inbox box = {0};
    mf_ep old = mf_endpoint_open("x", collect, &box);
    mf_endpoint_close(old);
    mf_ep fresh = mf_endpoint_open("y", collect, &box);
    cr_assert_neq(old, fresh, "a slot reused gets a new handle");
    cr_assert_not(mf_endpoint_alive(old));
    cr_assert_eq(mf_send(mf_msg_new(MF_MSG_NOTIFY, 0, old, NULL)), -1);
    run_until(has, &box, 50);
    cr_assert_eq(box.n, 0);
    mf_endpoint_close(fresh);
}

Test(msg, request_to_a_missing_endpoint_is_answered)
{
    inbox box = {0};
    mf_ep me = mf_endpoint_open("asker", collect, &box);
    mf_ep gone = mf_endpoint_open("gone", collect, NULL);
    mf_endpoint_close(gone);
    mf_msg *req = mf_msg_new(MF_MSG_REQUEST, me, gone, json_pack("{s:s}", "method", "x"));
    req->corr = 77;
    cr_assert_eq(mf_send(req), -1);
    cr_assert(run_until(has, &box, 1000));
    mf_msg *r = box.seen[0];
    cr_assert_eq(r->kind, MF_MSG_RESPONSE);
    cr_assert_eq(r->corr, 77);
    json_t *err = json_object_get(r->json, "error");
    cr_assert_eq(json_integer_value(json_object_get(err, "code")), MF_RPC_UNAVAILABLE);
    empty(&box);
    mf_endpoint_close(me);
}

Test(msg, queued_request_bounces_when_its_endpoint_closes)
{
    inbox box = {0};
    mf_ep me = mf_endpoint_open("asker", collect, &box);
    mf_ep target = mf_endpoint_open("target", collect, NULL);
    mf_msg *req = mf_msg_new(MF_MSG_REQUEST, me, target, json_object());
    req->corr = 5;
    cr_assert_eq(mf_send(req), 0);
    mf_endpoint_close(target);   /* closed before delivery */
    cr_assert(run_until(has, &box, 1000));
    cr_assert_eq(box.seen[0]->kind, MF_MSG_RESPONSE);
    cr_assert_eq(box.seen[0]->corr, 5);
    empty(&box);
    mf_endpoint_close(me);
}

Test(msg, responses_and_notifications_never_bounce)
{
    inbox box = {0};
    mf_ep me = mf_endpoint_open("me", collect, &box);
    mf_ep gone = mf_endpoint_open("gone", collect, NULL);
    mf_endpoint_close(gone);
    cr_assert_eq(mf_send(mf_msg_new(MF_MSG_RESPONSE, me, gone, json_object())), -1);
    cr_assert_eq(mf_send(mf_msg_new(MF_MSG_NOTIFY, me, gone, json_object())), -1);
    run_until(has, &box, 50);
    cr_assert_eq(box.n, 0);
    mf_endpoint_close(me);
}

Test(msg, control_fields_round_trip_through_msgpack)
{
    mf_msg *m = mf_ctl_new(1, 2, 7, "state:i reason:s up:b missing:s",
                           (int64_t)-3, "it broke \"badly\"", true, (const char *)NULL);
    cr_assert_eq(mf_ctl_verb(m), 7);
    cr_assert_gt(mf_msg_priv_of(m)->ctl_len, 0);
    cr_assert_eq(mf_ctl_int(m, "state", 0), -3);
    cr_assert_str_eq(mf_ctl_str(m, "reason"), "it broke \"badly\"");
    cr_assert(mf_ctl_bool(m, "up", false));
    cr_assert_null(mf_ctl_str(m, "missing"));
    cr_assert_null(mf_ctl_str(m, "absent"));
    cr_assert_eq(mf_ctl_int(m, "absent", 42), 42);
    cr_assert_eq(mf_ctl_int(m, "reason", 9), 9, "a string is no integer");
    mf_msg_free(m);
    mf_msg *plain = mf_msg_new(MF_MSG_NOTIFY, 1, 2, NULL);
    cr_assert_eq(mf_ctl_verb(plain), 0, "a message that is no control message has no verb");
    mf_msg_free(plain);
}

Test(msg, many_endpoints_grow_the_table)
{
    mf_ep eps[300];
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "ep%d", i);
        eps[i] = mf_endpoint_open(name, collect, NULL);
        cr_assert_neq(eps[i], 0);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "ep%d", i);
        cr_assert_eq(mf_endpoint_find(name), eps[i]);
    }
    for (int i = 0; i < 300; i++)
        mf_endpoint_close(eps[i]);
}

Test(msg, a_queue_keeps_order_drops_by_corr_and_fails_what_it_holds)
{
    inbox box = {0};
    mf_ep asker = mf_endpoint_open("asker", collect, &box);
    mf_msgq q = {0};
    for (uint64_t i = 1; i <= 4; i++) {
        mf_msg *m = mf_msg_new(MF_MSG_REQUEST, asker, 0, json_object());
        m->corr = i;
        mf_msgq_push(&q, m);
    }
    mf_msg *first = mf_msg_new(MF_MSG_REQUEST, asker, 0, json_object());
    first->corr = 9;
    mf_msgq_push_front(&q, first);
    cr_assert_eq(q.len, 5);
    cr_assert(mf_msgq_drop(&q, 3));
    cr_assert_not(mf_msgq_drop(&q, 3), "dropped once");
    cr_assert(mf_msgq_drop(&q, 4), "the tail can go");
    cr_assert_eq(q.len, 3);
    mf_msg *m = mf_msgq_pop(&q);
    cr_assert_eq(m->corr, 9);
    mf_msg_free(m);
    mf_msgq_fail(&q, 0, MF_RPC_UNAVAILABLE, "gone away");
    cr_assert_eq(q.len, 0);
    cr_assert_null(q.head);
    cr_assert_null(q.tail);
    cr_assert(run_until(has2, &box, 1000));
    cr_assert_eq(box.seen[0]->corr, 1);
    cr_assert_eq(box.seen[1]->corr, 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(box.seen[0]->json, "error"), "message")),
                     "gone away");
    empty(&box);
    mf_endpoint_close(asker);
}
