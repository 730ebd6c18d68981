/* Configuration checks for plugins. A plugin's part of the configuration reaches it as
 * JSON converted from the Lua table. Each check names the key path in err, e.g.
 * "providers[2].command: expected a non-empty list of strings". A Lua table that is
 * empty arrives as an empty array; the map checks accept it as an empty map. */
#ifndef MCPFED_CONF_H
#define MCPFED_CONF_H

#include <mcpfed/base.h>

/* Fail on any key of obj not in allowed (a NULL-terminated list). */
MF_API int mf_conf_keys(const json_t *obj, const char *path, const char *const *allowed,
                        mf_error *err);
/* Each getter leaves *out unchanged when the key is absent and not required. */
MF_API int mf_conf_string(const json_t *obj, const char *path, const char *key, bool required,
                          const char **out, mf_error *err);
MF_API int mf_conf_int(const json_t *obj, const char *path, const char *key, int64_t min,
                       int64_t max, int64_t *out, mf_error *err);
MF_API int mf_conf_bool(const json_t *obj, const char *path, const char *key, bool *out,
                        mf_error *err);
/* A list of strings; *out is the JSON array (borrowed). */
MF_API int mf_conf_strings(const json_t *obj, const char *path, const char *key, bool required,
                           bool nonempty, const json_t **out, mf_error *err);
/* A map of string to string; *out is the JSON object or empty array (borrowed). */
MF_API int mf_conf_strmap(const json_t *obj, const char *path, const char *key,
                          const json_t **out, mf_error *err);
/* A PEM file a TLS setting names (what: its key path, e.g. "providers[2].key_file"),
 * checked when the configuration loads rather than at the first connection: a file that
 * can be read, and no encrypted key (OpenSSL would ask the terminal for its passphrase,
 * and wait). SDK 4.5. */
MF_API int mf_conf_pem_file(const char *what, const char *file, mf_error *err);

#endif
