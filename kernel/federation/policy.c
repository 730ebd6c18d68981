/* The routing policy, in Lua.
 *
 * The policy file returns a table with route(request, candidates), which returns the
 * candidate ids in order of preference ({3, 1}), or a table { targets = {...},
 * idempotent = true }, or nil and a reason to refuse the call.
 *
 * It runs in a sandbox: no io, no os but time, clock and date, no require, load or
 * dofile, no debug; each decision has an instruction budget and a time budget, and the
 * state a memory cap, and an overrun is an error of that decision, counted, never a stall.
 * Counting instructions alone is not enough: one instruction can be C work over megabytes
 * (a comparison, a concatenation, string.rep or upper, table.concat), so the clock is read
 * every few instructions and at each large allocation. A new file (saved
 * in place, or replaced whole as editors do: the directory is watched) is loaded into a
 * fresh state and must pass a self-check before it replaces the old one; a broken edit is
 * logged with its file and line and the old policy keeps deciding. */
#include "build-config.h"
#include "policy.h"
#include "view.h"
#include "federation.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lstate {
    lua_State *L;
    size_t used, cap;          /* bytes, for the memory cap */
    uint64_t budget;           /* instructions per decision */
    uint64_t spent;            /* of this decision: instructions counted, plus what pattern
                                * matching was charged */
    uint64_t time_ns;          /* per decision */
    uint64_t deadline;         /* uv_hrtime() by which the running decision must end; 0 when
                                * none runs */
    uint64_t cpu_start;        /* the loop thread's CPU time when it began */
    bool late;                 /* the running decision went past its deadline */
    int route_ref;
    int visible_ref;           /* visible(request, item), or LUA_NOREF */
    int item_ref;              /* visible's item table, filled anew for each item */
    mf_policy_request visible_req;   /* the request of the items being decided (strings borrowed) */
    bool visible_req_due;      /* not in the request table yet */
    int rate_ref;              /* the optional rate(request), or LUA_NOREF */
    int request_ref;           /* the request table, filled anew for each decision */
    int targets_ref;           /* target name -> its candidate table, kept between decisions */
    int identities_ref;        /* identity generation -> its table, kept between decisions */
    int nidentities;           /* entries in it, bounded by MAX_IDENTITIES */
} lstate;

/* Identity tables kept at once; past it the cache starts over. */
#define MAX_IDENTITIES 4096

#define POL (mf_fed.policy)

static void on_overrun(lua_State *L, lua_Debug *ar);

/* Whether the running decision is past its deadline (then it is late for good). What
 * counts is the CPU time it took, so that a busy machine taking the processor away does not
 * end a decision; the cheap wall clock is read first, as no less time than that has passed. */
static bool past_deadline(lstate *s)
{
    if (!s->late && s->deadline && uv_hrtime() >= s->deadline && mf_thread_cpu_ns() - s->cpu_start >= s->time_ns)
        s->late = true;
    return s->late;
}

/* An allocation at least this large is C work over a long string or table: the clock is
 * read then, besides every HOOK_STEP instructions. */
#define BIG_ALLOC 65536

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lstate *s = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        s->used -= old;
        return NULL;
    }
    if (nsize > old && s->used + (nsize - old) > s->cap)
        return NULL;   /* Lua raises a memory error */
    if (nsize >= old + BIG_ALLOC && past_deadline(s)) {
        lua_sethook(s->L, on_overrun, LUA_MASKCOUNT, 1);   /* and the error sticks */
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        s->used = s->used - old + nsize;
    return p;
}

/* The count hook fires every HOOK_STEP instructions (or once, for a smaller budget), adds
 * them to what the decision spent and reads the clock. Small, because one instruction may
 * handle megabytes. */
#define HOOK_STEP 100

static int hook_step(const lstate *s)
{
    return (int)(s->budget < HOOK_STEP ? s->budget : HOOK_STEP);
}

/* From now on every instruction fails, so that a pcall in the policy cannot catch the
 * error and go on: the decision ends. */
static int overrun(lua_State *L, const lstate *s)
{
    lua_sethook(L, on_overrun, LUA_MASKCOUNT, 1);
    if (s->late)
        return luaL_error(L, "time budget exceeded (%d ms)", (int)(s->time_ns / 1000000));
    return luaL_error(L, "instruction budget exceeded (%d)", (int)s->budget);
}

static void on_overrun(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    void *ud;
    lua_getallocf(L, &ud);
    overrun(L, ud);
}

static void on_budget(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    void *ud;
    lua_getallocf(L, &ud);
    lstate *s = ud;
    s->spent += (uint64_t)hook_step(s);
    if (s->spent >= s->budget || past_deadline(s))
        overrun(L, s);
}

