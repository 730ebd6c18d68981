/* JSON-RPC 2.0: parsing, classification and building answers. */
#include "build-config.h"
#include "kernel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *mf_rpc_parse(const char *buf, size_t len, json_t **error_reply)
{
    json_error_t jerr;
    /* JSON_ALLOW_NUL keeps "\u0000" inside strings instead of refusing the message;
     * JSON_DECODE_ANY lets valid JSON that is no object reach classify (-32600) */
    json_t *v = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (!v && error_reply)
        *error_reply = mf_rpc_errorf(NULL, MF_RPC_PARSE_ERROR, "Parse error: %s (at byte %d)",
                                     jerr.text, jerr.position);
    return v;
}

/* A real that is a whole number a long long holds: the range is checked before the cast,
 * which is undefined beyond it (an id of 1e56). */
static bool whole(double d)
{
    return d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(long long)d;
}

static bool valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id) || (json_is_real(id) && whole(json_real_value(id)));
}

mf_rpc_kind mf_rpc_classify(const json_t *msg, json_t **error_reply)
{
    const char *why = NULL;
    json_t *id = NULL;
    if (!json_is_object(msg)) {
        why = json_is_array(msg) ? "batches are not supported" : "a message must be a JSON object";
        goto bad;
    }
    id = json_object_get(msg, "id");
    if (id && !valid_id(id))
        id = NULL;   /* never echo an id of the wrong type */
    const char *v = json_string_value(json_object_get(msg, "jsonrpc"));
    if (!v || strcmp(v, "2.0") != 0) {
        why = "\"jsonrpc\" must be \"2.0\"";
        goto bad;
    }
    json_t *method = json_object_get(msg, "method");
    json_t *rawid = json_object_get(msg, "id");
    if (method) {
        if (!json_is_string(method) || json_string_length(method) == 0) {
            why = "\"method\" must be a non-empty string";
            goto bad;
        }
        json_t *params = json_object_get(msg, "params");
        if (params && !json_is_object(params) && !json_is_array(params)) {
            why = "\"params\" must be an object";
            goto bad;
        }
        if (!rawid)
            return MF_RPC_NOTIFICATION;
        if (!valid_id(rawid)) {
            why = "\"id\" must be a string or an integer";
            goto bad;
        }
        return MF_RPC_REQUEST;
    }
    bool has_result = json_object_get(msg, "result") != NULL;
    json_t *error = json_object_get(msg, "error");
    if (!rawid && !has_result && json_is_object(error))
        return MF_RPC_RESPONSE;   /* an error about a request whose id could not be read */
    if (rawid && (has_result != (error != NULL))) {
        if (error && !json_is_object(error)) {
            why = "\"error\" must be an object";
            goto bad;
        }
        return MF_RPC_RESPONSE;
    }
    why = rawid ? "a response needs exactly one of \"result\" and \"error\""
                : "a request needs \"method\"";
    if (rawid && !has_result && !error) {
        /* could be a request missing its method: answer it */
        why = "a request needs \"method\"";
    }
bad:
    if (error_reply)
        *error_reply = mf_rpc_errorf(id, MF_RPC_INVALID_REQUEST, "Invalid Request: %s", why);
    return MF_RPC_BAD;
}

json_t *mf_rpc_result(json_t *id, json_t *result)
{
    json_t *r = json_object();
    json_object_set_new(r, "jsonrpc", json_string("2.0"));
    json_object_set(r, "id", id ? id : json_null());
    json_object_set_new(r, "result", result ? result : json_object());
    return r;
}

json_t *mf_rpc_error(json_t *id, int code, const char *message, json_t *data)
{
    json_t *e = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (data)
        json_object_set_new(e, "data", data);
    json_t *r = json_object();
    json_object_set_new(r, "jsonrpc", json_string("2.0"));
    json_object_set(r, "id", id ? id : json_null());
    json_object_set_new(r, "error", e);
    return r;
}

json_t *mf_rpc_errorf(json_t *id, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return mf_rpc_error(id, code, text, NULL);
}

json_t *mf_rpc_error_body(int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return json_pack("{s:i,s:s}", "code", code, "message", text);
}

const char *mf_rpc_method(const json_t *msg)
{
    return json_string_value(json_object_get(msg, "method"));
}

const char *mf_rpc_envelope_version(const json_t *msg)
{
    json_t *meta = json_object_get(json_object_get(msg, "params"), "_meta");
    return json_string_value(json_object_get(meta, MF_META_PROTOCOL_VERSION));
}

json_t *mf_client_capabilities(void)
{
    /* everything a client of the gateway may support: each request an upstream makes is
     * checked against the client it goes to (elicit.c) */
    return json_pack("{s:{s:{}},s:{s:{},s:{}},s:{s:b}}", "sampling", "tools", "elicitation", "form", "url",
                     "roots", "listChanged", 1);
}

struct mf_idmap_entry {
    uint64_t key;
    json_t *id;
    mf_idmap_entry *next;
};

uint64_t mf_idmap_put(mf_idmap *m, json_t *id)
{
    mf_idmap_entry *e = mf_xmalloc(sizeof *e);
    e->key = ++m->next;
    e->id = json_incref(id);
    e->next = m->head;
    m->head = e;
    return e->key;
}

json_t *mf_idmap_take(mf_idmap *m, uint64_t key)
{
    for (mf_idmap_entry **pp = &m->head; *pp; pp = &(*pp)->next)
        if ((*pp)->key == key) {
            mf_idmap_entry *e = *pp;
            json_t *id = e->id;
            *pp = e->next;
            free(e);
            return id;
        }
    return NULL;
}

bool mf_idmap_key_of(const mf_idmap *m, const json_t *id, uint64_t *key)
{
    for (mf_idmap_entry *e = m->head; e; e = e->next)
        if (json_equal(e->id, id)) {
            *key = e->key;
            return true;
        }
    return false;
}

bool mf_idmap_has(const mf_idmap *m, uint64_t key)
{
    for (mf_idmap_entry *e = m->head; e; e = e->next)
        if (e->key == key)
            return true;
    return false;
}

void mf_idmap_put_at(mf_idmap *m, uint64_t key, json_t *id)
{
    mf_idmap_entry *e = mf_xmalloc(sizeof *e);
    e->key = key;
    e->id = json_incref(id);
    e->next = m->head;
    m->head = e;
    if (key > m->next)
        m->next = key;
}

json_t *mf_idmap_save(const mf_idmap *m)
{
    json_t *list = json_array();
    for (mf_idmap_entry *e = m->head; e; e = e->next)
        json_array_append_new(list, json_pack("[I,O]", (json_int_t)e->key, e->id));
    return list;
}

int mf_idmap_adopt(mf_idmap *m, const json_t *saved)
{
    if (!json_is_array(saved))
        return -1;
    size_t i;
    json_t *x;
    json_array_foreach(saved, i, x) {
        json_t *key = json_array_get(x, 0), *id = json_array_get(x, 1);
        if (json_array_size(x) != 2 || !json_is_integer(key) || json_integer_value(key) <= 0)
            return -1;
        mf_idmap_put_at(m, (uint64_t)json_integer_value(key), id);
    }
    return 0;
}

void mf_idmap_clear(mf_idmap *m)
{
    while (m->head) {
        mf_idmap_entry *e = m->head;
        m->head = e->next;
        json_decref(e->id);
        free(e);
    }
}
