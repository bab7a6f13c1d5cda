/*
 * sasl_plain.c — PLAIN (RFC 4616): one message
 *   [authzid] NUL authcid NUL passwd
 * checked against the user's SHA-crypt hash. An authorization identity
 * other than the user's own is refused (no proxy authorization).
 */
#include <string.h>

#include "sasl/sasl.h"

static enum sasl_rc
sasl_plain_step(struct sasl_srv *x, const uint8_t *in, size_t len, bool has_in,
    uint8_t *out, size_t *outlen)
{
	const char *p = (const char *)in, *nul1, *nul2;
	size_t zlen, clen;

	*outlen = 0;
	if (!has_in) {
		return SASL_CONTINUE; /* "334 " and the message next */
	}
	nul1 = memchr(p, '\0', len);
	nul2 = nul1 != NULL ?
	    memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - p)) :
	    NULL;
	if (nul2 == NULL) {
		return SASL_BAD;
	}
	zlen = (size_t)(nul1 - p);
	clen = (size_t)(nul2 - nul1 - 1);
	if (clen == 0 ||
	    (zlen != 0 && (zlen != clen || memcmp(p, nul1 + 1, clen) != 0))) {
		(void)sasl_srv_user(x, nul1 + 1, clen);
		return SASL_FAIL;
	}
	return sasl_srv_password(x, nul1 + 1, clen, nul2 + 1,
	    len - (size_t)(nul2 + 1 - p));
}

const struct sasl_mech sasl_plain = { "PLAIN", CONF_AUTH_PLAIN,
	sasl_plain_step };
