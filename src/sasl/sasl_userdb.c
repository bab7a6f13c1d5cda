/*
 * sasl_userdb.c — the AUTH user database: one line per user with secrets
 * derived from the password, never the password itself:
 *
 *   NAME crypt=$6$SALT$HASH scram=ITER,SALT64,STORED64,SERVER64
 *        nt=HEX32 cram=HEX64                     (one line)
 *
 * crypt= serves PLAIN and LOGIN, scram= SCRAM-SHA-256, nt= NTLM, cram=
 * CRAM-MD5 (the HMAC-MD5 context, 8 little-endian words). A field the
 * build cannot use is kept as it is read but not required. '#' starts a
 * comment line. Parsing is pure; load and save are the only I/O.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sasl/sasl.h"
#include "tls/tls.h"

#define SASL_USERDB_FILE_MAX (64u * 1024 * 1024)

bool
sasl_user_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > SASL_USER_MAX) {
		return false;
	}
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];

		if (c <= ' ' || c == 0x7f || c == ':' || c == '=' || c == ',' ||
		    c == '#') {
			return false;
		}
	}
	return true;
}

/* SHA-crypt's alphabet, "$" and "rounds=" */
static const char sasl_userdb_crypt_chars[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz$=";

static bool
sasl_userdb_crypt_ok(const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (v[i] == '\0' ||
		    strchr(sasl_userdb_crypt_chars, v[i]) == NULL) {
			return false;
		}
	}
	return true;
}

static int
sasl_userdb_hex(const char *s, size_t len, uint8_t *out, size_t n)
{
	size_t i;

	if (len != 2 * n) {
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		const char *h = "0123456789abcdef";
		const char *p = memchr(h, s[i], 16);

		if (p == NULL || s[i] == '\0') {
			return -EINVAL;
		}
		out[i / 2] = (uint8_t)((out[i / 2] << 4) | (uint8_t)(p - h));
	}
	return 0;
}

/* scram=ITER,SALT64,STORED64,SERVER64 */
static int
sasl_userdb_scram(const char *v, size_t len, struct sasl_user *u)
{
	const char *end = v + len, *c1, *c2, *c3;
	unsigned long it = 0;
	size_t i;

	c1 = memchr(v, ',', len);
	c2 = c1 != NULL ? memchr(c1 + 1, ',', (size_t)(end - c1 - 1)) : NULL;
	c3 = c2 != NULL ? memchr(c2 + 1, ',', (size_t)(end - c2 - 1)) : NULL;
	if (c3 == NULL || c1 == v || c1 - v > 9) {
		return -EINVAL;
	}
	for (i = 0; v + i < c1; i++) {
		if (v[i] < '0' || v[i] > '9') {
			return -EINVAL;
		}
		it = it * 10 + (unsigned long)(v[i] - '0');
	}
	if (it < 1 || it > 10000000) {
		return -EINVAL;
	}
	u->scram_iter = (uint32_t)it;
	i = (size_t)sasl_b64_decode(c1 + 1, (size_t)(c2 - c1 - 1),
	    u->scram_salt, sizeof(u->scram_salt));
	if ((int)i <= 0 ||
	    sasl_b64_decode(c2 + 1, (size_t)(c3 - c2 - 1), u->stored_key, 32) !=
	        32 ||
	    sasl_b64_decode(c3 + 1, (size_t)(end - c3 - 1), u->server_key,
	        32) != 32) {
		return -EINVAL;
	}
	u->scram_salt_len = (uint8_t)i;
	return 0;
}

static int
sasl_userdb_field(const char *f, size_t len, struct sasl_user *u)
{
	const char *eq = memchr(f, '=', len);
	size_t klen, vlen;
	const char *v;
	uint8_t cram[32];
	int k;

	if (eq == NULL) {
		return -EINVAL;
	}
	klen = (size_t)(eq - f);
	v = eq + 1;
	vlen = len - klen - 1;
	if (klen == 5 && memcmp(f, "crypt", 5) == 0) {
		if (vlen < 4 || vlen >= sizeof(u->crypt) ||
		    memcmp(v, "$6$", 3) != 0 ||
		    !sasl_userdb_crypt_ok(v, vlen)) {
			return -EINVAL;
		}
		memcpy(u->crypt, v, vlen);
		u->crypt[vlen] = '\0';
		u->has |= SASL_HAS_CRYPT;
	} else if (klen == 5 && memcmp(f, "scram", 5) == 0) {
		if (sasl_userdb_scram(v, vlen, u) < 0) {
			return -EINVAL;
		}
		u->has |= SASL_HAS_SCRAM;
	} else if (klen == 2 && memcmp(f, "nt", 2) == 0) {
		if (sasl_userdb_hex(v, vlen, u->nt_hash, 16) < 0) {
			return -EINVAL;
		}
		u->has |= SASL_HAS_NT;
	} else if (klen == 4 && memcmp(f, "cram", 4) == 0) {
		if (sasl_userdb_hex(v, vlen, cram, sizeof(cram)) < 0) {
			return -EINVAL;
		}
		for (k = 0; k < 8; k++) {
			u->cram_ctx[k] = le_get32(cram + 4 * k);
		}
		u->has |= SASL_HAS_CRAM;
	} else {
		return -EINVAL;
	}
	return 0;
}

