/*
 * sasl_cram.c — CRAM-MD5 (RFC 2195): the server sends a unique challenge
 * "<random.time@hostname>", the client answers "user SP hex(HMAC-MD5(
 * password, challenge))". The database keeps the HMAC-MD5 context (the
 * MD5 states after the padded key blocks), not the password.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sasl/sasl.h"
#include "tls/tls.h"

static enum sasl_rc
sasl_cram_challenge(struct sasl_srv *x, uint8_t *out, size_t *outlen)
{
	uint64_t r;
	int n;

	if (rand_bytes(&r, sizeof(r)) < 0) {
		return SASL_FAIL;
	}
	n = snprintf(x->u.cram.chal, sizeof(x->u.cram.chal), "<%llu.%lld@%s>",
	    (unsigned long long)r, (long long)time(NULL),
	    x->hostname != NULL ? x->hostname : "localhost");
	if (n < 0 || (size_t)n >= sizeof(x->u.cram.chal)) {
		return SASL_FAIL;
	}
	x->u.cram.len = (uint32_t)n;
	memcpy(out, x->u.cram.chal, (size_t)n);
	*outlen = (size_t)n;
	x->step = 1;
	return SASL_CONTINUE;
}

static enum sasl_rc
sasl_cram_step(struct sasl_srv *x, const uint8_t *in, size_t len, bool has_in,
    uint8_t *out, size_t *outlen)
{
	static const char hex[] = "0123456789abcdef";
	const struct sasl_user *u;
	const char *p = (const char *)in, *sp;
	uint8_t mac[TLS_MD5_LEN];
	char want[2 * TLS_MD5_LEN];
	size_t k;
	bool ok;

	if (x->step == 0) {
		/* RFC 2195 has no initial response */
		return has_in ? SASL_BAD : sasl_cram_challenge(x, out, outlen);
	}
	*outlen = 0;
	sp = len > 2 * TLS_MD5_LEN ? memrchr(p, ' ', len) : NULL;
	if (sp == NULL || (size_t)(p + len - sp - 1) != 2 * TLS_MD5_LEN) {
		return SASL_BAD;
	}
	u = sasl_srv_user(x, p, (size_t)(sp - p));
	if (u == NULL) {
		return SASL_FAIL;
	}
	if (!(u->has & SASL_HAS_CRAM)) {
		return SASL_WEAK;
	}
	tls_hmac_md5_resume(u->cram_ctx, x->u.cram.chal, x->u.cram.len, mac);
	for (k = 0; k < sizeof(mac); k++) {
		want[2 * k] = hex[mac[k] >> 4];
		want[2 * k + 1] = hex[mac[k] & 15];
	}
	/* clients send lowercase hex (RFC 2195 2) */
	ok = tls_ct_equal(want, sp + 1, sizeof(want));
	tls_zero(mac, sizeof(mac));
	tls_zero(want, sizeof(want));
	return ok ? SASL_OK : SASL_FAIL;
}

const struct sasl_mech sasl_cram = { "CRAM-MD5", CONF_AUTH_CRAM_MD5,
	sasl_cram_step };
