/* Declarative settings (SDK 4.1). A plugin describes each key of its part of the
 * configuration once, in a table: name, type, default, bounds and one line of doc. The
 * kernel checks a configuration against the table before it calls the plugin's own check
 * (which is left with what a table cannot say, such as one key's bound depending on
 * another), prints the table for `mcpfed --help-config`, and the README's key tables are
 * compared with that print. A plugin fills its settings struct from the same table.
 *
 *   typedef struct cfg { int64_t max_rows; const json_t *databases; } cfg;
 *   static const mf_setting settings[] = {
 *       {"databases", MF_SET_MAP, MF_SET_REQUIRED | MF_SET_NONEMPTY, .at = MF_AT(cfg, databases),
 *        .doc = "a map of names to database files"},
 *       {"max_rows", MF_SET_INT, .def = "1000", .min = 1, .max = 1000000,
 *        .at = MF_AT(cfg, max_rows), .doc = "rows a result holds at most"},
 *       {0},
 *   };
 *   MF_PLUGIN(..., .provider = &ops, .provider_settings = settings);
 */
#ifndef MCPFED_SETTINGS_H
#define MCPFED_SETTINGS_H

#include <mcpfed/base.h>

/* The type of a key, and what mf_settings_check stores for it at `at`. */
typedef enum mf_setting_type {
    MF_SET_END = 0,     /* ends a table ({0}) */
    MF_SET_STRING,      /* const char * (the configuration's own, or def); choices: one of them */
    MF_SET_ENUM,        /* int: the value's index in choices */
    MF_SET_INT,         /* int64_t from min to max */
    MF_SET_DURATION,    /* int64_t milliseconds from min to max */
    MF_SET_BYTES,       /* int64_t bytes from min to max */
    MF_SET_NUMBER,      /* double from nmin to nmax (above nmin with MF_SET_ABOVE_MIN) */
    MF_SET_BOOL,        /* bool */
    MF_SET_STRINGS,     /* const json_t *: a list of strings (at most max of them when max > 0) */
    MF_SET_INTS,        /* const json_t *: a list of integers */
    MF_SET_MAP,         /* const json_t *: a table of name = "string" */
    MF_SET_TABLE,       /* const json_t *: a table of the keys in sub (sub NULL: keys another checks) */
    MF_SET_LIST,        /* const json_t *: a list of tables of the keys in sub */
    MF_SET_VALUE,       /* const json_t *: any value; the plugin's check says what it must be */
    MF_SET_OTHERS,      /* no key: the table may hold keys besides these, for another to check */
} mf_setting_type;

/* flags */
#define MF_SET_REQUIRED 0x1u   /* absent: an error */
#define MF_SET_NONEMPTY 0x2u   /* a list or map: at least one item */
#define MF_SET_OR_FALSE 0x4u   /* false is accepted too (turns it off); stored as the JSON false */
#define MF_SET_ABOVE_MIN 0x8u  /* a number: nmin itself is refused */

typedef struct mf_setting {
    const char *name;
    mf_setting_type type;
    unsigned flags;
    /* The default, as the configuration would write it ("60000", "info" for a string,
     * "true", "{}"), or NULL when there is none. A scalar key that is absent is filled from
     * it (without one, its field keeps what the caller put there); an absent list, map or
     * table is stored as NULL. */
    const char *def;
    /* The default in words when it is no constant ("the provider's name"), for the docs. */
    const char *def_doc;
    int64_t min, max;            /* int, duration, bytes: inclusive bounds; strings: max items */
    double nmin, nmax;           /* number: bounds (nmax 0: none above) */
    const char *const *choices;  /* string, enum: the values allowed (NULL-terminated) */
    const struct mf_setting *sub;   /* table, list: the keys of the inner tables */
    size_t at;                   /* MF_AT(struct, field): where it is stored; 0: nowhere */
    const char *doc;             /* one line */
} mf_setting;

#define MF_AT(type, field) (offsetof(type, field) + 1)

/* Check obj (a table of settings; NULL or an empty list counts as an empty table) against
 * table: types, bounds, choices, required keys, unknown keys (refused unless the table has
 * MF_SET_OTHERS), nested tables and lists of tables. out (may be NULL) is the struct the
 * `at` offsets point into: each key's value is stored there, and each absent key's
 * default, also of nested tables (their offsets are into the same struct). Errors name the
 * key's path from path ("" at the top), e.g. "providers[2].restart.intensity: expected an
 * integer from 0 to 100000, not -1". Returns 0, or -1 with err set (err may be NULL). */
MF_API int mf_settings_check(const json_t *obj, const char *path, const mf_setting *table, void *out,
                             mf_error *err);

/* The entry of table named name (NULL if none): e.g. for a bound in a message. */
MF_API const mf_setting *mf_settings_find(const mf_setting *table, const char *name);

#endif
