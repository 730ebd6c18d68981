/* Fuzz target: the configuration loader (kernel/config.c, conf_check.c, luajson.c) and the
 * plugins' checks of their tables (config_plugins.c), on any Lua text.
 *
 * The configuration is the operator's own program: one that loops forever or calls the
 * operating system does what it says, and is no defect of the loader. The harness
 * therefore skips texts that name loops, functions or libraries (outside comments and
 * strings); what remains is every table, value and syntax error a file can produce,
 * which the loader must refuse with a message or accept, never crash on. */
#include "build-config.h"
#include "kernel.h"
#include "config.h"
#include "plugin_loader.h"
#include "fuzz.h"

#include <ctype.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/mcpfed-fuzz-config-XXXXXX";
static char file[sizeof dir + 16];

static void cleanup(void)
{
    unlink(file);
    rmdir(dir);
    mf_plugins_shutdown();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mf_log_set_level(MF_LOG_ERROR);
    mf_error err = {0};
    if (!mkdtemp(dir) || mf_plugins_init(NULL, &err)) {
        fprintf(stderr, "fuzz_config: cannot set up: %s\n", err.msg);
        exit(1);
    }
    snprintf(file, sizeof file, "%s/c.lua", dir);
    atexit(cleanup);
    return 0;
}

static const char *const refused[] = {
    "while", "repeat", "goto", "for", "function", "os", "io", "require", "load", "loadstring",
    "loadfile", "dofile", "rep", "collectgarbage", "debug", "package", "setmetatable",
    "getmetatable", "coroutine", "string", "utf8", "table", "math", "rawset", "rawget", "_G",
    "_ENV", "print", "error", "pcall", "xpcall", "select", "next", "pairs", "ipairs", NULL};

/* Level of a long bracket "[==[" at s (its count of '='), or -1. */
static int long_bracket(const char *s, const char *end)
{
    if (s >= end || *s != '[')
        return -1;
    int level = 0;
    for (s++; s < end && *s == '='; s++)
        level++;
    return s < end && *s == '[' ? level : -1;
}

static const char *skip_long(const char *s, const char *end, int level)
{
    for (s += level + 2; s < end; s++) {
        if (*s != ']')
            continue;
        const char *q = s + 1;
        int n = 0;
        while (q < end && *q == '=')
            q++, n++;
        if (n == level && q < end && *q == ']')
            return q + 1;
    }
    return end;
}

/* Does the text name anything in refused[] as code? */
static bool names_refused(const char *s, const char *end)
{
    while (s < end) {
        int level;
        if (s + 1 < end && s[0] == '-' && s[1] == '-') {
            s += 2;
            if ((level = long_bracket(s, end)) >= 0)
                s = skip_long(s, end, level);
            else
                while (s < end && *s != '\n')
                    s++;
        } else if ((level = long_bracket(s, end)) >= 0) {
            s = skip_long(s, end, level);
        } else if (*s == '"' || *s == '\'') {
            char q = *s++;
            while (s < end && *s != q && *s != '\n')
                s += (*s == '\\' && s + 1 < end) ? 2 : 1;
            s++;
        } else if (isalpha((unsigned char)*s) || *s == '_') {
            const char *w = s;
            while (s < end && (isalnum((unsigned char)*s) || *s == '_'))
                s++;
            for (int i = 0; refused[i]; i++)
                if (strlen(refused[i]) == (size_t)(s - w) && memcmp(refused[i], w, (size_t)(s - w)) == 0)
                    return true;
        } else {
            s++;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t steer = fuzz_take_byte(&data, &size);
    /* a NUL ends a Lua chunk read from a file no differently than any other byte, but
     * the scan above reads the text as C text would */
    if (names_refused((const char *)data, (const char *)data + size))
        return 0;
    FILE *f = fopen(file, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    mf_error err = {0};
    bool stdio = steer & 1;
    mf_config *c = mf_config_load(file, stdio, &err);
    FUZZ_ASSERT(c || err.msg[0]);
    if (c) {
        err.msg[0] = '\0';
        if (mf_config_check_plugins(c, stdio, &err))
            FUZZ_ASSERT(err.msg[0]);
        mf_config_unref(c);
    }
    return 0;
}