/* No less than the loop thread's CPU time at wall (uv_hrtime), for a decision's start:
 * reading that clock is a system call (the vDSO serves no thread's clock), which every
 * routed call made. A reading at most a tenth of the budget old serves instead, plus the
 * wall time since, which the thread's CPU time cannot have outrun: a decision is then never
 * found late before its budget is spent, and at most a tenth of it after. */
static uint64_t cpu_no_less(uint64_t wall, uint64_t time_ns)
{
    static uint64_t cpu_read, wall_read;
    if (!wall_read || wall - wall_read > time_ns / 10) {
        wall_read = wall;   /* read before the CPU clock: no CPU time was spent after it unseen */
        cpu_read = mf_thread_cpu_ns();
    }
    return cpu_read + (wall - wall_read);
}

static void arm_budget(lstate *s)
{
    s->spent = 0;
    s->late = false;
    uint64_t now = uv_hrtime();
    s->deadline = now + s->time_ns;
    s->cpu_start = cpu_no_less(now, s->time_ns);
    lua_sethook(s->L, on_budget, LUA_MASKCOUNT, hook_step(s));
}

static void disarm_budget(lstate *s)
{
    lua_sethook(s->L, NULL, 0, 0);
    s->deadline = 0;
}

/* Pattern matching runs in C, where no hook fires, and backtracks: a short pattern can
 * take longer than any budget ("(.-)(.-)(.-)x" over a long string). So each call is
 * charged its worst case before it runs: (n+1)^k, n the subject's length and k the
 * pattern's repetitions (*, +, -), balances (%b) and back-references (%1-%9), plus one
 * for the start positions an unanchored search tries. A call the rest of the budget
 * cannot pay for is an overrun. */
static uint64_t pattern_cost(size_t n, const char *p, size_t plen, bool anchorable, bool plain)
{
    unsigned k = 0;
    size_t i = 0;
    bool specials = false;
    if (anchorable && plen > 0 && p[0] == '^')
        i = 1;
    else
        k = 1;
    for (; i < plen; i++) {
        char c = p[i];
        if (c == '%' && i + 1 < plen) {
            char d = p[++i];
            specials = true;
            if (d == 'b' || (d >= '1' && d <= '9'))
                k++;
        } else if (c == '[') {   /* a set: skip to its end; its contents repeat nothing */
            specials = true;
            if (i + 1 < plen && p[i + 1] == '^')
                i++;
            if (i + 1 < plen && p[i + 1] == ']')
                i++;
            while (i + 1 < plen && p[++i] != ']')
                if (p[i] == '%')
                    i++;
        } else if (c == '*' || c == '+' || c == '-') {
            specials = true;
            k++;
        } else if (strchr("^$()?.", c)) {
            specials = true;
        }
    }
    if (plain || !specials)
        return (uint64_t)n + 1;   /* a plain search */
    uint64_t cost = 1, per = (uint64_t)n + 1;
    for (unsigned j = 0; j < k; j++) {
        if (cost > UINT64_MAX / per)
            return UINT64_MAX;
        cost *= per;
    }
    return cost;
}

/* string.find, match, gmatch and gsub, charged before they run; the original is upvalue
 * 1, which of them upvalue 2. */
enum { PAT_FIND, PAT_MATCH, PAT_GMATCH, PAT_GSUB };

static int charged_pattern(lua_State *L)
{
    size_t n, plen;
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
    luaL_checklstring(L, 1, &n);
    const char *pat = luaL_checklstring(L, 2, &plen);
    if (kind != PAT_GSUB) {   /* where the search starts (gsub's third is its replacement) */
        lua_Integer init = luaL_optinteger(L, 3, 1);
        if (init < 0)
            init = (lua_Integer)n + init + 1;
        if (init > 1)
            n = (size_t)(init - 1) <= n ? n - (size_t)(init - 1) : 0;
    }
    /* gmatch tries every position whatever the pattern starts with */
    uint64_t cost = pattern_cost(n, pat, plen, kind != PAT_GMATCH, kind == PAT_FIND && lua_toboolean(L, 4));
    void *ud;
    lua_getallocf(L, &ud);
    lstate *s = ud;
    if (past_deadline(s))
        return overrun(L, s);
    if (s->spent >= s->budget || cost >= s->budget - s->spent) {
        lua_sethook(L, on_overrun, LUA_MASKCOUNT, 1);
        return luaL_error(L, "instruction budget exceeded (%d): a pattern search over %d bytes may cost more than is left",
                          (int)s->budget, (int)n);
    }
    s->spent += cost;
    int args = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, args, LUA_MULTRET);
    return lua_gettop(L);
}

static void charge_patterns(lua_State *L)
{
    static const char *const names[] = {[PAT_FIND] = "find", [PAT_MATCH] = "match", [PAT_GMATCH] = "gmatch",
                                        [PAT_GSUB] = "gsub"};
    lua_getglobal(L, LUA_STRLIBNAME);   /* also the strings' metatable's __index */
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        lua_getfield(L, -1, names[i]);
        lua_pushinteger(L, i);
        lua_pushcclosure(L, charged_pattern, 2);
        lua_setfield(L, -2, names[i]);
    }
    lua_pop(L, 1);
}

