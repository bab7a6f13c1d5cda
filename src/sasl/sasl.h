/*
 * sasl.h — the SASL part: AUTH mechanisms (RFC 4422) as pure state
 * machines, server side (bytes in, a challenge or a verdict out) and the
 * client side for outbound AUTH; the user database (derived secrets only);
 * SHA-crypt and MD4. No I/O, no logging, no sockets except
 * sasl_userdb_load()/sasl_userdb_save(), so every mechanism is unit-tested
 * alone.
 *
 * Mechanisms are Kconfig options (CONFIG_SASL_PLAIN ...); the registry
 * (sasl.c) lists those built in. The bit of each is the one the
 * configuration uses for `auth MECH...` (CONF_AUTH_* in conf.h).
 */
#ifndef TERN_SASL_H
#define TERN_SASL_H

#include "conf/conf.h"
#include "core/core.h"

#define SASL_USER_MAX 64 /* bytes of a user name (UTF-8) */
#define SASL_PASS_MAX 256
#define SASL_LINE_MAX 2048 /* a base64 response line, CRLF excluded */
#define SASL_DATA_MAX 1200 /* decoded response or challenge */
#define SASL_SCRAM_ITER 4096 /* RFC 7677: at least 4096 */
#define SASL_SCRAM_SALT 16
#define SASL_CRYPT_ROUNDS 5000 /* SHA-crypt default (spec) */

/* ---- base64 (RFC 4648 4, strict: padding required, no spaces) ---------- */

/* Decoded length, or -EINVAL for anything not strict base64. */
int sasl_b64_decode(const char *in, size_t len, uint8_t *out, size_t size);
/* NUL-terminated text; its length, or -ENOSPC. */
int sasl_b64_encode(const uint8_t *in, size_t len, char *out, size_t size);

/* ---- the user database ---------------------------------------------- */

#define SASL_HAS_CRYPT 0x1u
#define SASL_HAS_SCRAM 0x2u
#define SASL_HAS_NT 0x4u
#define SASL_HAS_CRAM 0x8u

/*
 * One user: secrets derived from the password, never the password.
 *   NAME crypt=$6$SALT$HASH scram=ITER,SALT64,STORED64,SERVER64
 *        nt=HEX32 cram=HEX64
 */
struct sasl_user {
	char name[SASL_USER_MAX + 1];
	char crypt[128]; /* SHA-crypt "$6$[rounds=N$]salt$hash" */
	uint32_t scram_iter;
	uint8_t scram_salt[32];
	uint8_t scram_salt_len;
	uint8_t stored_key[32];
	uint8_t server_key[32];
	uint8_t nt_hash[16];
	uint32_t cram_ctx[8]; /* HMAC-MD5 inner and outer MD5 states */
	uint8_t has; /* SASL_HAS_* */
};

struct sasl_db {
	struct sasl_user *users;
	uint32_t n;
	uint32_t cap;
};

/*
 * Parse one line (no newline) into *u. 0, 1 for a blank or comment line,
 * or -EINVAL. Pure.
 */
int sasl_userdb_parse_line(const char *line, size_t len, struct sasl_user *u);
/*
 * Parse a whole file into db->users[0..cap). 0, or -EINVAL with *errline
 * set to the bad line (1-based), -ENOSPC past cap, -EEXIST for a name
 * given twice. Pure.
 */
int sasl_userdb_parse(const char *text, size_t len, struct sasl_db *db,
    int *errline);
const struct sasl_user *
sasl_userdb_find(const struct sasl_db *db, const char *name, size_t len);
/* One line with its newline; its length, or -ENOSPC. */
int sasl_userdb_fmt(const struct sasl_user *u, char *out, size_t size);
/* Every secret the build can use, with fresh random salts. */
int sasl_user_derive(struct sasl_user *u, const char *name, const char *pw,
    size_t pwlen);
/* Is the name acceptable (printable UTF-8/ASCII, no space, ':' or '=')? */
bool sasl_user_name_ok(const char *name, size_t len);
/* Read and parse FILE into arena memory (start-up). */
int sasl_userdb_load(const char *path, struct sasl_db *db, int *errline);
/* Replace FILE atomically (temp file, fsync, rename, fsync dir), 0600. */
int sasl_userdb_save(const char *path, const struct sasl_db *db);

/* ---- primitives ---------------------------------------------------------- */

/* SHA-crypt $6$ (Drepper); out gets "$6$...$hash". 0 or -EINVAL. */
int sasl_crypt_sha512(const char *pw, size_t pwlen, const char *setting,
    char *out, size_t size);
