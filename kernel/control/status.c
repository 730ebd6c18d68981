/* /status.json: the admin commands' own answers, side by side, so the page shows exactly
 * what an operator reads on the admin socket and nothing is computed a second time. */
#include "build-config.h"
#include "status.h"
#include "admin.h"

#include <stdlib.h>
#include <string.h>

char *mf_status_json(size_t *len)
{
    static const char *const parts[] = {"status", "providers", "targets", "supervision", "plugins", "policy", "cache"};
    json_t *doc = json_pack("{s:I}", "time_ms", (json_int_t)mf_now());
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        json_t *body = mf_admin_query(parts[i]);
        json_object_set_new(doc, parts[i], body ? body : json_null());
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        abort();   /* out of memory, as mf_xmalloc does */
    *len = strlen(text);
    return text;
}
