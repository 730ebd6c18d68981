/* What each caller sees of the catalog (view.c): its endpoint's curation (a listen entry's
 * providers and filters) and the policy's visible(request, item), decided once per session,
 * catalog generation and policy generation. */
#ifndef MF_VIEW_H
#define MF_VIEW_H

#include "downstream.h"

struct mf_view;

/* The request r is about to be served: note who asks (client, revision), which the
 * decisions cached for its session depend on. */
void mf_view_caller(const rctx *r);
/* May r's caller see e, an entry of kind k? */
bool mf_view_allows(const rctx *r, mf_kind k, const mf_entry *e);
/* May r's caller read uri of provider p (its upstream URI), which no listed resource is:
 * through a template it sees, or, unfiltered, any. */
bool mf_view_allows_uri(const rctx *r, const mf_provider *p, const char *upstream);
/* The provider of uri and its upstream URI (malloc'd), as mf_catalog_resolve_uri, or NULL
 * when r's caller may not see it. */
mf_provider *mf_view_resolve_uri(const rctx *r, const char *uri, char **upstream);
/* The items of kind k r's caller sees (borrowed, valid until the next change). */
json_t *mf_view_items(const rctx *r, mf_kind k);
/* What cursors of r's view of kind k are minted with: changes when the view may. */
uint64_t mf_view_stamp(const session *s, mf_kind k);
/* Does session s's endpoint serve provider p? */
bool mf_view_serves(const session *s, const mf_provider *p);
/* The endpoint (listen entry) a session opened on a transport instance is served by. */
const mf_listener_conf *mf_view_endpoint(const mf_instance *transport);
void mf_view_free(session *s);

/* Around a catalog rebuild of kind k that changed it (next: its new items, the old still
 * in force), and around a policy replacing another: the sessions whose view changed are
 * told (list_changed), no other. */
void mf_view_catalog_changing(mf_kind k, const json_t *next);
void mf_view_catalog_changed(mf_kind k);
void mf_view_policy_changing(void);
void mf_view_policy_changed(void);

#endif
