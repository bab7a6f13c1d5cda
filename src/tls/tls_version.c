/*
 * tls_version.c — which mbedTLS this binary carries, and a known-answer
 * check that the library linked in is the one configured (tern -V).
 */
#include <string.h>

#include <mbedtls/build_info.h>
#include <mbedtls/sha256.h>
#include "tls/tls.h"

const char *
tls_library_version(void)
{
	return "mbedTLS " MBEDTLS_VERSION_STRING;
}

bool
tls_selftest(void)
{
	/* FIPS 180-2 appendix B.1: SHA-256("abc") */
	static const unsigned char want[32] = {
		0xba,
		0x78,
		0x16,
		0xbf,
		0x8f,
		0x01,
		0xcf,
		0xea,
		0x41,
		0x41,
		0x40,
		0xde,
		0x5d,
		0xae,
		0x22,
		0x23,
		0xb0,
		0x03,
		0x61,
		0xa3,
		0x96,
		0x17,
		0x7a,
		0x9c,
		0xb4,
		0x10,
		0xff,
		0x61,
		0xf2,
		0x00,
		0x15,
		0xad,
	};
	unsigned char got[32];

	if (mbedtls_sha256((const unsigned char *)"abc", 3, got, 0) != 0) {
		return false;
	}
	return memcmp(got, want, sizeof(got)) == 0;
}
