/* files: list, read and search the files under the directories named in the configuration.
 *
 *   { name = "docs", transport = "files", roots = { notes = "/srv/notes" },
 *     max_bytes = 1048576, max_ms = 5000 }
 *
 * Every path is resolved beneath its root (beneath.c): "..", absolute paths and symbolic
 * links that lead out are refused. Text only: a file holding a NUL byte or what is not
 * UTF-8 is refused as binary. */
#define _GNU_SOURCE   /* O_PATH, strcasestr */
#include "files.h"
#include "toolhost.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct filecfg {
    th_limits lim;         /* first */
    const json_t *roots;   /* name -> directory */
} filecfg;

enum { MAX_ENTRIES = 10000, MAX_SEARCH_DEPTH = 32, MAX_LINE_SHOWN = 400 };

static const mf_setting settings[] = {
    {"roots", MF_SET_MAP, MF_SET_REQUIRED | MF_SET_NONEMPTY, .at = MF_AT(filecfg, roots),
     .doc = "a map of names to directories"},
    TH_LIMITS("the largest file read whole or searched, and the largest range", "how long a call may run"),
    {0},
};

/* --- opening beneath a root --- */

static json_t *open_error(const char *path, int e)
{
    if (e == EXDEV)
        return th_fail("refused: %s leads out of its root", path);
    return th_fail("cannot open %s: %s", path, strerror(e));
}

/* The file descriptor of the argument "path" (default ".") under the root the arguments
 * name, opened with flags; -1 with *err set. */
static int open_arg(const filecfg *c, const json_t *args, int flags, const char **path, json_t **err)
{
    const char *dir = th_arg_pick(args, "root", c->roots, err);
    *path = ".";
    if (!dir || !th_arg_string(args, "path", false, path, err))
        return -1;
    int rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        *err = th_fail("cannot open the root: %s", strerror(errno));
        return -1;
    }
    int fd = fb_open_beneath(rootfd, *path, flags);
    close(rootfd);
    if (fd < 0) {
        *err = open_error(*path, -fd);
        return -1;
    }
    return fd;
}

