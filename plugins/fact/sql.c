/* sql: read-only SQL over the SQLite databases named in the configuration.
 *
 *   { name = "facts", transport = "sql", databases = { sales = "sales.db" },
 *     max_rows = 1000, max_bytes = 1048576, max_ms = 5000 }
 *
 * Reading only is SQLite's to enforce, not a keyword list's: each call opens its database
 * read-only, and an authorizer admits reads alone (no write, no ATTACH, no transaction, no
 * pragma but those that only report); a call is one statement. A progress handler stops
 * a statement past its deadline or once the call is cancelled. */
#include "toolhost.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sqlcfg {
    th_limits lim;       /* first */
    const json_t *databases;   /* name -> path */
    int64_t max_rows;
} sqlcfg;

static const mf_setting settings[] = {
    {"databases", MF_SET_MAP, MF_SET_REQUIRED | MF_SET_NONEMPTY, .at = MF_AT(sqlcfg, databases),
     .doc = "a map of names to SQLite database files"},
    {"max_rows", MF_SET_INT, .def = "1000", .min = 1, .max = 1000000, .at = MF_AT(sqlcfg, max_rows),
     .doc = "rows a result holds at most (then truncated)"},
    TH_LIMITS("a larger result is refused", "how long a statement may run"),
    {0},
};

/* --- the guard --- */

/* pragmas that only report: their argument names a table or index, never a setting */
static const char *const reading_pragmas[] = {"table_info", "table_xinfo", "table_list", "index_list",
                                              "index_info", "index_xinfo", "foreign_key_list", NULL};

static int authorize(void *arg, int action, const char *a, const char *b, const char *db, const char *trigger)
{
    (void)arg;
    (void)db;
    (void)trigger;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        (void)b;
        for (const char *const *p = reading_pragmas; *p; p++)
            if (a && sqlite3_stricmp(a, *p) == 0)
                return SQLITE_OK;
        return SQLITE_DENY;
    default:
        return SQLITE_DENY;
    }
}

static int progress(void *arg)
{
    return th_job_over(arg);
}

static void interrupt_db(void *db)
{
    sqlite3_interrupt(db);
}

/* A statement that consists of spaces and comments only prepares to NULL. */
static bool only_blank(sqlite3 *db, const char *tail)
{
    sqlite3_stmt *st = NULL;
    const char *rest = NULL;
    while (*tail) {
        if (sqlite3_prepare_v2(db, tail, -1, &st, &rest) != SQLITE_OK || st) {
            sqlite3_finalize(st);
            return false;
        }
        if (rest == tail)
            break;
        tail = rest;
    }
    return true;
}

static bool bind_params(sqlite3_stmt *st, const json_t *params, json_t **err)
{
    int n = sqlite3_bind_parameter_count(st);
    for (int i = 1; i <= n; i++) {
        const json_t *v;
        const char *pname = sqlite3_bind_parameter_name(st, i);
        if (json_is_array(params))
            v = json_array_get(params, (size_t)i - 1);
        else
            v = pname ? json_object_get(params, pname + 1) : NULL;
        if (!v) {
            *err = th_fail("no value for the parameter %s", pname ? pname : "?");
            return false;
        }
        int rc;
        if (json_is_integer(v))
            rc = sqlite3_bind_int64(st, i, json_integer_value(v));
        else if (json_is_real(v))
            rc = sqlite3_bind_double(st, i, json_real_value(v));
        else if (json_is_string(v))
            rc = sqlite3_bind_text(st, i, json_string_value(v), (int)json_string_length(v), SQLITE_TRANSIENT);
        else if (json_is_boolean(v))
            rc = sqlite3_bind_int(st, i, json_is_true(v));
        else if (json_is_null(v))
            rc = sqlite3_bind_null(st, i);
        else {
            *err = th_fail("the parameter %s must be a string, number, boolean or null", pname ? pname : "?");
            return false;
        }
        if (rc != SQLITE_OK) {
            *err = th_fail("cannot bind the parameter %d: %s", i, sqlite3_errstr(rc));
            return false;
        }
    }
    return true;
}

