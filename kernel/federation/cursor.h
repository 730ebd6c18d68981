/* Opaque tokens the gateway mints: list cursors and requestState (cursor.c). */
#ifndef MF_CURSOR_H
#define MF_CURSOR_H

#include "catalog.h"

/* requestState tokens for input-required exchanges the gateway holds */
char *mf_request_state_mint(uint64_t id);
bool mf_request_state_check(const char *state);
char *mf_cursor_mint(mf_kind k, uint64_t generation, size_t offset);
/* 0 and *offset, or -1 with why set */
int mf_cursor_check(const char *cursor, mf_kind k, uint64_t generation, size_t *offset, const char **why);

#endif