/* The whole of a regular file of at most max bytes, NUL-terminated; NULL with *err set. */
static char *slurp(int fd, const char *path, int64_t max, size_t *len, json_t **err)
{
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        *err = th_fail("%s is no regular file", path);
        return NULL;
    }
    if (st.st_size > max) {
        *err = th_fail("refused: %s has %lld bytes, over max_bytes (%lld); read a range of it", path,
                       (long long)st.st_size, (long long)max);
        return NULL;
    }
    char *buf = mf_xmalloc((size_t)st.st_size + 1);
    size_t n = 0;
    ssize_t r;
    while (n < (size_t)st.st_size && (r = read(fd, buf + n, (size_t)st.st_size - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    *len = n;
    return buf;
}

static bool is_text(const char *buf, size_t n)
{
    if (memchr(buf, 0, n))
        return false;
    json_t *s = json_stringn(buf, n);   /* jansson checks UTF-8 */
    json_decref(s);
    return s != NULL;
}

/* --- the tools --- */

static const char *type_of(mode_t m)
{
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : "other";
}

static int by_name(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

static json_t *t_list(const void *cfg, const json_t *args, th_job *job)
{
    (void)job;
    const char *path;
    json_t *err = NULL;
    int fd = open_arg(cfg, args, O_RDONLY | O_DIRECTORY, &path, &err);
    if (fd < 0)
        return err;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return th_fail("cannot list %s: %s", path, strerror(errno));
    }
    json_t *entries = json_array();
    bool truncated = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue;
        if (json_array_size(entries) == MAX_ENTRIES) {
            truncated = true;
            break;
        }
        json_array_append_new(entries, json_pack("{s:s,s:s,s:I}", "name", e->d_name, "type", type_of(st.st_mode),
                                                 "size", (json_int_t)st.st_size));
    }
    closedir(d);
    /* sorted, so that answers do not depend on the directory's order */
    size_t n = json_array_size(entries);
    json_t **v = mf_xcalloc(n ? n : 1, sizeof *v), *sorted = json_array();
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(entries, i);
    qsort(v, n, sizeof *v, by_name);
    for (size_t i = 0; i < n; i++)
        json_array_append(sorted, v[i]);
    free(v);
    json_decref(entries);
    return th_result(json_pack("{s:s,s:o,s:b}", "path", path, "entries", sorted, "truncated", truncated));
}

/* the bytes of lines [first, first + count) of buf (1-based; count 0: to the end) */
static void line_range(const char *buf, size_t n, int64_t first, int64_t count, size_t *from, size_t *to)
{
    size_t i = 0;
    for (int64_t line = 1; line < first && i < n; i++)
        if (buf[i] == '\n')
            line++;
    *from = i;
    for (int64_t k = 0; i < n && (count == 0 || k < count); i++)
        if (buf[i] == '\n')
            k++;
    *to = i;
}

static json_t *t_read(const void *cfg, const json_t *args, th_job *job)
{
    (void)job;
    const filecfg *c = cfg;
    const char *path;
    int64_t offset = -1, length = -1, line = -1, lines = 0;
    json_t *err = NULL;
    if (!th_arg_int(args, "offset", 0, INT64_MAX, &offset, &err) ||
        !th_arg_int(args, "length", 1, c->lim.max_bytes, &length, &err) ||
        !th_arg_int(args, "line", 1, INT64_MAX, &line, &err) || !th_arg_int(args, "lines", 1, INT64_MAX, &lines, &err))
        return err;
    if (line > 0 && (offset >= 0 || length > 0))
        return th_fail("give a byte range (offset, length) or a line range (line, lines), not both");
    if (!json_object_get(args, "path"))
        return th_fail("the argument \"path\" is required");
    int fd = open_arg(c, args, O_RDONLY, &path, &err);
    if (fd < 0)
        return err;
    char *buf = NULL;
    size_t n = 0, from = 0, to = 0;
    struct stat st;
    if (offset >= 0 || length > 0) {
        /* a byte range reads only that range */
        if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
            close(fd);
            return th_fail("%s is no regular file", path);
        }
        size_t want = (size_t)(length > 0 ? length : c->lim.max_bytes);
        buf = mf_xmalloc(want + 1);
        ssize_t r = pread(fd, buf, want, offset > 0 ? offset : 0);
        n = r > 0 ? (size_t)r : 0;
        buf[n] = 0;
        to = n;
    } else {
        /* a line range, or the whole file, reads the whole file */
        if (!(buf = slurp(fd, path, line > 0 ? 16 * c->lim.max_bytes : c->lim.max_bytes, &n, &err))) {
            close(fd);
            return err;
        }
        st.st_size = (off_t)n;
        if (line > 0)
            line_range(buf, n, line, lines, &from, &to);
        else
            to = n;
    }
    close(fd);
    json_t *r;
    if (!is_text(buf, n))
        r = th_fail("refused: %s is binary (not UTF-8 text)", path);
    else if (to - from > (size_t)c->lim.max_bytes)
        r = th_fail("refused: the lines asked for hold %zu bytes, over max_bytes (%lld)", to - from,
                    (long long)c->lim.max_bytes);
    else
        r = th_result(json_pack("{s:s,s:I,s:s%}", "path", path, "size", (json_int_t)st.st_size, "text", buf + from,
                                to - from));
    free(buf);
    return r;
}

typedef struct search {
    th_job *job;
    bool use_regex, icase;
    const char *needle;
    regex_t re;
    int64_t max_bytes, max_matches;
    json_t *matches;
    bool truncated;
} search;

static bool line_matches(search *s, const char *line)
{
    if (s->use_regex)
        return regexec(&s->re, line, 0, NULL, 0) == 0;
    return s->icase ? strcasestr(line, s->needle) != NULL : strstr(line, s->needle) != NULL;
}

static void search_file(search *s, int fd, const char *rel)
{
    size_t n = 0;
    json_t *err = NULL;
    char *buf = slurp(fd, rel, s->max_bytes, &n, &err);
    json_decref(err);   /* too large, or no regular file: passed over */
    if (!buf || !is_text(buf, n)) {
        free(buf);
        return;
    }
    int64_t lineno = 1;
    for (char *p = buf, *nl; p < buf + n && !s->truncated; p = nl + 1, lineno++) {
        nl = strchr(p, '\n');
        if (!nl)
            nl = buf + n;
        *nl = 0;
        if (line_matches(s, p)) {
            if ((int64_t)json_array_size(s->matches) == s->max_matches) {
                s->truncated = true;
                break;
            }
            json_array_append_new(s->matches, json_pack("{s:s,s:I,s:s%}", "path", rel, "line", (json_int_t)lineno,
                                                        "text", p, strnlen(p, MAX_LINE_SHOWN)));
        }
    }
    free(buf);
}

/* dirfd is taken over. Symbolic links are passed over, so the walk stays in the root. */
static void search_dir(search *s, int dfd, const char *rel, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *e;
    while (!s->truncated && !th_job_over(s->job) && (e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue;
        char *child = strcmp(rel, ".") == 0 ? mf_xstrdup(e->d_name) : NULL;
        if (!child) {
            size_t len = strlen(rel) + strlen(e->d_name) + 2;
            child = mf_xmalloc(len);
            snprintf(child, len, "%s/%s", rel, e->d_name);
        }
        if (S_ISDIR(st.st_mode) && depth < MAX_SEARCH_DEPTH) {
            int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0)
                search_dir(s, fd, child, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                search_file(s, fd, child);
                close(fd);
            }
        }
        free(child);
    }
    closedir(d);
}