/* setmetatable without finalizers: Lua runs __gc with hooks off, out of the budget's reach */
static int safe_setmetatable(lua_State *L)
{
    if (lua_istable(L, 2)) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "finalizers (__gc) are not allowed in a routing policy");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

static int lua_hash(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    lua_pushinteger(L, (lua_Integer)h);
    return 1;
}

static int lua_log(lua_State *L)
{
    mf_info("policy", "log", "text=\"%s\"", mf_log_esc(luaL_checkstring(L, 1), (size_t)-1));
    return 0;
}

/* Only what a routing decision needs. */
static void sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base}, {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_OSLIBNAME, luaopen_os}};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    static const char *const unsafe[] = {"dofile", "loadfile", "load", "require", "collectgarbage", "print", NULL};
    for (const char *const *u = unsafe; *u; u++) {
        lua_pushnil(L);
        lua_setglobal(L, *u);
    }
    /* os keeps the clock, nothing that touches the system */
    lua_getglobal(L, "os");
    lua_newtable(L);
    static const char *const keep[] = {"time", "clock", "date", "difftime", NULL};
    for (const char *const *k = keep; *k; k++) {
        lua_getfield(L, -2, *k);
        lua_setfield(L, -2, *k);
    }
    lua_setglobal(L, "os");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, lua_hash);
    lua_setfield(L, -2, "hash");
    lua_pushcfunction(L, lua_log);
    lua_setfield(L, -2, "log");
    lua_setglobal(L, "mcpfed");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    charge_patterns(L);
}

static void close_state(lstate *s)
{
    if (!s)
        return;
    lua_close(s->L);
    free(s);
}

/* --- building the arguments ---------------------------------------------------------- */

/* Tables are reused from one decision to the next (building them anew cost more than
 * the decision itself): every field is set each time, a missing string as nil. */
static void set_str(lua_State *L, const char *k, const char *v)
{
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, bool v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

/* A JSON value as a Lua value (objects and arrays as tables), at most depth levels deep. */
static void push_json(lua_State *L, const json_t *v, int depth)
{
    if (!lua_checkstack(L, 3)) {
        lua_pushnil(L);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); return;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); return;
    case JSON_TRUE: lua_pushboolean(L, 1); return;
    case JSON_FALSE: lua_pushboolean(L, 0); return;
    case JSON_ARRAY:
        if (depth > 0) {
            lua_createtable(L, (int)json_array_size(v), 0);
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) {
                push_json(L, x, depth - 1);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
            return;
        }
        break;
    case JSON_OBJECT:
        if (depth > 0) {
            lua_createtable(L, 0, (int)json_object_size(v));
            const char *k;
            json_t *x;
            json_object_foreach((json_t *)v, k, x) {
                push_json(L, x, depth - 1);
                lua_setfield(L, -2, k);
            }
            return;
        }
        break;
    default: break;
    }
    lua_pushnil(L);
}

/* request.identity: {subject, method, scopes, claims}, made once per identity generation
 * (a session's identity changes rarely, decisions are many). */
static void push_identity(lstate *s, const mf_policy_request *r)
{
    lua_State *L = s->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->identities_ref);
    lua_Integer gen = r->identity ? (lua_Integer)r->identity_gen : 0;
    if (lua_rawgeti(L, -1, gen) == LUA_TTABLE) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    if (s->nidentities >= MAX_IDENTITIES) {
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, s->identities_ref);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        s->identities_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        s->nidentities = 0;
    }
    const json_t *id = r->identity;
    const char *sub = json_string_value(json_object_get(id, "subject"));
    const char *how = json_string_value(json_object_get(id, "method"));
    const json_t *scopes = json_object_get(id, "scopes");
    const json_t *claims = json_object_get(id, "claims");
    lua_createtable(L, 0, 4);
    lua_pushstring(L, sub ? sub : "anonymous");
    lua_setfield(L, -2, "subject");
    lua_pushstring(L, how ? how : "anonymous");
    lua_setfield(L, -2, "method");
    if (json_is_array(scopes))
        push_json(L, scopes, 1);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "scopes");
    if (json_is_object(claims))
        push_json(L, claims, 16);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "claims");
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, gen);
    s->nidentities++;
    lua_remove(L, -2);
}

