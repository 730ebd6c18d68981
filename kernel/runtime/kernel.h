/* Kernel-internal declarations shared by the files of kernel/. Plugins never see this. */
#ifndef MF_KERNEL_H
#define MF_KERNEL_H

#include <mcpfed/mcpfed.h>

#define MF_UNUSED(x) (void)(x)

/* alloc.c: jansson and libuv allocate through mf_xmalloc and friends; before any use
 * of either. */
int mf_alloc_init(void);
/* Blocks of one size kept for reuse rather than given back to malloc: records made and
 * ended on every call (spans, observations, pending requests) cost no allocation. */
enum { MF_SPARE_MAX = 64 };
typedef struct mf_spare {
    void *blocks[MF_SPARE_MAX];
    unsigned n;
} mf_spare;
/* A kept block, or a new one, of size bytes; not cleared. */
void *mf_spare_take(mf_spare *sp, size_t size);
/* Kept, or freed once MF_SPARE_MAX are. */
void mf_spare_give(mf_spare *sp, void *block);
void mf_spare_clear(mf_spare *sp);
/* Which malloc the process has: "jemalloc <version>", or "libc". */
const char *mf_allocator(void);

/* loop.c */
int mf_loop_init(void);
void mf_loop_run(void);
void mf_loop_close(void);
/* The calling thread's CPU time, in ns: a system call (the vDSO serves no thread's clock),
 * for what is measured rarely, not per call. */
uint64_t mf_thread_cpu_ns(void);

/* json_text.c: the length of v's compact JSON text (mf_rpc_dump's); 0 for NULL or text
 * that cannot be written. */
size_t mf_json_size(const json_t *v);

/* log.c */
void mf_log_set_level(mf_log_level level);
int mf_log_level_parse(const char *s, mf_log_level *out);

/* msg.c: what the kernel keeps with a message, after the part plugins see. Every
 * message is made by mf_msg_new, so every mf_msg is the first member of one of these. */
typedef struct mf_msg_priv {
    mf_msg pub;
    mf_msg *next;          /* in a queue */
    uint32_t verb;         /* a control message's verb, an id its receiver defines */
    char *ctl;             /* and its fields, a msgpack map */
    size_t ctl_len;
    void *ctl_unpacked;
} mf_msg_priv;

static inline mf_msg_priv *mf_msg_priv_of(mf_msg *m) { return (mf_msg_priv *)m; }
#define MF_MSG_NEXT(m) (mf_msg_priv_of(m)->next)

/* Control messages between parts of the kernel: a typed verb and fields. fmt lists them
 * as "key:type" words, types s (const char *), i (int64_t), b (bool), e.g.
 * mf_ctl_new(src, dst, MF_CTL_X, "reason:s pid:i", r, p). */
mf_msg *mf_ctl_new(mf_ep src, mf_ep dst, uint32_t verb, const char *fmt, ...);
/* Its verb; 0 for a message that is no control message. */
uint32_t mf_ctl_verb(mf_msg *m);
/* Read a field: a string (NULL if absent or not a string; valid as long as m lives), an
 * integer or a boolean (def if absent). */
const char *mf_ctl_str(mf_msg *m, const char *key);
int64_t mf_ctl_int(mf_msg *m, const char *key, int64_t def);
bool mf_ctl_bool(mf_msg *m, const char *key, bool def);

/* endpoint.c: named mailboxes. Plugins get theirs through their instance. */
typedef void (*mf_handler)(void *ud, mf_msg *m);
/* Open an endpoint. name may be NULL (anonymous); a taken name gives 0. */
mf_ep mf_endpoint_open(const char *name, mf_handler fn, void *ud);
/* Close it: later sends to it fail; messages already queued for it are bounced
 * (requests answered with an error to their sender, the rest dropped). */
void mf_endpoint_close(mf_ep ep);
mf_ep mf_endpoint_find(const char *name);
const char *mf_endpoint_name(mf_ep ep);
bool mf_endpoint_alive(mf_ep ep);
int mf_endpoints_init(void);
void mf_endpoints_close(void);
size_t mf_endpoints_queued(void);
/* Hold: messages for ep wait, in order, until it is released (hold false); they then go
 * ahead of anything sent since. */
void mf_endpoint_hold(mf_ep ep, bool hold);
/* Close ep, but for ttl_ms deliver what is sent to it (or was held for it) to `to`. */
void mf_endpoint_redirect(mf_ep ep, mf_ep to, uint64_t ttl_ms);

/* msg.c */
void mf_msg_ctl_release(mf_msg *m);

#endif