static json_t *t_search(const void *cfg, const json_t *args, th_job *job)
{
    const filecfg *c = cfg;
    search s = {.job = job, .max_bytes = c->lim.max_bytes, .max_matches = 100};
    const char *path;
    json_t *err = NULL;
    const json_t *rx = json_object_get(args, "regex"), *ic = json_object_get(args, "ignore_case");
    if (!th_arg_string(args, "pattern", true, &s.needle, &err) ||
        !th_arg_int(args, "max_matches", 1, 1000, &s.max_matches, &err))
        return err;
    if ((rx && !json_is_boolean(rx)) || (ic && !json_is_boolean(ic)))
        return th_fail("the arguments \"regex\" and \"ignore_case\" must be booleans");
    s.use_regex = json_is_true(rx);
    s.icase = json_is_true(ic);
    if (s.use_regex) {
        int rc = regcomp(&s.re, s.needle, REG_EXTENDED | REG_NOSUB | (s.icase ? REG_ICASE : 0));
        if (rc) {
            char msg[256];
            regerror(rc, &s.re, msg, sizeof msg);
            return th_fail("bad regular expression: %s", msg);
        }
    }
    int fd = open_arg(c, args, O_RDONLY, &path, &err);
    if (fd >= 0) {
        struct stat st;
        s.matches = json_array();
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            search_dir(&s, fd, path, 0);
        } else {
            search_file(&s, fd, path);
            close(fd);
        }
        if (th_job_over(job)) {
            json_decref(s.matches);
            err = th_fail("stopped: the search ran past its time limit");
        }
    }
    if (s.use_regex)
        regfree(&s.re);
    if (fd < 0 || !s.matches || err)
        return err;
    return th_result(json_pack("{s:o,s:b}", "matches", s.matches, "truncated", s.truncated));
}

#define ROOT_ARG "\"root\":{\"type\":\"string\",\"description\":\"a root named in the configuration " \
                 "(may be left out when there is one)\"}"
#define PATH_ARG "\"path\":{\"type\":\"string\",\"description\":\"relative to the root\"}"

static const th_tool tools[] = {
    {"list", "List a directory under a root: name, type and size of each entry.",
     "{\"type\":\"object\",\"properties\":{" ROOT_ARG "," PATH_ARG "}}",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"entries\":{\"type\":\"array\","
     "\"items\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"
     "\"size\":{\"type\":\"integer\"}}}},\"truncated\":{\"type\":\"boolean\"}},\"required\":[\"path\",\"entries\"]}",
     t_list, NULL},
    {"read", "Read a text file under a root, whole or a range: bytes (offset, length) or lines (line, lines).",
     "{\"type\":\"object\",\"properties\":{" ROOT_ARG "," PATH_ARG ",\"offset\":{\"type\":\"integer\",\"minimum\":0},"
     "\"length\":{\"type\":\"integer\",\"minimum\":1},\"line\":{\"type\":\"integer\",\"minimum\":1},"
     "\"lines\":{\"type\":\"integer\",\"minimum\":1}},\"required\":[\"path\"]}",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"size\":{\"type\":\"integer\"},"
     "\"text\":{\"type\":\"string\"}},\"required\":[\"path\",\"text\"]}",
     t_read, NULL},
    {"search", "Search the text files under a path for lines holding a substring, or matching a POSIX "
               "extended regular expression (regex: true).",
     "{\"type\":\"object\",\"properties\":{" ROOT_ARG "," PATH_ARG ",\"pattern\":{\"type\":\"string\"},"
     "\"regex\":{\"type\":\"boolean\"},\"ignore_case\":{\"type\":\"boolean\"},"
     "\"max_matches\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}},\"required\":[\"pattern\"]}",
     "{\"type\":\"object\",\"properties\":{\"matches\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
     "\"properties\":{\"path\":{\"type\":\"string\"},\"line\":{\"type\":\"integer\"},\"text\":{\"type\":\"string\"}}}},"
     "\"truncated\":{\"type\":\"boolean\"}},\"required\":[\"matches\",\"truncated\"]}",
     t_search, NULL},
};

static const th_kind kind = {.name = "files", .tools = tools, .ntools = sizeof tools / sizeof tools[0],
                             .conf_size = sizeof(filecfg), .settings = settings};

TH_ROLE(kind);

MF_PLUGIN(.name = "files", .version = "1", .description = "list, read and search files under configured roots",
          .provider = &th_role_, .provider_settings = settings);
