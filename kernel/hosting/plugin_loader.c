/* The plugin loader, on libltdl.
 *
 * The stamp is read from the file before anything is mapped (elf_stamp.c). The file is
 * then copied to a private path and the copy is opened: the dynamic loader caches
 * objects by path and inode, and a reload must get the new code, not the cached old one.
 * The copy is unlinked as soon as it is mapped, so nothing is left behind. */
#include "build-config.h"
#include "plugin_loader.h"
#include "hosting.h"
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ltdl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static void free_search(void)
{
    for (char **p = mf_host.search; p && *p; p++)
        free(*p);
    free(mf_host.search);
    mf_host.search = NULL;
}

int mf_plugins_init(char *const *dirs, mf_error *err)
{
    if (!mf_host.ltdl_up && lt_dlinit() != 0) {
        mf_error_set(err, -1, "cannot initialise libltdl: %s", lt_dlerror());
        return -1;
    }
    mf_host.ltdl_up = true;
    free_search();
    size_t n = 0, cap = 8;
    mf_host.search = mf_xcalloc(cap, sizeof *mf_host.search);
    const char *env = getenv("MCPFED_PLUGIN_PATH");
    char *envcopy = env ? mf_xstrdup(env) : NULL;
    char *save = NULL;
    /* the order: configuration, environment, installed */
    for (size_t i = 0; dirs && dirs[i]; i++) {
        if (n + 2 >= cap)
            mf_host.search = mf_xrealloc(mf_host.search, (cap *= 2) * sizeof *mf_host.search);
        mf_host.search[n++] = mf_xstrdup(dirs[i]);
    }
    for (char *tok = envcopy ? strtok_r(envcopy, ":", &save) : NULL; tok;
         tok = strtok_r(NULL, ":", &save)) {
        if (n + 2 >= cap)
            mf_host.search = mf_xrealloc(mf_host.search, (cap *= 2) * sizeof *mf_host.search);
        mf_host.search[n++] = mf_xstrdup(tok);
    }
    free(envcopy);
    mf_host.search[n++] = mf_xstrdup(mf_default_plugin_dir());
    mf_host.search[n] = NULL;
    return 0;
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

char *mf_plugin_locate(const char *name, mf_error *err)
{
    if (strchr(name, '/')) {
        if (is_file(name))
            return mf_xstrdup(name);
        mf_error_set(err, -1, "plugin file %s: %s", name, strerror(errno));
        return NULL;
    }
    /* in each directory: an installed name.so, or a libtool build tree */
    char path[4096];
    char tried[1024] = "";
    size_t tl = 0;
    for (char **d = mf_host.search; d && *d; d++) {
        for (int shape = 0; shape < 3; shape++) {
            if (shape == 0)
                snprintf(path, sizeof path, "%s/%s.so", *d, name);
            else if (shape == 1)
                snprintf(path, sizeof path, "%s/%s/.libs/%s.so", *d, name, name);
            else
                snprintf(path, sizeof path, "%s/.libs/%s.so", *d, name);
            if (is_file(path))
                return mf_xstrdup(path);
        }
        tl += (size_t)snprintf(tried + tl, tl < sizeof tried ? sizeof tried - tl : 0, "%s%s",
                               tl ? ", " : "", *d);
        if (tl >= sizeof tried)
            tl = sizeof tried - 1;
    }
    mf_error_set(err, -1,
                 "plugin \"%s\" not found (searched %s; set plugin_dirs or MCPFED_PLUGIN_PATH)",
                 name, tried);
    return NULL;
}

static const char *base_name(const char *file, char *out, size_t cap)
{
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    size_t n = strlen(b);
    if (n > 3 && strcmp(b + n - 3, ".so") == 0)
        n -= 3;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, b, n);
    out[n] = '\0';
    return out;
}

