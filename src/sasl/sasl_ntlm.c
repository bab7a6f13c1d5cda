/*
 * sasl_ntlm.c — NTLM (MS-NLMP) as an SMTP AUTH mechanism, server side,
 * NTLMv2 only:
 *
 *   C: Type 1 (NEGOTIATE)        S: Type 2 (CHALLENGE: 8 random bytes,
 *   C: Type 3 (AUTHENTICATE)        target info with the domain names)
 *
 * MS-NLMP 3.3.2: NTOWFv2 = HMAC-MD5(NT hash, UTF-16LE(upper(user) +
 * domain)), NTProofStr = HMAC-MD5(NTOWFv2, server challenge + blob), the
 * first 16 bytes of the NT response. A 24-byte NT response (NTLMv1, or
 * NTLM2 session response) or an LM-only answer is refused. Every offset
 * and length of the Type 3 message is checked against its size; upper()
 * is ASCII only (non-ASCII user names must be sent as stored). The host
 * names in the challenge are cut to 48 bytes so that it fits one reply.
 */
#include <string.h>

#include "sasl/sasl.h"
#include "tls/tls.h"

#define SASL_NTLM_UNICODE 0x00000001u
#define SASL_NTLM_REQUEST_TARGET 0x00000004u
#define SASL_NTLM_NTLM 0x00000200u
#define SASL_NTLM_ALWAYS_SIGN 0x00008000u
#define SASL_NTLM_TARGET_DOMAIN 0x00010000u
#define SASL_NTLM_ESS 0x00080000u
#define SASL_NTLM_TARGET_INFO 0x00800000u
#define SASL_NTLM_BLOB_MAX 1024
#define SASL_NTLM_NAME_MAX 256 /* UTF-16LE bytes of a user or domain */

static const uint8_t sasl_ntlm_sig[8] = { 'N', 'T', 'L', 'M', 'S', 'S', 'P',
	0 };

/* ASCII text as UTF-16LE, upper-cased if asked; bytes written. */
static size_t
sasl_ntlm_wide(uint8_t *out, const char *s, size_t len, bool upper)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (upper && c >= 'a' && c <= 'z') {
			c = (char)(c - 'a' + 'A');
		}
		le_put16(out + 2 * i, (uint8_t)c);
	}
	return 2 * len;
}

/* One AV pair (MS-NLMP 2.2.2.1) of ASCII text. */
static size_t
sasl_ntlm_av(uint8_t *out, uint16_t id, const char *s, size_t len)
{
	le_put16(out, id);
	le_put16(out + 2, (uint16_t)(2 * len));
	return 4 + sasl_ntlm_wide(out + 4, s, len, false);
}

/* NetBIOS domain: the host name's first label, upper-cased, <= 15. */
static size_t
sasl_ntlm_netbios(const char *host, char out[16])
{
	size_t n;

	for (n = 0; n < 15 && host[n] != '\0' && host[n] != '.'; n++) {
		out[n] = host[n] >= 'a' && host[n] <= 'z' ?
		    (char)(host[n] - 'a' + 'A') :
		    host[n];
	}
	out[n] = '\0';
	return n;
}

static enum sasl_rc
sasl_ntlm_challenge(struct sasl_srv *x, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen)
{
	const char *host = x->hostname != NULL ? x->hostname : "localhost";
	const char *dot = strchr(host, '.');
	const char *dns = dot != NULL ? dot + 1 : host;
	size_t hlen = strnlen(host, 48), dlen = strnlen(dns, 48), nb, n, info;
	char netbios[16];

	if (len < 16 || memcmp(in, sasl_ntlm_sig, 8) != 0 ||
	    le_get32(in + 8) != 1) {
		return SASL_BAD;
	}
	if (rand_bytes(x->u.ntlm.chal, 8) < 0) {
		return SASL_FAIL;
	}
	nb = sasl_ntlm_netbios(host, netbios);
	memset(out, 0, 48);
	memcpy(out, sasl_ntlm_sig, 8);
	le_put32(out + 8, 2);
	n = 48 + sasl_ntlm_wide(out + 48, netbios, nb, false);
	le_put16(out + 12, (uint16_t)(n - 48));
	le_put16(out + 14, (uint16_t)(n - 48));
	le_put32(out + 16, 48);
	le_put32(out + 20,
	    SASL_NTLM_UNICODE | SASL_NTLM_REQUEST_TARGET | SASL_NTLM_NTLM |
	        SASL_NTLM_ALWAYS_SIGN | SASL_NTLM_TARGET_DOMAIN |
	        SASL_NTLM_ESS | SASL_NTLM_TARGET_INFO);
	memcpy(out + 24, x->u.ntlm.chal, 8);
	info = n;
	n += sasl_ntlm_av(out + n, 2, netbios, nb); /* MsvAvNbDomainName */
	n += sasl_ntlm_av(out + n, 1, netbios, nb); /* MsvAvNbComputerName */
	n += sasl_ntlm_av(out + n, 4, dns, dlen); /* MsvAvDnsDomainName */
	n += sasl_ntlm_av(out + n, 3, host, hlen); /* MsvAvDnsComputerName */
	memset(out + n, 0, 4); /* MsvAvEOL */
	n += 4;
	le_put16(out + 40, (uint16_t)(n - info));
	le_put16(out + 42, (uint16_t)(n - info));
	le_put32(out + 44, (uint32_t)info);
	*outlen = n;
	x->step = 1;
	return SASL_CONTINUE;
}

