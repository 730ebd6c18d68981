/* Plugins that must be refused, one build of this file per way of being wrong:
 * ODD_MINOR (built against a newer minor SDK version than the kernel's), ODD_MAJOR
 * (another major SDK version), ODD_NAME (descriptor and
 * file disagree), ODD_LOAD (its load function fails). Each has a constructor that leaves
 * a marker file, so a test can prove no code of a refused plugin ran. And one that must
 * load: ODD_OLD, built against SDK 4.0 (before settings tables), whose provider role
 * checks its keys itself. */
#include <mcpfed/mcpfed.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void leave_marker(void)
{
    const char *marker = getenv("MCPFED_TEST_MARKER");
    if (marker) {
        int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            close(fd);
    }
}

enum { sdk_major = MF_SDK_MAJOR, sdk_minor = MF_SDK_MINOR };
#if defined(ODD_MINOR)
#undef MF_SDK_MINOR
#define MF_SDK_MINOR (sdk_minor + 1)
#define NAME "oddminor"
#elif defined(ODD_MAJOR)
#undef MF_SDK_MAJOR
#define MF_SDK_MAJOR (sdk_major + 1)
#define NAME "oddmajor"
#elif defined(ODD_NAME)
#define NAME "somethingelse"
#elif defined(ODD_LOAD)
#define NAME "oddload"
#elif defined(ODD_OLD)
#undef MF_SDK_MINOR
#define MF_SDK_MINOR 0
#define NAME "oldminor"
#endif

static int load(mf_error *err)
{
#ifdef ODD_LOAD
    mf_error_set(err, -1, "deliberate failure");
    return -1;
#else
    (void)err;
    return 0;
#endif
}

#ifdef ODD_OLD
static int check(const json_t *conf, const char *path, mf_error *err)
{
    if (json_object_get(conf, "bad")) {
        mf_error_set(err, -1, "%s.bad: refused by the plugin's own check", path);
        return -1;
    }
    return 0;
}

static const mf_role_ops provider = {.check = check};
MF_PLUGIN(.name = NAME, .version = "0", .load = load, .provider = &provider);
#else
MF_PLUGIN(.name = NAME, .version = "0", .load = load);
#endif
