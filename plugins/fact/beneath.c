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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_bool no_openat2;

#define MAX_DEPTH 256

/* A link met on the way is refused whatever it points to: ELOOP from O_NOFOLLOW at the
 * end; on the way, O_PATH | O_NOFOLLOW opens the link itself, which O_DIRECTORY refuses. */
int fb_open_walk(int rootfd, const char *rel, int flags)
{
    char *copy = strdup(rel), *save = NULL, *parts[MAX_DEPTH];
    int n = 0;
    if (!copy)
        return -ENOMEM;
    if (rel[0] == '/') {
        free(copy);
        return -EXDEV;
    }
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
        struct stat st;
        if (fd < 0 && (e == ELOOP || (e == ENOTDIR && fstatat(cur, parts[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                      S_ISLNK(st.st_mode))))
            e = EXDEV;
        if (cur != rootfd)
            close(cur);
        if (fd < 0)
            break;
        cur = fd;
    }
    free(copy);
    return fd < 0 ? -e : fd;
}

int fb_open_beneath(int rootfd, const char *rel, int flags)
{
    if (!atomic_load(&no_openat2)) {   /* an absolute path is refused with EXDEV too */
        struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS)
            return -errno;
        atomic_store(&no_openat2, true);
    }
    return fb_open_walk(rootfd, rel, flags);
}
