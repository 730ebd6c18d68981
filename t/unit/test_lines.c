/* Newline framing with a length bound. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

typedef struct seen {
    char lines[8][64];
    int n;
    size_t overflow[4];
    int no;
} seen;

static void on_line(void *ud, const char *line, size_t len)
{
    seen *s = ud;
    cr_assert_lt(s->n, 8);
    cr_assert_lt(len, 64);
    memcpy(s->lines[s->n], line, len);
    s->lines[s->n++][len] = '\0';
}

static void on_overflow(void *ud, size_t bytes)
{
    seen *s = ud;
    s->overflow[s->no++] = bytes;
}

Test(lines, splits_whole_and_partial_lines)
{
    mf_lines l;
    seen s = {0};
    mf_lines_init(&l, 100);
    const char *in = "one\ntw";
    mf_lines_feed(&l, in, strlen(in), on_line, on_overflow, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(mf_lines_pending(&l), 2);
    mf_lines_feed(&l, "o\r\n\n\nthree\n", 11, on_line, on_overflow, &s);
    cr_assert_eq(s.n, 3, "empty lines are skipped");
    cr_assert_str_eq(s.lines[0], "one");
    cr_assert_str_eq(s.lines[1], "two", "a trailing CR is dropped");
    cr_assert_str_eq(s.lines[2], "three");
    cr_assert_eq(mf_lines_pending(&l), 0);
    mf_lines_free(&l);
}

Test(lines, byte_by_byte_gives_the_same_lines)
{
    mf_lines l;
    seen s = {0};
    mf_lines_init(&l, 100);
    const char *in = "{\"a\":1}\n{\"b\":2}\n";
    for (size_t i = 0; i < strlen(in); i++)
        mf_lines_feed(&l, in + i, 1, on_line, on_overflow, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.lines[1], "{\"b\":2}");
    mf_lines_free(&l);
}

Test(lines, an_overlong_line_is_dropped_and_the_next_one_kept)
{
    mf_lines l;
    seen s = {0};
    mf_lines_init(&l, 10);
    mf_lines_feed(&l, "0123456789", 10, on_line, on_overflow, &s);
    cr_assert_eq(s.no, 0, "exactly max is fine so far");
    char big[1000];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 100; i++)
        mf_lines_feed(&l, big, sizeof big, on_line, on_overflow, &s);
    cr_assert_leq(l.cap, 4096, "memory stays bounded while the line streams by");
    mf_lines_feed(&l, "tail\nok\n", 8, on_line, on_overflow, &s);
    cr_assert_eq(s.no, 1);
    cr_assert_eq(s.overflow[0], 10 + 100 * 1000 + 4);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.lines[0], "ok");
    mf_lines_free(&l);
}

Test(lines, a_complete_overlong_line_in_one_read_is_dropped)
{
    mf_lines l;
    seen s = {0};
    mf_lines_init(&l, 4);
    mf_lines_feed(&l, "abcdef\nabcd\n", 12, on_line, on_overflow, &s);
    cr_assert_eq(s.no, 1);
    cr_assert_eq(s.overflow[0], 6);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.lines[0], "abcd");
    mf_lines_free(&l);
}
