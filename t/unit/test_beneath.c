/* The files plugin's resolution of a path beneath its root (plugins/fact/beneath.c), both
 * ways: openat2 with RESOLVE_BENEATH, and the component walk used where the kernel lacks
 * openat2. Neither ".." nor a symbolic link may lead out of the root. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../plugins/fact/files.h"

static char top[] = "/tmp/mcpfed-beneath-XXXXXX";
static char rootdir[64];
static int rootfd = -1;

static void put(const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static void link_at(const char *target, const char *rel)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    cr_assert_eq(symlink(target, p), 0, "%s: %s", p, strerror(errno));
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(top));
    snprintf(rootdir, sizeof rootdir, "%s/root", top);
    cr_assert_eq(mkdir(rootdir, 0700), 0);
    char sub[96];
    snprintf(sub, sizeof sub, "%s/sub", rootdir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    put("secret", "out\n");
    put("root/a", "in\n");
    put("root/sub/b", "in too\n");
    link_at("../secret", "root/up");
    link_at(top, "root/topdir");
    link_at("a", "root/in");
    rootfd = open(rootdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(rootfd, 0);
}

static void teardown(void)
{
    close(rootfd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    cr_expect_eq(system(cmd), 0);
}

typedef int (*opener)(int, const char *, int);

static void opens(opener fn, const char *rel)
{
    int fd = fn(rootfd, rel, O_RDONLY);
    cr_expect_geq(fd, 0, "%s refused: %s", rel, strerror(-fd));
    if (fd >= 0)
        close(fd);
}

static void escapes(opener fn, const char *rel)
{
    int fd = fn(rootfd, rel, O_RDONLY);
    cr_expect_eq(fd, -EXDEV, "%s: %d, not -EXDEV", rel, fd);
    if (fd >= 0)
        close(fd);
}

static void both_ways(opener fn)
{
    opens(fn, "a");
    opens(fn, "./sub/b");
    opens(fn, "sub//b");
    opens(fn, ".");
    opens(fn, "sub");
    escapes(fn, "../secret");
    escapes(fn, "sub/../../secret");
    escapes(fn, "/etc/passwd");
    escapes(fn, "up");
    escapes(fn, "topdir/secret");
    int fd = fn(rootfd, "nothing", O_RDONLY);
    cr_expect_eq(fd, -ENOENT);
}

Test(beneath, openat2_or_fallback, .init = setup, .fini = teardown)
{
    both_ways(fb_open_beneath);
    opens(fb_open_beneath, "in");   /* a link inside the root is followed */
    opens(fb_open_beneath, "sub/../a");
}

Test(beneath, component_walk, .init = setup, .fini = teardown)
{
    both_ways(fb_open_walk);
    escapes(fb_open_walk, "in");        /* the walk refuses every link */
    escapes(fb_open_walk, "sub/../a");  /* and every ".." */
}
