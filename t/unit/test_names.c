/* Public names of federated tools. */
#include "harness.h"
#include "names.h"

#include <string.h>

Test(names, prefix_and_separator)
{
    char out[MF_NAME_MAX + 1];
    cr_assert_eq(mf_public_name("github", "search", out), 0);
    cr_assert_str_eq(out, "github__search");
    cr_assert_eq(mf_public_name(NULL, "search", out), 0);
    cr_assert_str_eq(out, "search");
}

Test(names, characters_outside_the_alphabet_are_replaced)
{
    char out[MF_NAME_MAX + 1];
    cr_assert_eq(mf_public_name("p", "bad.name with spaces/é", out), 1);
    cr_assert_str_eq(out, "p__bad_name_with_spaces___");
}

Test(names, empty_is_refused)
{
    char out[MF_NAME_MAX + 1];
    cr_assert_eq(mf_public_name("p", "", out), -1);
    cr_assert_eq(mf_public_name("p", NULL, out), -1);
}

Test(names, long_names_are_cut_with_a_stable_distinct_suffix)
{
    char a[MF_NAME_MAX + 1], b[MF_NAME_MAX + 1], a2[MF_NAME_MAX + 1];
    const char *la = "a_very_long_tool_name_that_keeps_going_and_going_and_going_and_ends_in_A";
    const char *lb = "a_very_long_tool_name_that_keeps_going_and_going_and_going_and_ends_in_B";
    cr_assert_eq(mf_public_name("prov", la, a), 1);
    cr_assert_eq(mf_public_name("prov", lb, b), 1);
    cr_assert_eq(mf_public_name("prov", la, a2), 1);
    cr_assert_eq(strlen(a), MF_NAME_MAX);
    cr_assert_str_neq(a, b);
    cr_assert_str_eq(a, a2, "the same input gives the same name");
    for (const char *p = a; *p; p++)
        cr_assert(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p));
}

Test(names, exactly_sixty_four_is_kept)
{
    char out[MF_NAME_MAX + 1], up[61];
    memset(up, 'x', 60);
    up[60] = '\0';
    cr_assert_eq(mf_public_name("ab", up, out), 0);   /* 2 + 2 + 60 = 64 */
    cr_assert_eq(strlen(out), 64);
}

Test(names, a_string_with_a_nul_is_no_name)
{
    json_t *v = json_stringn("up__t0\0-anything", 16);
    cr_assert_null(mf_name_text(v), "taken for \"%s\"", mf_name_text(v));
    json_decref(v);
    v = json_stringn("file:///a\0b", 11);
    cr_assert_null(mf_name_text(v));
    json_decref(v);
    v = json_stringn("\0", 1);
    cr_assert_null(mf_name_text(v));
    json_decref(v);
    v = json_string("up__t0");
    cr_assert_str_eq(mf_name_text(v), "up__t0");
    json_decref(v);
    v = json_integer(1);
    cr_assert_null(mf_name_text(v), "not a string");
    json_decref(v);
    cr_assert_null(mf_name_text(NULL));
}
