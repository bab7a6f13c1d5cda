/*
 * conf_int.h — shared between the files of the conf part only: the
 * statement tree the parser builds and the builder walks, and the
 * per-configuration allocator (everything of one struct conf is freed
 * at once).
 */
#ifndef TERN_CONF_INT_H
#define TERN_CONF_INT_H

#include "conf/conf.h"

struct conf_stmt {
	const char *file;
	int line;
	char **args; /* args[0] is the keyword */
	uint32_t nargs;
	struct conf_stmt *block; /* first child, when the statement has { } */
	bool has_block;
	struct conf_stmt *next;
};

struct conf_mem;

struct conf_ctx {
	const struct conf_io *io;
	struct conf_mem *mem;
	int errors;
	int depth; /* include nesting */
};

void *conf_alloc(struct conf_ctx *cx, size_t n);
char *conf_strdup(struct conf_ctx *cx, const char *s, size_t n);
void conf_mem_free(struct conf_mem *m);
void conf_error(struct conf_ctx *cx, const char *file, int line,
    const char *fmt, ...) PRINTF_LIKE(4, 5);

/* shared value parsers (conf_build.c) */
bool conf_parse_size(const char *s, uint64_t *v);
bool conf_parse_duration(const char *s, uint64_t *ms);
bool conf_domain_name_ok(const char *s);
void conf_lower(char *s);

/* routing and relay settings (conf_route.c) */
void conf_server_relay(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s);
void
conf_connector(struct conf_ctx *cx, const struct conf_stmt *st, struct conf *c);
void
conf_resolvers(struct conf_ctx *cx, const struct conf_stmt *st, struct conf *c);

/* tls settings (conf_tls.c) */
void conf_server_tls(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s);
void conf_connector_tls(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_connector *cn);
/* AUTH settings (conf_auth.c) */
void conf_server_auth(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s);
void conf_relay_auth(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_server *s);
void conf_connector_auth(struct conf_ctx *cx, const struct conf_stmt *st,
    struct conf_connector *cn);
/* After everything: servers offering AUTH have a user database, ... */
void conf_auth_check(struct conf_ctx *cx, const struct conf *c);

/* text -> statements; includes are read through cx->io and spliced in */
struct conf_stmt *conf_stmts_parse(struct conf_ctx *cx, const char *file,
    const char *text, size_t len);
/* statements -> struct conf (checks meaning; errors through cx) */
struct conf *
conf_build(struct conf_ctx *cx, const char *name, const struct conf_stmt *top);

#endif