static void push_request(lstate *s, const mf_policy_request *r)
{
    lua_State *L = s->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->request_ref);
    set_str(L, "method", r->method);
    set_str(L, "name", r->name);
    set_str(L, "upstream", r->upstream);
    set_str(L, "provider", r->provider);
    set_str(L, "protocol", r->protocol);
    set_int(L, "session", (lua_Integer)r->session);
    set_int(L, "args_size", (lua_Integer)r->args_size);
    lua_getfield(L, -1, "client");
    set_str(L, "name", r->client);
    set_str(L, "version", r->client_version);
    lua_pop(L, 1);
    push_identity(s, r);
    lua_setfield(L, -2, "identity");
}

static void push_candidates(lstate *s, const mf_policy_candidate *c, int n)
{
    lua_State *L = s->L;
    lua_createtable(L, n, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->targets_ref);
    for (int i = 0; i < n; i++) {
        if (lua_getfield(L, -1, c[i].target) != LUA_TTABLE) {
            /* first seen: the fields that never change */
            lua_pop(L, 1);
            lua_createtable(L, 0, 14);
            set_str(L, "provider", c[i].provider);
            set_str(L, "target", c[i].target);
            set_num(L, "weight", c[i].weight);
            lua_createtable(L, (int)json_array_size(c[i].tags), 0);
            size_t k;
            json_t *tag;
            json_array_foreach(c[i].tags, k, tag) {
                lua_pushstring(L, json_string_value(tag));
                lua_rawseti(L, -2, (lua_Integer)k + 1);
            }
            lua_setfield(L, -2, "tags");
            lua_pushvalue(L, -1);
            lua_setfield(L, -3, c[i].target);
        }
        set_int(L, "id", c[i].id);
        set_bool(L, "healthy", c[i].healthy);
        set_bool(L, "draining", c[i].draining);
        set_bool(L, "fallback", c[i].fallback);
        set_str(L, "breaker", c[i].breaker);
        set_int(L, "inflight", c[i].inflight);
        set_num(L, "latency_ms", c[i].latency_ms);
        set_num(L, "p99_ms", c[i].p99_ms);
        set_num(L, "error_rate", c[i].error_rate);
        lua_rawseti(L, -3, i + 1);
    }
    lua_pop(L, 1);
}

/* Read the answer at the top of the stack (and the reason under it for a refusal). */
static int read_decision(lua_State *L, int n, mf_policy_decision *out, char *why, size_t cap)
{
    int top = lua_gettop(L);
    if (lua_isnil(L, top - 1) || (lua_isboolean(L, top - 1) && !lua_toboolean(L, top - 1))) {
        out->refused = true;
        const char *r = lua_tostring(L, top);
        snprintf(out->reason, sizeof out->reason, "%s", r ? r : "refused by the routing policy");
        return 0;
    }
    int t = top - 1;
    if (!lua_istable(L, t)) {
        snprintf(why, cap, "route must return a list of candidate ids, or nil and a reason");
        return -1;
    }
    if (lua_getfield(L, t, "targets") == LUA_TTABLE) {
        lua_getfield(L, t, "idempotent");
        out->idempotent = lua_toboolean(L, -1);
        lua_pop(L, 1);
        t = lua_gettop(L);
    } else {
        lua_pop(L, 1);
    }
    bool seen[MF_POLICY_MAX + 1] = {false};
    lua_Integer len = luaL_len(L, t);
    for (lua_Integer i = 1; i <= len && out->n < MF_POLICY_MAX; i++) {
        lua_rawgeti(L, t, i);
        int isnum;
        lua_Integer id = lua_tointegerx(L, -1, &isnum);
        lua_pop(L, 1);
        if (!isnum || id < 1 || id > n) {
            snprintf(why, cap, "route returned %s at position %lld: not a candidate id",
                     isnum ? "an id out of range" : "something else", (long long)i);
            return -1;
        }
        if (!seen[id]) {   /* a candidate once, at its first place */
            seen[id] = true;
            out->order[out->n++] = (int)id;
        }
    }
    return 0;
}

/* Call the function under nargs arguments on the stack within the budgets; 0, or -1 with
 * why (after what) and the overrun counted, the stack emptied. */
static int call_budgeted(lstate *s, int nargs, int nresults, const char *what, char *why, size_t cap)
{
    lua_State *L = s->L;
    arm_budget(s);
    int rc = lua_pcall(L, nargs, nresults, 0);
    disarm_budget(s);
    if (rc == LUA_OK)
        return 0;
    const char *e = lua_tostring(L, -1);
    snprintf(why, cap, "%s%s", what, e ? e : "error");
    if (s->late) {   /* whatever error it ended in (an allocation refused, say) */
        snprintf(why, cap, "%stime budget exceeded (%d ms)", what, (int)(s->time_ns / 1000000));
        POL.stats.time_overruns++;
    } else if (rc == LUA_ERRMEM) {
        POL.stats.memory_overruns++;
    } else if (e && strstr(e, "instruction budget exceeded")) {
        POL.stats.budget_overruns++;
    }
    lua_settop(L, 0);
    return -1;
}

