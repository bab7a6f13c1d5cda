/*
 * tls_version.c — which mbedTLS this binary carries (tern -V).
 */
#include <stdio.h>

#include "mbedtls/build_info.h"
#include "tls/tls.h"

const char *
tls_library_version(void)
{
	return "mbedTLS " MBEDTLS_VERSION_STRING;
}
