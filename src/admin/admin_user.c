/*
 * admin_user.c — ternctl user add|del|list: the AUTH user database named
 * by the configuration's `users FILE`. Only derived secrets are written
 * (src/sasl/sasl_userdb.c); the file is replaced atomically (a temporary
 * file in the same directory, fsync, rename, fsync of the directory),
 * mode 0600. The password comes from a prompt without echo, from stdin
 * when it is not a terminal, or from --password-file FILE (first line).
 *
 *   ternctl [-c FILE] user add NAME [--password-file FILE]
 *   ternctl [-c FILE] user del NAME
 *   ternctl [-c FILE] user list
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "admin/admin.h"
#include "sasl/sasl.h"
#include "tls/tls.h"

static void
admin_user_usage(void)
{
	fprintf(stderr,
	    "usage: ternctl [-c FILE] user add NAME [--password-file FILE]\n"
	    "       ternctl [-c FILE] user del NAME\n"
	    "       ternctl [-c FILE] user list\n");
}

/* One line from f into pw without its newline; length or -1. */
static int
admin_user_readline(FILE *f, char *pw, size_t size)
{
	size_t n;

	if (fgets(pw, (int)size, f) == NULL) {
		return -1;
	}
	n = strcspn(pw, "\r\n");
	if (n == size - 1) {
		return -1; /* too long */
	}
	pw[n] = '\0';
	return (int)n;
}

static int
admin_user_prompt(const char *what, char *pw, size_t size)
{
	struct termios old, quiet;
	int n;

	fprintf(stderr, "%s: ", what);
	if (tcgetattr(STDIN_FILENO, &old) < 0) {
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	n = admin_user_readline(stdin, pw, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return n;
}

static int
admin_user_password(const char *file, char *pw, size_t size)
{
	char again[SASL_PASS_MAX + 2];
	FILE *f;
	int n;

	if (file != NULL) {
		f = fopen(file, "re");
		if (f == NULL) {
			perror(file);
			return -1;
		}
		n = admin_user_readline(f, pw, size);
		fclose(f);
		return n;
	}
	if (!isatty(STDIN_FILENO)) {
		return admin_user_readline(stdin, pw, size);
	}
	n = admin_user_prompt("Password", pw, size);
	if (n < 0 || admin_user_prompt("Again", again, sizeof(again)) < 0 ||
	    strcmp(pw, again) != 0) {
		fprintf(stderr, "the passwords differ\n");
		n = -1;
	}
	tls_zero(again, sizeof(again));
	return n;
}

static int
admin_user_add(const char *path, struct sasl_db *db, const char *name,
    const char *pwfile)
{
	char pw[SASL_PASS_MAX + 2];
	struct sasl_user u;
	struct sasl_user *slot;
	int n, rc;

	if (!sasl_user_name_ok(name, strlen(name))) {
		fprintf(stderr,
		    "%s: not a user name (1 to %d bytes, no spaces, "
		    ":, =, ',' or #)\n",
		    name, SASL_USER_MAX);
		return 1;
	}
	n = admin_user_password(pwfile, pw, sizeof(pw));
	if (n <= 0 || n > SASL_PASS_MAX) {
		fprintf(stderr, "no password (1 to %d bytes)\n", SASL_PASS_MAX);
		tls_zero(pw, sizeof(pw));
		return 1;
	}
	rc = sasl_user_derive(&u, name, pw, (size_t)n);
	tls_zero(pw, sizeof(pw));
	if (rc < 0) {
		fprintf(stderr,
		    "%s: cannot derive the secrets (is the password "
		    "UTF-8?)\n",
		    name);
		return 1;
	}
	slot = (struct sasl_user *)sasl_userdb_find(db, name, strlen(name));
	if (slot == NULL) {
		if (db->n == db->cap) {
			fprintf(stderr, "%s: full (%u users)\n", path, db->cap);
			return 1;
		}
		slot = &db->users[db->n++];
	}
	*slot = u;
	tls_zero(&u, sizeof(u));
	rc = sasl_userdb_save(path, db);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		return 1;
	}
	return 0;
}

static int
admin_user_del(const char *path, struct sasl_db *db, const char *name)
{
	const struct sasl_user *u = sasl_userdb_find(db, name, strlen(name));
	uint32_t k;
	int rc;

	if (u == NULL) {
		fprintf(stderr, "%s: no such user in %s\n", name, path);
		return 1;
	}
	k = (uint32_t)(u - db->users);
	memmove(&db->users[k], &db->users[k + 1],
	    sizeof(db->users[0]) * (db->n - k - 1));
	db->n--;
	rc = sasl_userdb_save(path, db);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		return 1;
	}
	return 0;
}

static void
admin_user_list(const struct sasl_db *db)
{
	uint32_t k;

	for (k = 0; k < db->n; k++) {
		const struct sasl_user *u = &db->users[k];

		printf("%s%s%s%s%s\n", u->name,
		    u->has & SASL_HAS_CRYPT ? " plain login" : "",
		    u->has & SASL_HAS_CRAM ? " cram-md5" : "",
		    u->has & SASL_HAS_SCRAM ? " scram-sha-256" : "",
		    u->has & SASL_HAS_NT ? " ntlm" : "");
	}
}

static int
admin_user_run(const char *path, int argc, char **argv)
{
	struct sasl_db db = { NULL, 0, CONFIG_SASL_USERS_MAX };
	int rc, line;
	bool add = argc >= 3 && strcmp(argv[1], "add") == 0;

	if (!((add &&
	          (argc == 3 ||
	              (argc == 5 && strcmp(argv[3], "--password-file") == 0))) ||
	        (argc == 3 && strcmp(argv[1], "del") == 0) ||
	        (argc == 2 && strcmp(argv[1], "list") == 0))) {
		admin_user_usage();
		return 2;
	}
	db.users = calloc(db.cap, sizeof(*db.users));
	if (db.users == NULL) {
		fprintf(stderr, "out of memory\n");
		return 2;
	}
	rc = sasl_userdb_load(path, &db, &line);
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "%s:%d: %s\n", path, line,
		    rc == -EINVAL ? "bad line" : strerror(-rc));
		rc = 1;
	} else if (add) {
		rc = admin_user_add(path, &db, argv[2],
		    argc == 5 ? argv[4] : NULL);
	} else if (strcmp(argv[1], "del") == 0) {
		rc = admin_user_del(path, &db, argv[2]);
	} else {
		admin_user_list(&db);
		rc = 0;
	}
	tls_zero(db.users, sizeof(*db.users) * db.cap);
	free(db.users);
	return rc;
}

int
admin_user_main(const char *conf_path, int argc, char **argv)
{
	struct conf *c;
	int rc;

	if (conf_load(conf_path, &c) != 0) {
		return 2;
	}
	if (c->users == NULL) {
		fprintf(stderr, "%s: no user database (users FILE)\n",
		    c->source);
		conf_free(c);
		return 2;
	}
	rc = admin_user_run(c->users, argc, argv);
	conf_free(c);
	return rc;
}