/* Does pw match the stored SHA-crypt string (constant time at the end)? */
bool sasl_crypt_check(const char *pw, size_t pwlen, const char *stored);
/* MD4 (RFC 1320), for the NT hash. */
void sasl_md4(const void *data, size_t len, uint8_t out[16]);
/* NT hash: MD4 of the UTF-16LE password (UTF-8 in). 0 or -EINVAL. */
int sasl_nt_hash(const char *pw, size_t pwlen, uint8_t out[16]);

/* ---- server exchanges ------------------------------------------------ */

enum sasl_rc {
	SASL_CONTINUE, /* send *out as a 334 challenge */
	SASL_OK, /* authenticated as x->user */
	SASL_FAIL, /* wrong credentials or unknown user: 535 */
	SASL_WEAK, /* the user has no secret for this mechanism: 534 */
	SASL_BAD, /* malformed exchange: 501 5.5.2 */
};

struct sasl_mech;

/* One exchange in progress; zeroised when it ends. */
struct sasl_srv {
	const struct sasl_mech *mech;
	const struct sasl_db *db;
	const char *hostname; /* CRAM-MD5 challenge, NTLM target */
	uint32_t step;
	char user[SASL_USER_MAX + 1]; /* the identity, once known */
	union {
		struct {
			char chal[160];
			uint32_t len;
		} cram;
		struct {
			uint8_t chal[8];
		} ntlm;
		struct {
			char msg[700]; /* client-first-bare,server-first */
			uint32_t len;
			uint32_t nonce_off; /* the combined nonce in msg */
			uint32_t nonce_len;
			char gs2[SASL_USER_MAX * 3 + 8]; /* "n,a=...," */
			uint32_t gs2_len;
			bool known; /* the user exists, with SCRAM keys */
		} scram;
	} u;
};

struct sasl_mech {
	const char *name;
	unsigned bit; /* CONF_AUTH_* */
	/*
	 * One step: in is the decoded response (has_in false: AUTH without
	 * an initial response, the first call). A challenge goes to out
	 * (*outlen bytes, room SASL_DATA_MAX).
	 */
	enum sasl_rc (*step)(struct sasl_srv *x, const uint8_t *in, size_t len,
	    bool has_in, uint8_t *out, size_t *outlen);
};

extern const struct sasl_mech sasl_plain, sasl_login, sasl_cram, sasl_scram,
    sasl_ntlm;

/* The mechanisms built in, strongest first; NULL-terminated. */
extern const struct sasl_mech *const sasl_mechs[];
const struct sasl_mech *sasl_mech_find(const char *name, size_t len);
void sasl_srv_init(struct sasl_srv *x, const struct sasl_mech *m,
    const struct sasl_db *db, const char *hostname);
/* Wipe the exchange (secrets, nonces). */
void sasl_srv_end(struct sasl_srv *x);

/* For the mechanisms: note the identity and find its entry (or NULL). */
const struct sasl_user *
sasl_srv_user(struct sasl_srv *x, const char *name, size_t len);
/* Check a password against the entry's SHA-crypt hash. */
enum sasl_rc sasl_srv_password(struct sasl_srv *x, const char *name,
    size_t nlen, const char *pw, size_t pwlen);

/* ---- client exchanges (outbound AUTH, sasl_client.c) ---------------- */

/* One exchange as a client; zeroised when it ends. */
struct sasl_cli {
	unsigned mech; /* CONF_AUTH_* */
	const char *user;
	const char *pass;
	uint32_t step;
	char bare[SASL_USER_MAX * 3 + 64]; /* SCRAM client-first-bare */
	uint8_t server_sig[32];
};

/* The strongest mechanism of `offered` the client has, or 0. */
unsigned sasl_cli_choose(unsigned offered);
const char *sasl_cli_name(unsigned mech);
/* Mechanism names of an EHLO AUTH keyword's value -> CONF_AUTH_* bits. */
unsigned sasl_cli_parse_mechs(const char *s, size_t len);
/*
 * Start: *has_ir tells if out holds an initial response. 0, or -EINVAL
 * (unknown mechanism, a user name that cannot be sent).
 */
int sasl_cli_start(struct sasl_cli *c, unsigned mech, const char *user,
    const char *pass, uint8_t *out, size_t *outlen, bool *has_ir);
/* A 334 challenge (decoded) -> the response. 0, or -EINVAL (a bad or
 * forged server message: SCRAM's ServerSignature is checked). */
int sasl_cli_step(struct sasl_cli *c, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen);
/* After 235: false if the mechanism had more to check (SCRAM v=). */
bool sasl_cli_done(const struct sasl_cli *c);
void sasl_cli_end(struct sasl_cli *c);

#endif
