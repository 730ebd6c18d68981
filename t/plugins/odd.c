/* Plugins that must be refused, one build of this file per way of being wrong:
 * ODD_SIGNATURE (another SDK), ODD_ABI (another ABI version), ODD_NAME (descriptor and
 * file disagree), ODD_LOAD (its load function fails). Each has a constructor that leaves
 * a marker file, so a test can prove no code of a refused plugin ran. */
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

#if defined(ODD_SIGNATURE)
#undef MF_BUILD_SIGNATURE
#define MF_BUILD_SIGNATURE "mcpfed-0123456789abcdef-x86_64"
#define NAME "oddsig"
#elif defined(ODD_ABI)
#undef MF_ABI_VERSION
#define MF_ABI_VERSION 999
#define NAME "oddabi"
#elif defined(ODD_NAME)
#define NAME "somethingelse"
#elif defined(ODD_LOAD)
#define NAME "oddload"
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

MF_PLUGIN(.name = NAME, .version = "0", .load = load);
