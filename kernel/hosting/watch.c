/* watch_plugins: a plugin file that appears or changes in a plugin directory is loaded, or
 * reloaded (hot swap) when a plugin of that name runs.
 *
 * Files are written in steps (a copy in place is many writes), so a name is acted on only
 * once its directory has been quiet about it for a moment; a file that is the one already
 * loaded (same inode, size and time) is left alone, and one that is incomplete is refused
 * by the loader and tried again at its next change. A new plugin loaded, or the file of a
 * loaded one removed, is told to the observer (control/dropin.c starts and retires
 * default instances). One reload runs at a time: a change
 * that arrives during another (or during a reload of the configuration) waits for it.
 *
 * The files already in a directory when watching starts are taken as if they had just
 * appeared, so that a plugin dropped in before a restart serves again after it; one the
 * observer does not take is unloaded again, unless the configuration uses it. */
#include "build-config.h"
#include "hosting.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uthash.h>

#define QUIET_MS 250

typedef struct dir_watch {
    uv_fs_event_t ev;
    char *dir;
    struct dir_watch *next;
} dir_watch;

typedef struct pending {
    char *name;          /* plugin name */
    char *file;
    bool at_start;       /* found by the scan at start, not by a change */
    uv_timer_t timer;
    UT_hash_handle hh;
} pending;


static void pending_closed(uv_handle_t *h)
{
    pending *p = h->data;
    free(p->name);
    free(p->file);
    free(p);
}

static void forget(pending *p)
{
    HASH_DEL(mf_host.waiting, p);
    uv_close((uv_handle_t *)&p->timer, pending_closed);
}

static bool same_file(const mf_module *m, const char *file)
{
    struct stat st;
    if (stat(file, &st) != 0)
        return false;
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return m->ino == st.st_ino && m->size == st.st_size && m->mtime_ns == mtime;
}

static void reloaded(void *ud, int code, json_t *report)
{
    MF_UNUSED(ud);
    MF_UNUSED(code);
    json_decref(report);   /* swap.c has logged the outcome */
}

static void on_quiet(uv_timer_t *t)
{
    pending *p = t->data;
    struct stat st;
    if (mf_swap_blocked()) {
        uv_timer_start(&p->timer, on_quiet, QUIET_MS, 0);
        return;
    }
    mf_module *m = mf_plugin_find(p->name);
    if (stat(p->file, &st) != 0 || !S_ISREG(st.st_mode)) {
        /* gone: the plugin loaded from it goes too, where an observer takes it away */
        if (m && strcmp(m->file, p->file) == 0 && mf_host.watcher && mf_host.watcher->removed) {
            mf_info("watch", "plugin file removed", "plugin=%s file=%s", p->name, p->file);
            mf_host.watcher->removed(m);
        }
        forget(p);
        return;
    }
    if (m && same_file(m, p->file)) {
        forget(p);
        return;
    }
    if (m) {
        /* the file the loader would take now, not necessarily this one (an earlier directory wins) */
        mf_error err = {0};
        char *chosen = mf_plugin_locate(m->spec, &err);
        bool ours = chosen && strcmp(chosen, p->file) == 0;
        free(chosen);
        if (ours) {
            mf_info("watch", "plugin file changed; reloading", "plugin=%s file=%s", p->name, p->file);
            mf_swap_reload(p->name, reloaded, NULL);
        }
    } else {
        mf_error err = {0};
        /* at start, the file the loader would take of those of that name */
        char *chosen = p->at_start ? mf_plugin_locate(p->name, &err) : NULL;
        m = mf_plugin_load(chosen ? chosen : p->file, &err);
        free(chosen);
        bool taken = m && mf_host.watcher && mf_host.watcher->loaded && mf_host.watcher->loaded(m);
        if (!m && !p->at_start)
            mf_warn("watch", "new plugin file refused", "file=%s reason=\"%s\"", p->file,
                    mf_log_esc(err.msg, (size_t)-1));
        else if (m && !taken && p->at_start && m->refs == 0)
            mf_plugin_retire(m);   /* only looked at: the configuration loads what it uses */
    }
    forget(p);
}

/* A change to name in w's directory: acted on once it has been quiet for QUIET_MS. */
static void changed(dir_watch *w, const char *filename, bool at_start)
{
    size_t n = strlen(filename);
    if (n <= 3 || strcmp(filename + n - 3, ".so") != 0 || filename[0] == '.')
        return;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(n - 3), filename);
    pending *p;
    HASH_FIND_STR(mf_host.waiting, name, p);
    if (!p) {
        p = mf_xcalloc(1, sizeof *p);
        p->name = mf_xstrdup(name);
        p->at_start = at_start;
        size_t len = strlen(w->dir) + n + 2;
        p->file = mf_xmalloc(len);
        snprintf(p->file, len, "%s/%s", w->dir, filename);
        uv_timer_init(mf_loop(), &p->timer);
        p->timer.data = p;
        HASH_ADD_KEYPTR(hh, mf_host.waiting, p->name, strlen(p->name), p);
    } else if (!at_start) {
        p->at_start = false;
    }
    uv_timer_start(&p->timer, on_quiet, QUIET_MS, 0);   /* again: wait for the writes to end */
}

static void scan(dir_watch *w)
{
    DIR *d = opendir(w->dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_type == DT_REG || e->d_type == DT_LNK || e->d_type == DT_UNKNOWN)
            changed(w, e->d_name, true);
    closedir(d);
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    MF_UNUSED(events);
    if (status >= 0 && filename)
        changed(h->data, filename, false);
}

void mf_watch_observe(const mf_watch_observer *o)
{
    mf_host.watcher = o;
}

void mf_watch_start(const mf_config *cfg)
{
    if (!cfg->watch_plugins)
        return;
    for (char *const *d = mf_plugin_dirs(); d && *d; d++) {
        struct stat st;
        if (stat(*d, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        dir_watch *w = mf_xcalloc(1, sizeof *w);
        w->dir = mf_xstrdup(*d);
        uv_fs_event_init(mf_loop(), &w->ev);
        w->ev.data = w;
        if (uv_fs_event_start(&w->ev, on_event, w->dir, 0) != 0) {
            mf_warn("watch", "cannot watch a plugin directory", "dir=%s", w->dir);
            uv_close((uv_handle_t *)&w->ev, NULL);
            free(w->dir);
            free(w);
            continue;
        }
        mf_info("watch", "watching plugin directory", "dir=%s", w->dir);
        w->next = mf_host.dirs;
        mf_host.dirs = w;
        scan(w);
    }
}

static void dir_closed(uv_handle_t *h)
{
    dir_watch *w = h->data;
    free(w->dir);
    free(w);
}

void mf_watch_stop(void)
{
    while (mf_host.dirs) {
        dir_watch *w = mf_host.dirs;
        mf_host.dirs = w->next;
        uv_close((uv_handle_t *)&w->ev, dir_closed);
    }
    pending *p, *tmp;
    HASH_ITER(hh, mf_host.waiting, p, tmp)
        forget(p);
}
