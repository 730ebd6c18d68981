/* Opening a path without leaving its root: openat2 with RESOLVE_BENEATH where the kernel
 * has it (Linux 5.6), otherwise one component at a time with O_NOFOLLOW, refusing ".."
 * and every symbolic link. */
#define _GNU_SOURCE   /* O_PATH, strcasestr */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_bool no_openat2;

#define MAX_DEPTH 256

/* A link met on the way (ELOOP, or ENOTDIR for one where a directory should be) is
 * refused whatever it points to. */
static int walk(int rootfd, const char *rel, int flags)
{
    char *copy = strdup(rel), *save = NULL, *parts[MAX_DEPTH];
    int n = 0;
    if (!copy)
        return -ENOMEM;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0 || n == MAX_DEPTH) {
            free(copy);
            return n == MAX_DEPTH ? -ENAMETOOLONG : -EXDEV;
        }
        parts[n++] = c;
    }
    int cur = rootfd, fd = n ? -1 : openat(rootfd, ".", flags | O_CLOEXEC), e = errno;
    for (int i = 0; i < n; i++) {
        int f = i == n - 1 ? flags | O_NOFOLLOW | O_CLOEXEC : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        fd = openat(cur, parts[i], f);
        e = errno;
        if (cur != rootfd)
            close(cur);
        if (fd < 0) {
            if (e == ELOOP)
                e = EXDEV;
            break;
        }
        cur = fd;
    }
    free(copy);
    return fd < 0 ? -e : fd;
}

int fb_open_beneath(int rootfd, const char *rel, int flags)
{
    if (rel[0] == '/')
        return -EXDEV;
    if (!atomic_load(&no_openat2)) {
        struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS)
            return -errno;
        atomic_store(&no_openat2, true);
    }
    return walk(rootfd, rel, flags);
}