/* A call of route (request, candidates) or rate (request) in s. */
typedef struct decide_args {
    lstate *s;
    int fn;                          /* the function's reference */
    const mf_policy_request *req;
    const mf_policy_candidate *c;    /* route's candidates; NULL: rate's call */
    int n;
} decide_args;

/* Pushes the function and its arguments; run protected, since building the tables can
 * meet the memory cap (a large identity's claims, say), and an unprotected error ends the
 * process. */
static int push_decision(lua_State *L)
{
    decide_args *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->fn);
    push_request(a->s, a->req);
    if (!a->c)
        return 2;
    push_candidates(a->s, a->c, a->n);
    return 3;
}

/* Push a's function and arguments; 0, or -1 with why and the stack emptied. */
static int push_args(decide_args *a, char *why, size_t cap)
{
    lua_State *L = a->s->L;
    lua_settop(L, 0);
    lua_pushcfunction(L, push_decision);
    lua_pushlightuserdata(L, a);
    if (lua_pcall(L, 1, a->c ? 3 : 2, 0) == LUA_OK)
        return 0;
    snprintf(why, cap, "cannot build the request: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    POL.stats.memory_overruns++;
    lua_settop(L, 0);
    return -1;
}

static int rate_decide(lstate *s, const mf_policy_request *req, mf_policy_rate *out, char *why, size_t cap);

static int decide(lstate *s, const mf_policy_request *req, const mf_policy_candidate *c, int n,
                  mf_policy_decision *out, char *why, size_t cap)
{
    lua_State *L = s->L;
    memset(out, 0, sizeof *out);
    decide_args args = {s, s->route_ref, req, c, n};
    if (push_args(&args, why, cap) || call_budgeted(s, 2, 2, "", why, cap))
        return -1;
    int rc = read_decision(L, n, out, why, cap);
    lua_settop(L, 0);
    return rc;
}

/* --- visibility ---------------------------------------------------------------------- */

static void push_item(lstate *s, const mf_policy_item *it)
{
    lua_State *L = s->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->item_ref);
    set_str(L, "kind", it->kind);
    set_str(L, "name", it->name);
    set_str(L, "provider", it->provider);
    set_str(L, "upstream", it->upstream);
    if (json_is_object(it->annotations))
        push_json(L, it->annotations, 8);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "annotations");
    if (json_is_array(it->tags))
        push_json(L, it->tags, 1);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "tags");
}

/* A call of visible about one item; the request table is filled first when req is set. */
typedef struct visible_args {
    lstate *s;
    const mf_policy_request *req;   /* fill the request table first, or NULL: it is filled */
    const mf_policy_item *it;
} visible_args;

/* Fill the tables and call visible, in protected mode: building them allocates, and an
 * allocation the memory cap refuses must be an error of this decision, not a panic. */
static int visible_call(lua_State *L)
{
    visible_args *a = lua_touserdata(L, 1);
    if (a->req) {
        push_request(a->s, a->req);
        lua_pop(L, 1);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->s->visible_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->s->request_ref);
    push_item(a->s, a->it);
    lua_call(L, 2, 1);
    return 1;
}

/* Call visible in s about it; 0 and *shown, or -1 with why. */
static int judge(lstate *s, const mf_policy_request *req, const mf_policy_item *it, bool *shown, char *why,
                 size_t cap)
{
    lua_State *L = s->L;
    visible_args a = {s, req, it};
    lua_settop(L, 0);
    lua_pushcfunction(L, visible_call);
    lua_pushlightuserdata(L, &a);
    if (call_budgeted(s, 1, 1, "visible: ", why, cap) != 0)
        return -1;
    *shown = lua_toboolean(L, -1);
    lua_settop(L, 0);
    return 0;
}

bool mf_policy_has_visible(void)
{
    return POL.current && POL.current->visible_ref != LUA_NOREF;
}

uint64_t mf_policy_generation(void) { return POL.generation; }

void mf_policy_visible_begin(const mf_policy_request *req)
{
    if (!mf_policy_has_visible())
        return;
    /* the request table is filled with the first item's decision, protected as it is */
    POL.current->visible_req = *req;
    POL.current->visible_req_due = true;
}

bool mf_policy_visible(const mf_policy_item *it)
{
    if (!mf_policy_has_visible())
        return true;
    POL.stats.visible_decisions++;
    char why[400];
    bool shown = false;
    lstate *s = POL.current;
    if (judge(s, s->visible_req_due ? &s->visible_req : NULL, it, &shown, why, sizeof why) == 0) {
        s->visible_req_due = false;
        return shown;
    }
    /* fail closed: what the policy could not decide stays hidden */
    POL.stats.errors++;
    snprintf(POL.last_error, sizeof POL.last_error, "%s", why);
    if (POL.stats.errors < 10 || POL.stats.errors % 1000 == 0)
        mf_warn("policy", "visibility decision failed; the item is hidden", "errors=%llu item=\"%s\" reason=\"%s\"",
                (unsigned long long)POL.stats.errors, mf_log_esc(it->name, (size_t)-1),
                mf_log_esc(POL.last_error, (size_t)-1));
    return false;
}

