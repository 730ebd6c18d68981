/* Lua values to JSON, for the configuration (and anything else Lua hands the kernel). */
#include "build-config.h"
#include "luajson.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 32

static void path_push(char *path, size_t cap, size_t *len, lua_State *L, int keyidx)
{
    size_t n = *len;
    if (lua_type(L, keyidx) == LUA_TNUMBER)
        n += (size_t)snprintf(path + n, n < cap ? cap - n : 0, "[%lld]",
                              (long long)lua_tointeger(L, keyidx));
    else
        n += (size_t)snprintf(path + n, n < cap ? cap - n : 0, "%s%s", n ? "." : "",
                              lua_tostring(L, keyidx));
    *len = n < cap ? n : cap - 1;
}

static json_t *convert(lua_State *L, int idx, char *path, size_t cap, size_t plen, int depth,
                       mf_error *err);

/* Is the table at idx a sequence 1..n (n >= 0), with nothing else in it? */
static int table_shape(lua_State *L, int idx, size_t *n, const char *path, mf_error *err)
{
    size_t count = 0, strings = 0, ints = 0;
    lua_Integer maxi = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        if (lua_type(L, -2) == LUA_TSTRING) {
            strings++;
        } else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
            ints++;
            if (lua_tointeger(L, -2) > maxi)
                maxi = lua_tointeger(L, -2);
        } else {
            lua_pop(L, 2);
            mf_error_set(err, -1, "%s: table keys must be names or list positions", *path ? path : "(top)");
            return -1;
        }
        lua_pop(L, 1);
    }
    if (strings && ints) {
        mf_error_set(err, -1, "%s: a table is either a list or a set of named keys, not both",
                     *path ? path : "(top)");
        return -1;
    }
    if (ints && (size_t)maxi != ints) {
        mf_error_set(err, -1, "%s: a list must not have holes", *path ? path : "(top)");
        return -1;
    }
    *n = count;
    return strings ? 1 : 0;   /* 1: object, 0: array */
}

static json_t *convert(lua_State *L, int idx, char *path, size_t cap, size_t plen, int depth,
                       mf_error *err)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer(lua_tointeger(L, idx));
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        json_t *j = json_stringn(s, n);
        if (!j)
            mf_error_set(err, -1, "%s: string is not valid UTF-8", *path ? path : "(top)");
        return j;
    }
    case LUA_TTABLE: {
        if (depth >= MAX_DEPTH) {
            mf_error_set(err, -1, "%s: nested too deeply (a table that contains itself?)", path);
            return NULL;
        }
        if (!lua_checkstack(L, 4)) {
            mf_error_set(err, -1, "%s: nested too deeply", path);
            return NULL;
        }
        size_t n;
        int shape = table_shape(L, idx, &n, path, err);
        if (shape < 0)
            return NULL;
        json_t *out = shape ? json_object() : json_array();
        if (shape == 0) {
            for (size_t i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i);
                size_t len = plen;
                lua_pushinteger(L, (lua_Integer)i);
                path_push(path, cap, &len, L, -1);
                lua_pop(L, 1);
                json_t *v = convert(L, -1, path, cap, len, depth + 1, err);
                path[plen] = '\0';
                lua_pop(L, 1);
                if (!v) {
                    json_decref(out);
                    return NULL;
                }
                json_array_append_new(out, v);
            }
            return out;
        }
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            size_t len = plen;
            path_push(path, cap, &len, L, -2);
            json_t *v = convert(L, -1, path, cap, len, depth + 1, err);
            if (!v) {
                lua_pop(L, 2);
                json_decref(out);
                return NULL;
            }
            path[plen] = '\0';
            json_object_set_new(out, lua_tostring(L, -2), v);
            lua_pop(L, 1);
        }
        return out;
    }
    default:
        mf_error_set(err, -1, "%s: a %s is not a configuration value", *path ? path : "(top)",
                     luaL_typename(L, idx));
        return NULL;
    }
}

json_t *mf_lua_to_json(lua_State *L, int idx, mf_error *err)
{
    char path[512] = "";
    return convert(L, idx, path, sizeof path, 0, 0, err);
}
