/* Lua values to JSON. */
#ifndef MF_LUAJSON_H
#define MF_LUAJSON_H

#include "kernel.h"
#include <lua.h>

/* Convert the value at idx. Lists become arrays, tables with names objects, an empty
 * table an empty array. Functions and other non-data values are errors naming the key. */
json_t *mf_lua_to_json(lua_State *L, int idx, mf_error *err);

#endif