int
sasl_userdb_parse_line(const char *line, size_t len, struct sasl_user *u)
{
	size_t i = 0, start;
	bool first = true;

	memset(u, 0, sizeof(*u));
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) {
		len--;
	}
	if (len == 0 || line[0] == '#') {
		return 1;
	}
	while (i < len) {
		for (start = i; i < len && line[i] != ' ' && line[i] != '\t';
		     i++) {
			;
		}
		if (i == start) {
			i++;
			continue;
		}
		if (first) {
			if (!sasl_user_name_ok(line + start, i - start)) {
				return -EINVAL;
			}
			memcpy(u->name, line + start, i - start);
			first = false;
		} else if (sasl_userdb_field(line + start, i - start, u) < 0) {
			return -EINVAL;
		}
	}
	return u->has != 0 ? 0 : -EINVAL;
}

const struct sasl_user *
sasl_userdb_find(const struct sasl_db *db, const char *name, size_t len)
{
	uint32_t k;

	for (k = 0; db != NULL && k < db->n; k++) {
		const struct sasl_user *u = &db->users[k];

		if (strlen(u->name) == len && memcmp(u->name, name, len) == 0) {
			return u;
		}
	}
	return NULL;
}

int
sasl_userdb_parse(const char *text, size_t len, struct sasl_db *db,
    int *errline)
{
	size_t i = 0, e;
	int line = 0, rc;

	db->n = 0;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);

		e = nl != NULL ? (size_t)(nl - text) : len;
		line++;
		*errline = line;
		if (db->n == db->cap) {
			struct sasl_user tmp;

			rc = sasl_userdb_parse_line(text + i, e - i, &tmp);
			tls_zero(&tmp, sizeof(tmp));
			if (rc != 1) {
				return rc < 0 ? rc : -ENOSPC;
			}
		} else {
			rc = sasl_userdb_parse_line(text + i, e - i,
			    &db->users[db->n]);
			if (rc < 0) {
				return rc;
			}
			if (rc == 0 &&
			    sasl_userdb_find(db, db->users[db->n].name,
			        strlen(db->users[db->n].name)) != NULL) {
				return -EEXIST;
			}
			db->n += rc == 0;
		}
		i = e + 1;
	}
	*errline = 0;
	return 0;
}

