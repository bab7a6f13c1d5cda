/*
 * sasl_client.c — the client side of SCRAM-SHA-256, CRAM-MD5, PLAIN and
 * LOGIN for outbound AUTH to smart hosts (RFC 4954), strongest first. The
 * password stays in the caller's memory; what is derived from it here is
 * zeroised. SCRAM checks the server's signature (RFC 5802 9: a server
 * that cannot prove it knows the keys is not trusted with the message).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl/sasl.h"
#include "tls/tls.h"

static const struct {
	unsigned mech;
	const char *name;
} sasl_cli_mechs[] = {
	{ CONF_AUTH_SCRAM, "SCRAM-SHA-256" },
	{ CONF_AUTH_CRAM_MD5, "CRAM-MD5" },
	{ CONF_AUTH_PLAIN, "PLAIN" },
	{ CONF_AUTH_LOGIN, "LOGIN" },
};

unsigned
sasl_cli_choose(unsigned offered)
{
	size_t k;

	for (k = 0; k < ARRAY_SIZE(sasl_cli_mechs); k++) {
		if (offered & sasl_cli_mechs[k].mech) {
			return sasl_cli_mechs[k].mech;
		}
	}
	return 0;
}

const char *
sasl_cli_name(unsigned mech)
{
	size_t k;

	for (k = 0; k < ARRAY_SIZE(sasl_cli_mechs); k++) {
		if (mech == sasl_cli_mechs[k].mech) {
			return sasl_cli_mechs[k].name;
		}
	}
	return "?";
}

unsigned
sasl_cli_parse_mechs(const char *s, size_t len)
{
	unsigned bits = 0;
	size_t i = 0, start, k;

	while (i < len) {
		for (start = i; i < len && s[i] != ' '; i++) {
			;
		}
		for (k = 0; k < ARRAY_SIZE(sasl_cli_mechs); k++) {
			const char *n = sasl_cli_mechs[k].name;

			if (str_ieq(s + start, i - start, n, strlen(n))) {
				bits |= sasl_cli_mechs[k].mech;
			}
		}
		i++;
	}
	return bits;
}

static size_t
sasl_cli_put(uint8_t *out, const char *s)
{
	size_t n = strlen(s);

	memcpy(out, s, n);
	return n;
}

/* SCRAM saslname: ',' -> "=2C", '=' -> "=3D" */
static int
sasl_cli_saslname(const char *user, char *out, size_t size)
{
	size_t n = 0;

	for (; *user != '\0'; user++) {
		const char *e = *user == ',' ? "=2C" :
		    *user == '='             ? "=3D" :
		                               NULL;
		size_t l = e != NULL ? 3 : 1;

		if (n + l >= size) {
			return -EINVAL;
		}
		memcpy(out + n, e != NULL ? e : user, l);
		n += l;
	}
	out[n] = '\0';
	return 0;
}

