/* For the fuzz targets that talk to the code under test over real sockets on the one
 * loop: a client socket, and running the loop until nothing more happens. */
#ifndef MF_FUZZ_NET_H
#define MF_FUZZ_NET_H

#include "kernel.h"

#include <stdbool.h>
#include <stddef.h>

/* A connected, non-blocking client socket to 127.0.0.1:port (or the unix socket path),
 * that resets the connection when closed (no TIME_WAIT piles up over millions of runs);
 * -1 on failure. */
int fuzz_connect_tcp(int port);
int fuzz_connect_unix(const char *path);
/* The port a uv_tcp_t listens on. */
int fuzz_port_of(const uv_tcp_t *t);

/* Collected output of a client socket. */
typedef struct fuzz_out {
    char *buf;
    size_t len, cap;
    bool eof;
} fuzz_out;

/* Write all of data to fd, running the loop while the socket is full. -1 when the peer
 * is gone. */
int fuzz_write_all(int fd, const char *data, size_t len);
/* Run the loop (never blocking) until it has nothing ready and fd (when >= 0) has nothing
 * more to read; what is read is appended to out (when given). */
void fuzz_settle(int fd, fuzz_out *out);
/* Run the loop until done(ud) or ms of real time; returns done's last answer. */
bool fuzz_run_until(bool (*done)(void *), void *ud, uint64_t ms);
void fuzz_out_free(fuzz_out *out);

#endif
