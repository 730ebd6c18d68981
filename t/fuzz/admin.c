/* Fuzz target: the admin socket's line protocol (kernel/admin.c, admin_commands.c,
 * admin_plugins.c) on a whole gateway in process, commands and all: status, providers,
 * drain, breaker, scale, policy, reload of a plugin, of the policy or of the
 * configuration.
 *
 * Input: the bytes a client writes to the socket, in one go or, when the first byte is
 * odd, line by line with the answers read in between. Properties: every line gets its
 * answer or the connection ends; nothing the client does stops the socket from answering
 * the next client; a reload under way ends. Between inputs the routing is put back
 * (undrain, breaker auto, one replica), so that no input depends on the ones before. */
#define _GNU_SOURCE 1   /* memmem */
#include "build-config.h"
#include "kernel.h"
#include "swap.h"
#include "fuzz.h"
#include "gateway.h"
#include "net.h"

#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_gateway_start();
    return 0;
}

static bool swap_done(void *ud)
{
    (void)ud;
    return !mf_swap_busy();
}

/* Send text on a new connection; returns what came back. */
static void exchange(const char *text, size_t len, bool by_line, fuzz_out *out)
{
    int fd = fuzz_connect_unix(fuzz_gateway_admin());
    FUZZ_ASSERT(fd >= 0);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = by_line ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        const char *stop = nl ? nl + 1 : end;
        if (fuzz_write_all(fd, p, (size_t)(stop - p)))
            break;
        fuzz_settle(fd, out);
        p = stop;
    }
    fuzz_settle(fd, out);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t steer = fuzz_take_byte(&data, &size);
    /* Each plugin generation a (re)load maps stays mapped here (gateway.c), and its fresh
     * coverage counters look new to the fuzzer every time: past a few dozen, inputs that
     * may load a plugin are skipped (the corpus replays still run them all). */
    static unsigned loads;
    if (memmem(data, size, "load", 4) && ++loads > 50)
        return 0;
    fuzz_out out = {0};
    exchange((const char *)data, size, steer & 1, &out);
    fuzz_out_free(&out);
    FUZZ_ASSERT(fuzz_run_until(swap_done, NULL, 10000));
    /* the socket still answers, and the routing is as it was */
    static const char reset[] = "undrain lb\nbreaker lb auto\nscale lb 1\nstatus\n";
    exchange(reset, sizeof reset - 1, false, &out);
    FUZZ_ASSERT(out.len > 0 && strstr(out.buf, "200"));
    fuzz_out_free(&out);
    fuzz_settle(-1, NULL);
    return 0;
}
