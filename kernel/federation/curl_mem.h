/* libcurl's memory (curl_mem.c): set for the whole process before any libcurl call. */
#ifndef MF_CURL_MEM_H
#define MF_CURL_MEM_H

/* curl_global_init with the gateway's allocation functions; 0 or -1. Each plugin's own
 * curl_global_init after it only counts. */
int mf_curl_global_init(void);
/* The matching curl_global_cleanup, and the blocks kept freed. */
void mf_curl_global_cleanup(void);

#endif