/* --- rate(request): the caller's rate limit ------------------------------------------- */

/* The policy's table at the top of the stack holds rate, optional: a function. */
static int rate_hook(lstate *s, const char *path, mf_error *err)
{
    lua_State *L = s->L;
    lua_pushliteral(L, "rate");
    int t = lua_rawget(L, -2);
    if (t == LUA_TFUNCTION) {
        s->rate_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 0;
    }
    lua_pop(L, 1);
    if (t == LUA_TNIL)
        return 0;
    mf_error_set(err, -1, "policy %s: rate must be a function, not a %s", path, lua_typename(L, t));
    return -1;
}

/* The field k of the table at t, raw (no metamethod runs outside the budget). */
static int raw_field(lua_State *L, int t, const char *k)
{
    lua_pushstring(L, k);
    return lua_rawget(L, t);
}

/* rate's answer at the top of the stack: nil, false, or { bucket, calls_per_s, burst }. */
static int read_rate(lua_State *L, mf_policy_rate *out, char *why, size_t cap)
{
    int t = lua_gettop(L);
    if (lua_isnil(L, t))
        return 0;
    if (lua_isboolean(L, t) && !lua_toboolean(L, t)) {
        out->choice = MF_POLICY_RATE_EXEMPT;
        return 0;
    }
    if (!lua_istable(L, t)) {
        snprintf(why, cap, "rate must return nil, false or a table { bucket, calls_per_s, burst }");
        return -1;
    }
    size_t len = 0;
    const char *name = raw_field(L, t, "bucket") == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!name || len == 0 || len >= sizeof out->bucket || memchr(name, 0, len)) {
        snprintf(why, cap, "rate: bucket must be a name of 1 to %zu bytes", sizeof out->bucket - 1);
        return -1;
    }
    memcpy(out->bucket, name, len + 1);
    int isnum = 0;
    raw_field(L, t, "calls_per_s");
    double per_s = lua_tonumberx(L, -1, &isnum);
    if (!isnum || !(per_s >= 0.001 && per_s <= 1e6)) {
        snprintf(why, cap, "rate: calls_per_s must be a number from 0.001 to 1000000");
        return -1;
    }
    lua_Integer burst = 0;
    if (raw_field(L, t, "burst") != LUA_TNIL) {
        burst = lua_tointegerx(L, -1, &isnum);
        if (!isnum || burst < 1 || burst > 1000000) {
            snprintf(why, cap, "rate: burst must be an integer from 1 to 1000000");
            return -1;
        }
    }
    out->choice = MF_POLICY_RATE_BUCKET;
    out->calls_per_s = per_s;
    out->burst = burst ? (int64_t)burst : mf_rate_default_burst(per_s);
    return 0;
}

