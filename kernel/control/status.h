/* The status page the metrics endpoint serves: /status (one self-contained HTML page, which
 * polls /status.json) and /status.json (what the admin commands show, in one document). */
#ifndef MF_STATUS_H
#define MF_STATUS_H

#include <stddef.h>

/* status_page.S: kernel/control/status_page.html */
extern const char mf_status_page[];
extern const unsigned mf_status_page_len;

/* The document /status.json serves (malloc'd, *len bytes). */
char *mf_status_json(size_t *len);

#endif
