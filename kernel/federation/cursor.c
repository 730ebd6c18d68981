/* Cursors for the lists mcpfed serves. A cursor says which list, which version of it and
 * where the next page starts, with a keyed check so that a cursor mcpfed did not mint is
 * refused, and one minted for a list that has changed since is refused as stale. */
#include "build-config.h"
#include "cursor.h"
#include "federation.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static uint64_t check_of(unsigned kind, uint64_t gen, uint64_t offset)
{
    uint64_t *key = &mf_fed.cursor_key;
    if (!*key && (getrandom(key, sizeof *key, 0) != (ssize_t)sizeof *key || !*key))
        *key = uv_hrtime() | 1;
    /* FNV-1a over the key and the fields: not a secret, a seal against made-up cursors */
    uint64_t h = 1469598103934665603ull;
    uint64_t parts[4] = {mf_fed.cursor_key, kind, gen, offset};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++) {
            h ^= (parts[i] >> (8 * b)) & 0xff;
            h *= 1099511628211ull;
        }
    return h;
}

char *mf_cursor_mint(mf_kind k, uint64_t generation, size_t offset)
{
    char buf[96];
    snprintf(buf, sizeof buf, "mf1.%u.%" PRIx64 ".%zx.%016" PRIx64, (unsigned)k, generation, offset,
             check_of((unsigned)k, generation, offset));
    return mf_xstrdup(buf);
}

int mf_cursor_check(const char *cursor, mf_kind k, uint64_t generation, size_t *offset, const char **why)
{
    unsigned kind;
    uint64_t gen, off, mac;
    int used = 0;
    if (sscanf(cursor, "mf1.%u.%" SCNx64 ".%" SCNx64 ".%16" SCNx64 "%n", &kind, &gen, &off, &mac, &used) != 4 ||
        cursor[used] != '\0' || check_of(kind, gen, off) != mac) {
        *why = "not a cursor this server gave out";
        return -1;
    }
    if (kind != (unsigned)k) {
        *why = "a cursor of another list";
        return -1;
    }
    if (gen != generation) {
        *why = "the list changed since this cursor was given out; list again from the start";
        return -1;
    }
    *offset = (size_t)off;
    return 0;
}

char *mf_request_state_mint(uint64_t id)
{
    char buf[64];
    snprintf(buf, sizeof buf, "mfr1.%" PRIx64 ".%016" PRIx64, id, check_of(0xffu, id, 0));
    return mf_xstrdup(buf);
}

bool mf_request_state_check(const char *state)
{
    uint64_t id, mac;
    int used = 0;
    return sscanf(state, "mfr1.%" SCNx64 ".%16" SCNx64 "%n", &id, &mac, &used) == 2 && state[used] == '\0' &&
           check_of(0xffu, id, 0) == mac;
}
