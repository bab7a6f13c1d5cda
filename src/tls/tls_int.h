/*
 * tls_int.h — shared by the files of the TLS part only: the process-wide
 * generator and what the connections need from the credentials.
 */
#ifndef TERN_TLS_INT_H
#define TERN_TLS_INT_H

#include <mbedtls/build_info.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>

#include "tls/tls.h"

struct tls_global {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	bool ready;
};

extern struct tls_global tls_g;

/* tls_ctx.c */
const mbedtls_ssl_config *tls_cred_conf(const struct tls_cred *t);
bool tls_cred_verifies(const struct tls_cred *t);

/* tls_conn.c */
int tls_conn_pool_init(void);

#endif
