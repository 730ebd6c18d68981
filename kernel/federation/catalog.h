/* The federated catalog: the kinds of items providers list, and the public catalog
 * rebuilt from their listings, with the names and URIs clients see (catalog.c). */
#ifndef MF_CATALOG_H
#define MF_CATALOG_H

#include "kernel.h"
#include "config.h"

struct mf_provider;

typedef enum mf_kind {
    MF_KIND_TOOLS,
    MF_KIND_PROMPTS,
    MF_KIND_RESOURCES,
    MF_KIND_TEMPLATES,
    MF_KINDS,
} mf_kind;

/* What differs between the kinds of listed items. */
typedef struct mf_kind_info {
    const char *list_method;     /* "tools/list" */
    const char *result_key;      /* "tools" */
    const char *name_key;        /* "name", "uri", "uriTemplate" */
    const char *capability;      /* the server capability that says it lists them */
    const char *changed;         /* the notification that says the list changed */
} mf_kind_info;

extern const mf_kind_info mf_kinds[MF_KINDS];

/* An item of the public catalog. */
typedef struct mf_entry {
    const char *name;         /* public name or URI */
    const char *upstream;     /* the upstream's */
    struct mf_provider *provider;
    const json_t *item;       /* the upstream's definition (borrowed from its list) */
    const json_t *pub;        /* what clients are shown (borrowed from the catalog's items) */
} mf_entry;

/* The provider filter (config.h's mf_filter_kind) that curates kind k. */
int mf_kind_filter(mf_kind k);

/* The public catalog, rebuilt from the listings in configuration order. */
void mf_catalog_rebuild(mf_kind k, struct mf_provider **providers, size_t n, bool announce);
void mf_catalog_free(void);
const mf_entry *mf_catalog_find(mf_kind k, const char *public_name);
/* The public items (borrowed; replaced, never changed, when the catalog changes). */
json_t *mf_catalog_items(mf_kind k);
uint64_t mf_catalog_generation(mf_kind k);
/* A resource URI as a client names it: which provider, and its URI there (malloc'd). */
struct mf_provider *mf_catalog_resolve_uri(const char *uri, char **upstream);
/* Does p's curation serve its upstream's URI (a listed resource it admits, or a URI of a
 * template it admits)? */
bool mf_catalog_uri_curated(const struct mf_provider *p, const char *upstream_uri);
/* p has listed kind k: warn of its include globs that match nothing it lists. */
void mf_catalog_warn_unmatched(const struct mf_provider *p, mf_kind k);
/* Does uri match the RFC 6570 template t (enough to say whose it is)? */
bool mf_template_matches(const char *t, const char *uri);
/* The public names renames give must not meet (mcpfed --check): -1 naming both. */
int mf_catalog_check_renames(const mf_config *c, mf_error *err);
/* The URI a client sees for a provider's URI (malloc'd). */
char *mf_catalog_public_uri(const struct mf_provider *p, const char *upstream_uri);
/* Rewrite the resource URIs inside a result (contents, resource links, embedded
 * resources) to their public form; returns a new reference. */
json_t *mf_catalog_publish_uris(const struct mf_provider *p, json_t *result);

#endif