int
sasl_cli_start(struct sasl_cli *c, unsigned mech, const char *user,
    const char *pass, uint8_t *out, size_t *outlen, bool *has_ir)
{
	size_t ul = strlen(user), pl = strlen(pass);
	char name[SASL_USER_MAX * 3 + 1], nonce[32];
	uint8_t r[18];

	memset(c, 0, sizeof(*c));
	c->mech = mech;
	c->user = user;
	c->pass = pass;
	*outlen = 0;
	*has_ir = false;
	if (ul == 0 || ul > SASL_USER_MAX || pl > SASL_PASS_MAX) {
		return -EINVAL;
	}
	switch (mech) {
	case CONF_AUTH_PLAIN: /* RFC 4616: NUL user NUL password */
		out[0] = '\0';
		memcpy(out + 1, user, ul);
		out[1 + ul] = '\0';
		memcpy(out + 2 + ul, pass, pl);
		*outlen = 2 + ul + pl;
		*has_ir = true;
		return 0;
	case CONF_AUTH_LOGIN:
	case CONF_AUTH_CRAM_MD5:
		return 0;
	case CONF_AUTH_SCRAM:
		if (sasl_cli_saslname(user, name, sizeof(name)) < 0 ||
		    rand_bytes(r, sizeof(r)) < 0 ||
		    sasl_b64_encode(r, sizeof(r), nonce, sizeof(nonce)) < 0) {
			return -EINVAL;
		}
		snprintf(c->bare, sizeof(c->bare), "n=%s,r=%s", name, nonce);
		*outlen = sasl_cli_put(out, "n,,");
		*outlen += sasl_cli_put(out + 3, c->bare);
		*has_ir = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int
sasl_cli_cram(struct sasl_cli *c, const uint8_t *in, size_t len, uint8_t *out,
    size_t *outlen)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t mac[TLS_MD5_LEN];
	size_t ul = strlen(c->user), k;

	tls_hmac_md5(c->pass, strlen(c->pass), in, len, mac);
	memcpy(out, c->user, ul);
	out[ul] = ' ';
	for (k = 0; k < sizeof(mac); k++) {
		out[ul + 1 + 2 * k] = (uint8_t)hex[mac[k] >> 4];
		out[ul + 2 + 2 * k] = (uint8_t)hex[mac[k] & 15];
	}
	*outlen = ul + 1 + 2 * sizeof(mac);
	tls_zero(mac, sizeof(mac));
	return 0;
}

/* server-first "r=NONCE,s=SALT,i=ITER" -> client-final (RFC 5802 3) */
static int
sasl_cli_scram(struct sasl_cli *c, const char *in, size_t len, uint8_t *out,
    size_t *outlen)
{
	char sf[512], am[1200], wo[300], p64[64];
	const char *r, *s, *i;
	uint8_t salt[64], salted[32], ck[32], sk[32], stored[32], sig[32];
	size_t k,
	    nlen = strlen(c->bare) - (size_t)(strchr(c->bare, ',') - c->bare) -
	    3;
	long iter;
	int sl, n;

	if (len >= sizeof(sf)) {
		return -EINVAL;
	}
	memcpy(sf, in, len);
	sf[len] = '\0';
	r = strncmp(sf, "r=", 2) == 0 ? sf + 2 : NULL;
	s = strstr(sf, ",s=");
	i = strstr(sf, ",i=");
	/* the nonce must start with ours (client-first-bare "...,r=") */
	if (r == NULL || s == NULL || i == NULL || s < r ||
	    strncmp(r, strchr(c->bare, ',') + 3, nlen) != 0) {
		return -EINVAL;
	}
	iter = strtol(i + 3, NULL, 10);
	sl = sasl_b64_decode(s + 3, (size_t)(i - s - 3), salt, sizeof(salt));
	if (iter < 1 || iter > 10000000 || sl <= 0 ||
	    tls_pbkdf2_sha256(c->pass, strlen(c->pass), salt, (size_t)sl,
	        (uint32_t)iter, salted, sizeof(salted)) < 0) {
		return -EINVAL;
	}
	snprintf(wo, sizeof(wo), "c=biws,r=%.*s", (int)(s - r), r);
	n = snprintf(am, sizeof(am), "%s,%s,%s", c->bare, sf, wo);
	if (n < 0 || (size_t)n >= sizeof(am)) {
		return -EINVAL;
	}
	tls_hmac_sha256(salted, 32, "Client Key", 10, ck);
	tls_sha256(ck, 32, stored);
	tls_hmac_sha256(stored, 32, am, (size_t)n, sig);
	for (k = 0; k < 32; k++) {
		ck[k] ^= sig[k]; /* ClientProof */
	}
	tls_hmac_sha256(salted, 32, "Server Key", 10, sk);
	tls_hmac_sha256(sk, 32, am, (size_t)n, c->server_sig);
	sasl_b64_encode(ck, 32, p64, sizeof(p64));
	*outlen = (size_t)snprintf((char *)out, SASL_DATA_MAX, "%s,p=%s", wo,
	    p64);
	tls_zero(salted, sizeof(salted));
	tls_zero(ck, sizeof(ck));
	tls_zero(sk, sizeof(sk));
	tls_zero(stored, sizeof(stored));
	return 0;
}

int
sasl_cli_step(struct sasl_cli *c, const uint8_t *in, size_t len, uint8_t *out,
    size_t *outlen)
{
	char v[64];

	*outlen = 0;
	c->step++;
	switch (c->mech) {
	case CONF_AUTH_PLAIN:
		return len == 0 && c->step == 1 ? 0 : -EINVAL;
	case CONF_AUTH_LOGIN: /* "Username:", then "Password:" */
		if (c->step > 2) {
			return -EINVAL;
		}
		*outlen = sasl_cli_put(out, c->step == 1 ? c->user : c->pass);
		return 0;
	case CONF_AUTH_CRAM_MD5:
		return c->step == 1 ? sasl_cli_cram(c, in, len, out, outlen) :
		                      -EINVAL;
	case CONF_AUTH_SCRAM:
		if (c->step == 1) {
			return sasl_cli_scram(c, (const char *)in, len, out,
			    outlen);
		}
		memcpy(v, "v=", 2);
		sasl_b64_encode(c->server_sig, 32, v + 2, sizeof(v) - 2);
		if (c->step != 2 || len != strlen(v) ||
		    !tls_ct_equal(in, v, len)) {
			return -EINVAL; /* not the server we share keys with */
		}
		c->step = 3;
		return 0;
	default:
		return -EINVAL;
	}
}

bool
sasl_cli_done(const struct sasl_cli *c)
{
	return c->mech != CONF_AUTH_SCRAM || c->step == 3;
}

void
sasl_cli_end(struct sasl_cli *c)
{
	tls_zero(c, sizeof(*c));
}