static int copy_file(const char *from, const char *to, mf_error *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        mf_error_set(err, -1, "%s: cannot open: %s", from, strerror(errno));
        return -1;
    }
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (out < 0) {
        mf_error_set(err, -1, "%s: cannot create: %s", to, strerror(errno));
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t r;
    int rc = 0;
    while ((r = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0) {
                rc = -1;
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    if (r < 0 || rc) {
        mf_error_set(err, -1, "copying %s to %s: %s", from, to, strerror(errno));
        rc = -1;
    }
    close(in);
    if (close(out))
        rc = -1;
    return rc;
}

/* Map a private copy of file; the copy and its directory are gone when this returns. */
static void *open_private_copy(const char *file, const char *name, mf_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096], priv[4400];
    snprintf(dir, sizeof dir, "%s/mcpfed-plugin-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        mf_error_set(err, -1, "cannot create a private directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    snprintf(priv, sizeof priv, "%s/%s.%u.so", dir, name, ++mf_host.loads);
    lt_dlhandle h = NULL;
    if (copy_file(file, priv, err) == 0) {
        lt_dladvise advise;
        lt_dladvise_init(&advise);
        lt_dladvise_local(&advise);
        h = lt_dlopenadvise(priv, advise);
        lt_dladvise_destroy(&advise);
        if (!h)
            mf_error_set(err, -1, "plugin %s: cannot load: %s", file, lt_dlerror());
    }
    unlink(priv);
    rmdir(dir);
    return h;
}

mf_module *mf_plugin_find(const char *name)
{
    for (mf_module *m = mf_host.modules; m; m = m->next)
        if (!m->superseded && strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

mf_module *mf_plugins_list(void) { return mf_host.modules; }

char *const *mf_plugin_dirs(void) { return mf_host.search; }

int mf_sdk_refuses(const char *file, const char *where, unsigned major, unsigned minor, mf_error *err)
{
    if (major == MF_SDK_MAJOR && minor <= MF_SDK_MINOR)
        return 0;
    mf_error_set(err, -1, "plugin %s refused: its %s says SDK %u.%u, this kernel speaks SDK %d.%d (%s)",
                 file, where, major, minor, MF_SDK_MAJOR, MF_SDK_MINOR,
                 major != MF_SDK_MAJOR ? "another major version: rebuild the plugin against this SDK"
                                       : "a newer minor version than this kernel's: upgrade mcpfed");
    return -1;
}

/* Check file's stamp, map a private copy, check its descriptor (none of its code runs but
 * its constructors). */
static lt_dlhandle open_checked(const char *file, const char *want, const mf_plugin **out, mf_error *err)
{
    /* 1. the stamp, from the file, before any code of it is mapped */
    mf_stamp st;
    if (mf_elf_read_stamp(file, &st, err))
        return NULL;
    if (memcmp(st.magic, MF_STAMP_MAGIC, sizeof MF_STAMP_MAGIC) != 0) {
        mf_error_set(err, -1, "plugin %s refused: its stamp is of another SDK generation (magic \"%.*s\", "
                     "this kernel's is \"%s\"); rebuild it against SDK %d.%d", file,
                     (int)strnlen(st.magic, sizeof st.magic), st.magic, MF_STAMP_MAGIC, MF_SDK_MAJOR,
                     MF_SDK_MINOR);
        return NULL;
    }
    if (mf_sdk_refuses(file, "stamp", st.sdk_major, st.sdk_minor, err))
        return NULL;

    /* 2. a private copy, mapped */
    lt_dlhandle h = open_private_copy(file, want, err);
    if (!h)
        return NULL;

    /* 3. the descriptor must agree with the stamp and the file name */
    const mf_plugin *desc = lt_dlsym(h, MF_PLUGIN_SYMBOL_NAME);
    if (!desc) {
        mf_error_set(err, -1, "plugin %s: no symbol %s", file, MF_PLUGIN_SYMBOL_NAME);
        lt_dlclose(h);
        return NULL;
    }
    if (desc->sdk_major != st.sdk_major || desc->sdk_minor != st.sdk_minor) {
        mf_error_set(err, -1, "plugin %s refused: its descriptor says SDK %u.%u, its stamp SDK %u.%u",
                     file, desc->sdk_major, desc->sdk_minor, st.sdk_major, st.sdk_minor);
        lt_dlclose(h);
        return NULL;
    }
    if (!desc->name || strcmp(desc->name, want) != 0) {
        mf_error_set(err, -1, "plugin %s: its descriptor names it \"%s\"; the file must be named %s.so",
                     file, desc->name ? desc->name : "", desc->name ? desc->name : "NAME");
        lt_dlclose(h);
        return NULL;
    }
    *out = desc;
    return h;
}

/* ... then run its load. */
static mf_module *open_module(const char *file, const char *want, mf_error *err)
{
    const mf_plugin *desc = NULL;
    lt_dlhandle h = open_checked(file, want, &desc, err);
    if (!h)
        return NULL;
    if (desc->load && desc->load(err) != 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        mf_error_set(err, -1, "plugin %s: load failed: %s", file, why);
        lt_dlclose(h);
        return NULL;
    }
    mf_module *m = mf_xcalloc(1, sizeof *m);
    m->name = mf_xstrdup(want);
    m->file = mf_xstrdup(file);
    m->generation = 1;
    m->handle = h;
    m->desc = desc;
    m->loaded_at = mf_now();
    struct stat st2;
    if (stat(file, &st2) == 0) {
        m->ino = st2.st_ino;
        m->size = st2.st_size;
        m->mtime_ns = (int64_t)st2.st_mtim.tv_sec * 1000000000 + st2.st_mtim.tv_nsec;
    }
    return m;
}

static void add_module(mf_module *m)
{
    m->next = mf_host.modules;
    mf_host.modules = m;
    mf_info("plugin", "loaded", "plugin=%s generation=%u file=%s version=%s", m->name, m->generation,
            m->file, m->desc->version ? m->desc->version : "?");
}

mf_module *mf_plugin_load(const char *spec, mf_error *err)
{
    char want[256];
    base_name(spec, want, sizeof want);
    mf_module *m = mf_plugin_find(want);
    if (m)
        return m;
    char *file = mf_plugin_locate(spec, err);
    if (!file)
        return NULL;
    m = open_module(file, want, err);
    free(file);
    if (!m)
        return NULL;
    m->spec = mf_xstrdup(spec);
    add_module(m);
    return m;
}

mf_module *mf_plugin_load_next(mf_module *cur, mf_error *err)
{
    /* by name, through the search path, so that a newer file dropped earlier in it wins */
    char *file = mf_plugin_locate(cur->spec, err);
    if (!file)
        return NULL;
    mf_module *m = open_module(file, cur->name, err);
    free(file);
    if (!m)
        return NULL;
    m->spec = mf_xstrdup(cur->spec);
    m->generation = cur->generation + 1;
    cur->superseded = true;
    add_module(m);
    return m;
}

/* Run m's unload hook, unmap it (with unmap) and free it (it is off the list already). */
static void module_free(mf_module *m, bool unmap)
{
    if (m->desc->unload)
        m->desc->unload();
    if (unmap)
        lt_dlclose(m->handle);
    free(m->name);
    free(m->file);
    free(m->spec);
    free(m);
}

static void unload(mf_module *m)
{
    for (mf_module **pp = &mf_host.modules; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    mf_info("plugin", "unloaded", "plugin=%s generation=%u", m->name, m->generation);
    module_free(m, true);
}

void mf_plugin_back(mf_module *next, mf_module *prev)
{
    prev->superseded = false;
    next->superseded = true;
    mf_plugin_release(next);   /* later: a failed start may have left close callbacks to run */
}

/* Superseded modules are unloaded on a later turn of the loop: the last of their code that
 * ran (the callback that said its instance stopped) must have returned first, and the close
 * callbacks of handles they closed must have run. Those run in the closing phase of the
 * turn the handles were closed in, which comes after the idle phase of that turn: when a
 * module is released from a timer (a successor failing to start there), the first idle
 * phase after is too early, so it is the second one that unloads. */

static void on_sweep(uv_idle_t *h)
{
    bool waiting = false;
    for (mf_module *m = mf_host.modules, *next; m; m = next) {
        next = m->next;
        if (!m->superseded || m->refs > 0)
            continue;
        if (m->sweep_turns > 1) {
            m->sweep_turns--;
            waiting = true;
            continue;
        }
        unload(m);
    }
    if (!waiting) {
        uv_idle_stop(h);
        mf_host.sweeper_on = false;
    }
}

void mf_plugin_retire(mf_module *m)
{
    m->superseded = true;
    mf_plugin_release(m);
}

void mf_plugin_release(mf_module *m)
{
    if (!m->superseded || m->refs > 0)
        return;
    m->sweep_turns = 2;
    if (mf_host.sweeper_on)
        return;
    if (!mf_host.sweeper.loop)
        uv_idle_init(mf_loop(), &mf_host.sweeper);
    uv_idle_start(&mf_host.sweeper, on_sweep);
    mf_host.sweeper_on = true;
}

void mf_plugins_stop(void)
{
    if (mf_host.sweeper.loop && !uv_is_closing((uv_handle_t *)&mf_host.sweeper))
        uv_close((uv_handle_t *)&mf_host.sweeper, NULL);
    mf_host.sweeper_on = true;   /* no more sweeps: what is left goes at shutdown */
}

int mf_plugin_unload(mf_module *m, mf_error *err)
{
    if (m->refs > 0) {
        mf_error_set(err, -1, "plugin %s is in use (%u users)", m->name, m->refs);
        return -1;
    }
    unload(m);
    return 0;
}

/* Under AddressSanitizer the plugins stay mapped at exit, so that the leak report made
 * then can name their functions. */
#if defined(__SANITIZE_ADDRESS__)
#define UNMAP_AT_EXIT false
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNMAP_AT_EXIT false
#endif
#endif
#ifndef UNMAP_AT_EXIT
#define UNMAP_AT_EXIT true
#endif

void mf_plugins_shutdown(void)
{
    while (mf_host.modules) {
        mf_module *m = mf_host.modules;
        mf_host.modules = m->next;
        module_free(m, UNMAP_AT_EXIT);
    }
    free_search();
    if (mf_host.ltdl_up && UNMAP_AT_EXIT) {
        lt_dlexit();
        mf_host.ltdl_up = false;
    }
}

/* --- the plugins in the search directories, for --help-config ------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the plugins in dir, in each shape mf_plugin_locate finds (NAME.so,
 * NAME/.libs/NAME.so, .libs/NAME.so), appended to names. */
static void scan_dir(const char *dir, char ***names, size_t *n, size_t *cap)
{
    for (int shape = 0; shape < 2; shape++) {
        char d[4096];
        snprintf(d, sizeof d, shape == 0 ? "%s" : "%s/.libs", dir);
        DIR *dh = opendir(d);
        struct dirent *e;
        while (dh && (e = readdir(dh))) {
            char name[256], sub[8448];
            size_t len = strlen(e->d_name);
            if (e->d_name[0] == '.')
                continue;
            if (len > 3 && strcmp(e->d_name + len - 3, ".so") == 0) {
                base_name(e->d_name, name, sizeof name);
            } else if (shape == 0) {
                snprintf(sub, sizeof sub, "%s/%s/.libs/%s.so", d, e->d_name, e->d_name);
                if (!is_file(sub))
                    continue;
                snprintf(name, sizeof name, "%s", e->d_name);
            } else {
                continue;
            }
            if (*n + 1 >= *cap)
                *names = mf_xrealloc(*names, (*cap = *cap * 2 + 8) * sizeof **names);
            (*names)[(*n)++] = mf_xstrdup(name);
        }
        if (dh)
            closedir(dh);
    }
}

void mf_plugins_describe(mf_describe_fn fn, void *ud)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (char **d = mf_host.search; d && *d; d++)
        scan_dir(*d, &names, &n, &cap);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        mf_error err = {0};
        const mf_plugin *desc = NULL;
        /* the file a load by this name would take */
        char *file = mf_plugin_locate(names[i], &err);
        lt_dlhandle h = file ? open_checked(file, names[i], &desc, &err) : NULL;
        fn(names[i], desc, h ? NULL : err.msg, ud);
        if (h)
            lt_dlclose(h);
        free(file);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
