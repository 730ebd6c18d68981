/* Pieces of the state one generation of the stdio plugin hands to the next (hot swap):
 * JSON values that mf_state_pack turns into msgpack. Whatever crosses a generation is a
 * value or a duplicated file descriptor, never a pointer. */
#ifndef STDIO_SWAPSTATE_H
#define STDIO_SWAPSTATE_H

#include <mcpfed/mcpfed.h>

/* Bumped when the shape of a state changes; a successor refuses a state it cannot read. */
#define STDIO_STATE_VERSION 1

/* 64-bit unsigned values (endpoints, correlation ids, traces) travel as their bits in a
 * signed integer. */
json_t *swap_u64_new(uint64_t v);
uint64_t swap_u64(const json_t *obj, const char *key);

/* An unfinished line of a framed stream: its bytes, or how much of an oversized one has
 * been dropped so far. load is for a reader just made by mf_lines_init. */
json_t *swap_lines_save(const mf_lines *l);
void swap_lines_load(mf_lines *l, const json_t *saved);

/* A message waiting in a queue: its header and its JSON as text. load readdresses it to
 * self; NULL when saved is not such a message. */
json_t *swap_msg_save(const mf_msg *m);
mf_msg *swap_msg_load(const json_t *saved, mf_ep self);


/* fd (one of 0, 1, 2) no longer serves: point it at /dev/null, so no later open() takes
 * it and writes to stdout cannot reach the client. */
void swap_null_stdio(int fd);

#endif
