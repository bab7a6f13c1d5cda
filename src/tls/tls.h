/*
 * tls.h — the TLS part: the only code that calls mbedtls_* or psa_*.
 * For now it proves the build pipeline (mbedTLS from Debian's source,
 * configured from Kconfig, linked statically) and gives mbedTLS its
 * entropy from getrandom(); STARTTLS arrives with its own issue.
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include "core/core.h"

/* "mbedTLS 3.6.6" */
const char *tls_library_version(void);
/* A known-answer check of the linked library (SHA-256 of "abc"). */
bool tls_selftest(void);

#endif