static int rate_decide(lstate *s, const mf_policy_request *req, mf_policy_rate *out, char *why, size_t cap)
{
    lua_State *L = s->L;
    memset(out, 0, sizeof *out);
    decide_args args = {s, s->rate_ref, req, NULL, 0};
    if (push_args(&args, why, cap) || call_budgeted(s, 1, 1, "rate: ", why, cap))
        return -1;
    int rc = read_rate(L, out, why, cap);
    lua_settop(L, 0);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

bool mf_policy_has_rate(void) { return POL.current && POL.current->rate_ref != LUA_NOREF; }

int mf_policy_rate_of(const mf_policy_request *req, mf_policy_rate *out)
{
    memset(out, 0, sizeof *out);
    if (!mf_policy_has_rate())
        return 0;
    char why[400];
    if (rate_decide(POL.current, req, out, why, sizeof why) == 0)
        return 0;
    POL.stats.errors++;
    snprintf(POL.last_error, sizeof POL.last_error, "rate: %s", why);
    if (POL.stats.errors < 10 || POL.stats.errors % 1000 == 0)
        mf_warn("policy", "rate failed; the configured limits apply", "errors=%llu reason=\"%s\"",
                (unsigned long long)POL.stats.errors, mf_log_esc(POL.last_error, (size_t)-1));
    return -1;
}

/* --- loading ------------------------------------------------------------------------- */

static lstate *load(const char *path, uint64_t instructions, uint64_t ms, size_t memory, mf_error *err)
{
    lstate *s = mf_xcalloc(1, sizeof *s);
    s->cap = memory;
    s->budget = instructions;
    s->time_ns = ms * 1000000;
    s->L = lua_newstate(capped_alloc, s);
    if (!s->L) {
        free(s);
        mf_error_set(err, -1, "policy: cannot create a Lua state");
        return NULL;
    }
    sandbox(s->L);
    lua_State *L = s->L;
    arm_budget(s);
    int rc = luaL_loadfile(L, path);
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 1, 0);
    disarm_budget(s);
    if (rc != LUA_OK) {
        if (s->late)
            mf_error_set(err, -1, "policy %s: time budget exceeded (%d ms)", path, (int)ms);
        else
            mf_error_set(err, -1, "policy %s", lua_tostring(L, -1));
        close_state(s);
        return NULL;
    }
    if (!lua_istable(L, -1) || lua_getfield(L, -1, "route") != LUA_TFUNCTION) {
        mf_error_set(err, -1, "policy %s: the file must return a table with a route function", path);
        close_state(s);
        return NULL;
    }
    s->route_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->visible_ref = LUA_NOREF;
    s->rate_ref = LUA_NOREF;
    if (lua_getfield(L, -1, "visible") == LUA_TFUNCTION) {
        s->visible_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else if (!lua_isnil(L, -1)) {
        mf_error_set(err, -1, "policy %s: visible must be a function", path);
        close_state(s);
        return NULL;
    } else {
        lua_pop(L, 1);
    }
    if (rate_hook(s, path, err)) {
        close_state(s);
        return NULL;
    }
    lua_settop(L, 0);
    lua_newtable(L);
    s->item_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    lua_newtable(L);
    lua_setfield(L, -2, "client");
    s->request_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    s->targets_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    s->identities_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* the self-check: a decision over two made-up candidates must come out right */
    mf_policy_request req = {.method = "tools/call", .name = "selfcheck__tool", .upstream = "tool",
                             .provider = "selfcheck", .client = "mcpfed-selfcheck", .protocol = "2025-11-25"};
    mf_policy_candidate c[2] = {
        {.id = 1, .provider = "selfcheck", .target = "selfcheck#1", .healthy = true, .breaker = "closed", .weight = 1},
        {.id = 2, .provider = "selfcheck", .target = "selfcheck#2", .healthy = true, .breaker = "closed", .weight = 1},
    };
    mf_policy_decision d;
    char why[400];
    mf_policy_rate rate;
    if (decide(s, &req, c, 2, &d, why, sizeof why) != 0 ||
        (s->rate_ref != LUA_NOREF && rate_decide(s, &req, &rate, why, sizeof why) != 0)) {
        mf_error_set(err, -1, "policy %s: self-check failed: %s", path, why);
        close_state(s);
        return NULL;
    }
    mf_policy_item item = {.kind = "tool", .name = "selfcheck__tool", .upstream = "tool", .provider = "selfcheck"};
    bool shown;
    if (s->visible_ref != LUA_NOREF && judge(s, &req, &item, &shown, why, sizeof why) != 0) {
        mf_error_set(err, -1, "policy %s: self-check of visible failed: %s", path, why);
        close_state(s);
        return NULL;
    }
    return s;
}

int mf_policy_reload(mf_error *err)
{
    lstate *s = load(POL.file, POL.budget, POL.time_ms, POL.memcap, err);
    if (!s) {
        POL.stats.failed_reloads++;
        snprintf(POL.last_error, sizeof POL.last_error, "%s", err->msg);
        mf_error_log("policy", "new policy refused; the old one stays", "reason=\"%s\"",
                     mf_log_esc(err->msg, (size_t)-1));
        return -1;
    }
    mf_view_policy_changing();
    close_state(POL.current);
    POL.current = s;
    POL.generation++;
    mf_view_policy_changed();
    POL.stats.reloads++;
    POL.last_error[0] = '\0';
    mf_info("policy", "loaded", "file=%s", POL.file);
    return 0;
}

static void on_debounce(uv_timer_t *t)
{
    (void)t;
    mf_error err = {0};
    mf_policy_reload(&err);
}

static void on_change(uv_fs_event_t *h, const char *name, int events, int status)
{
    (void)h;
    (void)events;
    /* editors save by replacing the file: watch the directory, act on our file's name */
    if (status == 0 && name && strcmp(name, POL.base) == 0)
        uv_timer_start(&POL.debounce, on_debounce, 50, 0);
}

static lstate *load_configured(const mf_config *cfg, mf_error *err)
{
    return load(cfg->policy, (uint64_t)cfg->policy_instructions, (uint64_t)cfg->policy_time_ms,
                (size_t)cfg->policy_memory_bytes, err);
}

int mf_policy_check(const mf_config *cfg, mf_error *err)
{
    lstate *s = load_configured(cfg, err);
    close_state(s);
    return s ? 0 : -1;
}

/* Watch the directory of the policy's file (editors save by replacing it). */
static void watch(const char *path)
{
    free(POL.file);
    free(POL.dir);
    free(POL.base);
    POL.file = mf_xstrdup(path);
    char *slash = strrchr(POL.file, '/');
    POL.dir = slash ? mf_xstrndup(POL.file, (size_t)(slash - POL.file)) : mf_xstrdup(".");
    POL.base = mf_xstrdup(slash ? slash + 1 : POL.file);
    if (POL.watching)
        uv_fs_event_stop(&POL.watcher);
    POL.watching = uv_fs_event_start(&POL.watcher, on_change, POL.dir, 0) == 0;
    if (!POL.watching)
        mf_warn("policy", "cannot watch the policy's directory; reload it by hand", "dir=%s", POL.dir);
}

int mf_policy_start(const mf_config *cfg, mf_error *err)
{
    POL.budget = (uint64_t)cfg->policy_instructions;
    POL.time_ms = (uint64_t)cfg->policy_time_ms;
    POL.memcap = (size_t)cfg->policy_memory_bytes;
    POL.current = load_configured(cfg, err);
    if (!POL.current)
        return -1;
    mf_info("policy", "loaded", "file=%s", cfg->policy);
    uv_timer_init(mf_loop(), &POL.debounce);
    uv_fs_event_init(mf_loop(), &POL.watcher);
    uv_unref((uv_handle_t *)&POL.watcher);
    uv_unref((uv_handle_t *)&POL.debounce);
    watch(cfg->policy);
    return 0;
}

struct mf_policy_next {
    lstate *s;
    char *file;
};

mf_policy_next *mf_policy_prepare(const mf_config *cfg, mf_error *err)
{
    lstate *s = load_configured(cfg, err);
    if (!s)
        return NULL;
    mf_policy_next *n = mf_xcalloc(1, sizeof *n);
    n->s = s;
    n->file = mf_xstrdup(cfg->policy);
    return n;
}

void mf_policy_install(mf_policy_next *n)
{
    mf_view_policy_changing();
    close_state(POL.current);
    POL.current = n->s;
    POL.generation++;
    mf_view_policy_changed();
    POL.budget = n->s->budget;
    POL.time_ms = n->s->time_ns / 1000000;
    POL.memcap = n->s->cap;
    POL.stats.reloads++;
    POL.last_error[0] = '\0';
    if (!POL.file || strcmp(POL.file, n->file) != 0)
        watch(n->file);
    mf_info("policy", "loaded", "file=%s instructions=%llu time_ms=%llu memory_bytes=%zu", POL.file,
            (unsigned long long)POL.budget, (unsigned long long)POL.time_ms, POL.memcap);
    free(n->file);
    free(n);
}

void mf_policy_discard(mf_policy_next *n)
{
    if (!n)
        return;
    close_state(n->s);
    free(n->file);
    free(n);
}

void mf_policy_stop(void)
{
    if (!POL.file)
        return;
    POL.watching = false;
    uv_close((uv_handle_t *)&POL.watcher, NULL);
    uv_close((uv_handle_t *)&POL.debounce, NULL);
    close_state(POL.current);
    POL.current = NULL;
    free(POL.file);
    free(POL.dir);
    free(POL.base);
    POL.file = POL.dir = POL.base = NULL;
}

void mf_policy_route(const mf_policy_request *req, const mf_policy_candidate *cands, int n,
                     mf_policy_decision *out)
{
    POL.stats.decisions++;
    char why[400];
    if (POL.current && decide(POL.current, req, cands, n, out, why, sizeof why) == 0)
        return;
    POL.stats.errors++;
    snprintf(POL.last_error, sizeof POL.last_error, "%s", POL.current ? why : "no policy");
    if (POL.stats.errors < 10 || POL.stats.errors % 1000 == 0)
        mf_warn("policy", "decision failed; candidates keep their order", "errors=%llu reason=\"%s\"",
                (unsigned long long)POL.stats.errors, mf_log_esc(POL.last_error, (size_t)-1));
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n && i < MF_POLICY_MAX; i++)
        out->order[out->n++] = cands[i].id;
}

json_t *mf_policy_status(void)
{
    return json_pack("{s:s?,s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s?}", "file", POL.file, "decisions",
                     (json_int_t)POL.stats.decisions, "visible_decisions", (json_int_t)POL.stats.visible_decisions,
                     "visible", mf_policy_has_visible(), "errors", (json_int_t)POL.stats.errors, "budget_overruns",
                     (json_int_t)POL.stats.budget_overruns, "time_overruns", (json_int_t)POL.stats.time_overruns,
                     "time_budget_ms", (json_int_t)POL.time_ms, "memory_overruns", (json_int_t)POL.stats.memory_overruns,
                     "reloads", (json_int_t)POL.stats.reloads, "failed_reloads", (json_int_t)POL.stats.failed_reloads,
                     "memory_bytes", (json_int_t)(POL.current ? POL.current->used : 0), "instruction_budget",
                     (json_int_t)POL.budget, "last_error", POL.last_error[0] ? POL.last_error : NULL);
}
