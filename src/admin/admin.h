/*
 * admin.h — operating tern: the control socket (<spool>/control, a Unix
 * stream socket) that answers one command per connection, and the
 * client side of it, ternctl and mailq (the same binary by another name).
 *
 *   ternctl [-c FILE | -s SOCKET] queue list | queue show ID | queue flush
 *                                 | stats | reload
 *   mailq   [-c FILE | -s SOCKET]        (= ternctl queue list)
 */
#ifndef TERN_ADMIN_H
#define TERN_ADMIN_H

#include "conf/conf.h"

/* Listen on the control socket of the configuration's spool. */
int admin_init(const struct conf *c);
void admin_fini(void);
/*
 * `reload`: the program's reload; it writes "reloaded ..." or
 * "error: ..." and the errors, one "file:line: message" a line.
 */
typedef int (*admin_reload_fn)(struct buf *out);
void admin_set_reload(admin_reload_fn fn);
/* <spool>/control */
int admin_control_path(const struct conf *c, char *out, size_t size);
/* ternctl / mailq: prog is the name called ("ternctl", "mailq"). */
int admin_client_main(const char *prog, int argc, char **argv);

/* ternctl user add|del|list (admin_user.c, any CONFIG_SASL_*) */
#if ENABLE_SASL
int admin_user_main(const char *conf_path, int argc, char **argv);
#else
#include <stdio.h>
static inline int
admin_user_main(const char *conf_path, int argc, char **argv)
{
	fputs("ternctl user needs SMTP AUTH (CONFIG_SASL_PLAIN or another "
	      "CONFIG_SASL_*), which this build leaves out\n",
	    stderr);
	return 2;
}
#endif

#endif