static void
sasl_userdb_puthex(char *out, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
sasl_userdb_fmt(const struct sasl_user *u, char *out, size_t size)
{
	char salt[64], sk[64], svk[64], nt[33], cram[65];
	uint8_t c[32];
	size_t n;
	int k, rc;

	n = (size_t)snprintf(out, size, "%s", u->name);
	if ((u->has & SASL_HAS_CRYPT) && n < size) {
		n += (size_t)snprintf(out + n, size - n, " crypt=%s", u->crypt);
	}
	if ((u->has & SASL_HAS_SCRAM) && n < size) {
		(void)sasl_b64_encode(u->scram_salt, u->scram_salt_len, salt,
		    sizeof(salt));
		(void)sasl_b64_encode(u->stored_key, 32, sk, sizeof(sk));
		(void)sasl_b64_encode(u->server_key, 32, svk, sizeof(svk));
		n += (size_t)snprintf(out + n, size - n, " scram=%u,%s,%s,%s",
		    u->scram_iter, salt, sk, svk);
	}
	if ((u->has & SASL_HAS_NT) && n < size) {
		sasl_userdb_puthex(nt, u->nt_hash, 16);
		n += (size_t)snprintf(out + n, size - n, " nt=%s", nt);
	}
	if ((u->has & SASL_HAS_CRAM) && n < size) {
		for (k = 0; k < 8; k++) {
			le_put32(c + 4 * k, u->cram_ctx[k]);
		}
		sasl_userdb_puthex(cram, c, sizeof(c));
		n += (size_t)snprintf(out + n, size - n, " cram=%s", cram);
	}
	rc = n + 1 < size ? (int)n + 1 : -ENOSPC;
	if (rc > 0) {
		out[n] = '\n';
		out[n + 1] = '\0';
	}
	return rc;
}

/* SCRAM (RFC 5802 3): SaltedPassword, StoredKey, ServerKey */
static int
sasl_user_scram(struct sasl_user *u, const char *pw, size_t pwlen)
{
	uint8_t salted[32], ck[32];

	u->scram_iter = SASL_SCRAM_ITER;
	u->scram_salt_len = SASL_SCRAM_SALT;
	if (rand_bytes(u->scram_salt, SASL_SCRAM_SALT) < 0 ||
	    tls_pbkdf2_sha256(pw, pwlen, u->scram_salt, SASL_SCRAM_SALT,
	        SASL_SCRAM_ITER, salted, sizeof(salted)) < 0) {
		return -EIO;
	}
	tls_hmac_sha256(salted, 32, "Client Key", 10, ck);
	tls_sha256(ck, 32, u->stored_key);
	tls_hmac_sha256(salted, 32, "Server Key", 10, u->server_key);
	tls_zero(salted, sizeof(salted));
	tls_zero(ck, sizeof(ck));
	u->has |= SASL_HAS_SCRAM;
	return 0;
}

int
sasl_user_derive(struct sasl_user *u, const char *name, const char *pw,
    size_t pwlen)
{
	static const char abc[] =
	    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint8_t r[16];
	char setting[32];
	size_t k;

	memset(u, 0, sizeof(*u));
	if (!sasl_user_name_ok(name, strlen(name)) || pwlen == 0 ||
	    pwlen > SASL_PASS_MAX || rand_bytes(r, sizeof(r)) < 0) {
		return -EINVAL;
	}
	str_copy(u->name, name, sizeof(u->name));
	memcpy(setting, "$6$", 3);
	for (k = 0; k < sizeof(r); k++) {
		setting[3 + k] = abc[r[k] & 63];
	}
	setting[3 + sizeof(r)] = '\0';
	if (sasl_crypt_sha512(pw, pwlen, setting, u->crypt, sizeof(u->crypt)) <
	    0) {
		return -EINVAL;
	}
	u->has = SASL_HAS_CRYPT;
	if (sasl_user_scram(u, pw, pwlen) < 0 ||
	    sasl_nt_hash(pw, pwlen, u->nt_hash) < 0) {
		return -EINVAL;
	}
	u->has |= SASL_HAS_NT;
	tls_hmac_md5_ctx(pw, pwlen, u->cram_ctx);
	u->has |= SASL_HAS_CRAM;
	return 0;
}

/* ---- files -------------------------------------------------------- */

static int
sasl_userdb_read(const char *path, char **text, size_t *len)
{
	struct stat st;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) < 0 || st.st_size > (off_t)SASL_USERDB_FILE_MAX) {
		close(fd);
		return -EFBIG;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (*text == NULL) {
		close(fd);
		return -ENOMEM;
	}
	r = read(fd, *text, (size_t)st.st_size);
	close(fd);
	if (r != (ssize_t)st.st_size) {
		free(*text);
		return -EIO;
	}
	*len = (size_t)r;
	return 0;
}

int
sasl_userdb_load(const char *path, struct sasl_db *db, int *errline)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*errline = 0;
	rc = sasl_userdb_read(path, &text, &len);
	if (rc < 0) {
		return rc;
	}
	rc = sasl_userdb_parse(text, len, db, errline);
	tls_zero(text, len);
	free(text);
	return rc;
}

int
sasl_userdb_save(const char *path, const struct sasl_db *db)
{
	char tmp[4096], dir[4096], line[512];
	const char *slash = strrchr(path, '/');
	uint32_t k;
	int fd, n, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		return -errno;
	}
	for (k = 0; k < db->n && rc == 0; k++) {
		n = sasl_userdb_fmt(&db->users[k], line, sizeof(line));
		rc = n < 0 ? n : fs_pwrite_all(fd, line, (size_t)n, -1);
	}
	tls_zero(line, sizeof(line));
	if (rc == 0 && fsync(fd) < 0) {
		rc = -errno;
	}
	if (close(fd) < 0 && rc == 0) {
		rc = -errno;
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		rc = -errno;
	}
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	str_copy(dir, slash == NULL ? "." : path, sizeof(dir));
	if (slash != NULL) {
		dir[slash == path ? 1 : (size_t)(slash - path)] = '\0';
	}
	return fs_sync_dir(dir);
}
