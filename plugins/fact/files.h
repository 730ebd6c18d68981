/* files: the tools list, read and search over the directories named in the configuration. */
#ifndef FACT_FILES_H
#define FACT_FILES_H

/* Open rel (a relative path) under the directory rootfd, never leaving it: no "..", no
 * symbolic link, no magic link out of it. flags as for openat (O_CLOEXEC is added). A file
 * descriptor, or -errno: -EXDEV when the path would leave the root. */
int fb_open_beneath(int rootfd, const char *rel, int flags);
/* The same without openat2 (what fb_open_beneath falls back to where the kernel lacks it):
 * ".." and every symbolic link on the way are refused with -EXDEV. */
int fb_open_walk(int rootfd, const char *rel, int flags);

#endif