/* A security buffer of the message: bounds-checked; false if outside. */
static bool
sasl_ntlm_field(const uint8_t *m, size_t len, size_t at, const uint8_t **p,
    size_t *n)
{
	size_t l = le_get16(m + at), off = le_get32(m + at + 4);

	if (off > len || l > len - off) {
		return false;
	}
	*p = m + off;
	*n = l;
	return true;
}

/* UTF-16LE (or OEM bytes) -> UTF-8 user name for the database; -1 bad */
static int
sasl_ntlm_narrow(const uint8_t *p, size_t n, bool unicode, char *out,
    size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < n; i += unicode ? 2 : 1) {
		uint32_t c = unicode ? le_get16(p + i) : p[i];
		int k = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;

		if (c == 0 || (c >= 0xd800 && c <= 0xdfff) ||
		    (!unicode && c >= 0x80) || o + (size_t)k >= size) {
			return -1;
		}
		if (k == 1) {
			out[o++] = (char)c;
		} else if (k == 2) {
			out[o++] = (char)(0xc0 | (c >> 6));
			out[o++] = (char)(0x80 | (c & 0x3f));
		} else {
			out[o++] = (char)(0xe0 | (c >> 12));
			out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[o] = '\0';
	return (int)o;
}

/* UTF-16LE of the text (widened if OEM), ASCII upper-cased if asked. */
static size_t
sasl_ntlm_utf16(uint8_t *out, const uint8_t *p, size_t n, bool unicode,
    bool upper)
{
	size_t i;

	if (!unicode) {
		return sasl_ntlm_wide(out, (const char *)p, n, upper);
	}
	for (i = 0; i + 1 < n; i += 2) {
		uint16_t c = le_get16(p + i);

		if (upper && c >= 'a' && c <= 'z') {
			c = (uint16_t)(c - 'a' + 'A');
		}
		le_put16(out + i, c);
	}
	return n;
}

static enum sasl_rc
sasl_ntlm_verify(struct sasl_srv *x, const uint8_t *m, size_t len)
{
	const uint8_t *nt, *dom, *usr;
	size_t ntlen, dlen, ulen, n;
	const struct sasl_user *u;
	/* user <= 64 UTF-16 units; an OEM domain doubles when widened */
	uint8_t id[2 * SASL_USER_MAX * 2 + 2 * SASL_NTLM_NAME_MAX], key[16];
	uint8_t proof[16];
	uint8_t buf[8 + SASL_NTLM_BLOB_MAX];
	char name[SASL_USER_MAX + 1];
	bool unicode, ok;

	if (len < 64 || memcmp(m, sasl_ntlm_sig, 8) != 0 ||
	    le_get32(m + 8) != 3 || !sasl_ntlm_field(m, len, 20, &nt, &ntlen) ||
	    !sasl_ntlm_field(m, len, 28, &dom, &dlen) ||
	    !sasl_ntlm_field(m, len, 36, &usr, &ulen)) {
		return SASL_BAD;
	}
	unicode = (le_get32(m + 60) & SASL_NTLM_UNICODE) != 0;
	if (ulen == 0 || ulen > SASL_NTLM_NAME_MAX ||
	    dlen > SASL_NTLM_NAME_MAX || (unicode && (ulen | dlen) & 1) ||
	    sasl_ntlm_narrow(usr, ulen, unicode, name, sizeof(name)) <= 0) {
		return SASL_FAIL;
	}
	u = sasl_srv_user(x, name, strlen(name));
	/* NTLMv1 (24 bytes), LM only (0), or an over-long blob */
	if (ntlen < 16 + 28 || ntlen > 16 + SASL_NTLM_BLOB_MAX || u == NULL) {
		return SASL_FAIL;
	}
	if (!(u->has & SASL_HAS_NT)) {
		return SASL_WEAK;
	}
	n = sasl_ntlm_utf16(id, usr, ulen, unicode, true);
	n += sasl_ntlm_utf16(id + n, dom, dlen, unicode, false);
	tls_hmac_md5(u->nt_hash, 16, id, n, key); /* NTOWFv2 */
	memcpy(buf, x->u.ntlm.chal, 8);
	memcpy(buf + 8, nt + 16, ntlen - 16);
	tls_hmac_md5(key, sizeof(key), buf, 8 + ntlen - 16, proof);
	ok = tls_ct_equal(proof, nt, 16);
	tls_zero(key, sizeof(key));
	tls_zero(proof, sizeof(proof));
	return ok ? SASL_OK : SASL_FAIL;
}

static enum sasl_rc
sasl_ntlm_step(struct sasl_srv *x, const uint8_t *in, size_t len, bool has_in,
    uint8_t *out, size_t *outlen)
{
	*outlen = 0;
	if (x->step == 0) {
		return has_in ? sasl_ntlm_challenge(x, in, len, out, outlen) :
		                SASL_CONTINUE;
	}
	return sasl_ntlm_verify(x, in, len);
}

const struct sasl_mech sasl_ntlm = { "NTLM", CONF_AUTH_NTLM, sasl_ntlm_step };