static json_t *column_value(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT:
        return json_stringn((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
    case SQLITE_BLOB: {
        /* as an SQL blob literal, x'..' */
        const unsigned char *p = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        char *s = mf_xmalloc(2 * n + 4);
        s[0] = 'x';
        s[1] = '\'';
        for (size_t k = 0; k < n; k++)
            snprintf(s + 2 + 2 * k, 3, "%02x", p[k]);
        s[2 + 2 * n] = '\'';
        s[3 + 2 * n] = 0;
        json_t *v = json_string(s);
        free(s);
        return v ? v : json_null();
    }
    default:
        return json_null();
    }
}

/* Run one reading statement; a tool result either way. */
static json_t *run_sql(const sqlcfg *c, th_job *job, const json_t *args, const char *sql, const json_t *params,
                       int64_t max_rows)
{
    json_t *err = NULL;
    const char *file = th_arg_pick(args, "database", c->databases, &err);
    if (!file)
        return err;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        json_t *r = th_fail("cannot open the database: %s", db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return r;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_set_authorizer(db, authorize, NULL);
    sqlite3_progress_handler(db, 1000, progress, job);
    th_job_on_stop(job, interrupt_db, db);

    json_t *result = NULL, *rows = json_array(), *columns = json_array();
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
    if (rc != SQLITE_OK) {
        result = rc == SQLITE_AUTH ? th_fail("refused: only reading statements may run (%s)", sqlite3_errmsg(db))
                                   : th_fail("%s", sqlite3_errmsg(db));
        goto out;
    }
    if (!st) {
        result = th_fail("no statement to run");
        goto out;
    }
    if (!only_blank(db, tail)) {
        result = th_fail("refused: one statement per call (text follows the first)");
        goto out;
    }
    if (!sqlite3_stmt_readonly(st)) {
        result = th_fail("refused: only reading statements may run");
        goto out;
    }
    if (!bind_params(st, params, &result))
        goto out;
    int ncol = sqlite3_column_count(st);
    size_t bytes = 0;
    for (int i = 0; i < ncol; i++)
        json_array_append_new(columns, json_string(sqlite3_column_name(st, i)));
    bool truncated = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((int64_t)json_array_size(rows) >= max_rows) {
            truncated = true;
            break;
        }
        json_t *row = json_array();
        for (int i = 0; i < ncol; i++) {
            bytes += (size_t)sqlite3_column_bytes(st, i) + 8;
            json_array_append_new(row, column_value(st, i));
        }
        json_array_append_new(rows, row);
        if (bytes > (size_t)c->lim.max_bytes) {
            result = th_fail("refused: the result exceeds max_bytes (%lld bytes); select fewer rows or columns",
                             (long long)c->lim.max_bytes);
            goto out;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        if (rc == SQLITE_INTERRUPT)
            result = th_job_late(job) ? th_fail("stopped: the statement ran past its time limit")
                                      : th_fail("stopped: the call was cancelled");
        else
            result = th_fail("%s", sqlite3_errmsg(db));
        goto out;
    }
    result = th_result(json_pack("{s:O,s:O,s:b}", "columns", columns, "rows", rows, "truncated", truncated));
out:
    th_job_on_stop(job, NULL, NULL);
    sqlite3_finalize(st);
    sqlite3_close(db);
    json_decref(rows);
    json_decref(columns);
    return result;
}

/* --- the tools --- */

static json_t *t_query(const void *cfg, const json_t *args, th_job *job)
{
    const sqlcfg *c = cfg;
    const char *sql = NULL;
    json_t *err = NULL;
    const json_t *params = json_object_get(args, "params");
    if (!th_arg_string(args, "sql", true, &sql, &err))
        return err;
    if (params && !json_is_array(params) && !json_is_object(params))
        return th_fail("the argument \"params\" must be an array (for ?) or an object (for :name)");
    return run_sql(c, job, args, sql, params, c->max_rows);
}

static json_t *t_tables(const void *cfg, const json_t *args, th_job *job)
{
    return run_sql(cfg, job, args,
                   "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') "
                   "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                   NULL, ((const sqlcfg *)cfg)->max_rows);
}

static json_t *t_schema(const void *cfg, const json_t *args, th_job *job)
{
    const char *table = NULL;
    json_t *err = NULL;
    if (!th_arg_string(args, "table", true, &table, &err))
        return err;
    /* the pragma, not pragma_table_info(): the table-valued form asks the authorizer for more */
    char *sql = sqlite3_mprintf("PRAGMA table_info(\"%w\")", table);
    json_t *r = run_sql(cfg, job, args, sql, NULL, ((const sqlcfg *)cfg)->max_rows);
    sqlite3_free(sql);
    json_t *sc = json_object_get(r, "structuredContent");
    if (sc && json_array_size(json_object_get(sc, "rows")) == 0) {
        json_decref(r);
        return th_fail("no table or view named \"%s\"", table);
    }
    return r;
}

static json_t *t_sample(const void *cfg, const json_t *args, th_job *job)
{
    const char *table = NULL;
    int64_t n = 5;
    json_t *err = NULL;
    if (!th_arg_string(args, "table", true, &table, &err) ||
        !th_arg_int(args, "rows", 1, 100, &n, &err))
        return err;
    char *sql = sqlite3_mprintf("SELECT * FROM \"%w\" LIMIT %lld", table, (long long)n);
    json_t *r = run_sql(cfg, job, args, sql, NULL, n);
    sqlite3_free(sql);
    return r;
}

#define DB_ARG "\"database\":{\"type\":\"string\",\"description\":\"a database named in the configuration " \
               "(may be left out when there is one)\"}"
#define ROWS_OUT                                                                                       \
    "{\"type\":\"object\",\"properties\":{\"columns\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}," \
    "\"rows\":{\"type\":\"array\",\"items\":{\"type\":\"array\"}},\"truncated\":{\"type\":\"boolean\"}},"    \
    "\"required\":[\"columns\",\"rows\",\"truncated\"]}"

static const th_tool tools[] = {
    {"query", "Run one read-only SQL statement (SQLite) and return its rows; truncated says max_rows cut them.",
     "{\"type\":\"object\",\"properties\":{" DB_ARG ",\"sql\":{\"type\":\"string\"},"
     "\"params\":{\"type\":[\"array\",\"object\"],\"description\":\"values for ? (array) or :name (object)\"}},"
     "\"required\":[\"sql\"]}",
     ROWS_OUT, t_query, NULL},
    {"tables", "List the tables and views of a database.",
     "{\"type\":\"object\",\"properties\":{" DB_ARG "}}", ROWS_OUT, t_tables, NULL},
    {"schema", "Describe the columns of a table or view (cid, name, type, notnull, dflt_value, pk).",
     "{\"type\":\"object\",\"properties\":{" DB_ARG ",\"table\":{\"type\":\"string\"}},\"required\":[\"table\"]}",
     ROWS_OUT, t_schema, NULL},
    {"sample", "Return the first rows of a table or view (5 unless rows says, at most 100).",
     "{\"type\":\"object\",\"properties\":{" DB_ARG ",\"table\":{\"type\":\"string\"},"
     "\"rows\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100}},\"required\":[\"table\"]}",
     ROWS_OUT, t_sample, NULL},
};

static const th_kind kind = {.name = "sql", .tools = tools, .ntools = sizeof tools / sizeof tools[0],
                             .conf_size = sizeof(sqlcfg), .settings = settings};

TH_ROLE(kind);

MF_PLUGIN(.name = "sql", .version = "1", .description = "read-only SQL over SQLite databases",
          .provider = &th_role_, .provider_settings = settings);
