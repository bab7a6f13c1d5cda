/*
 * tls_entropy.c — mbedTLS's entropy source. On musl mbedTLS would read
 * /dev/random, which a FROM-scratch container or an empty chroot does not
 * have; with MBEDTLS_ENTROPY_HARDWARE_ALT it calls this instead, and this
 * asks the kernel directly (getrandom(2), no file needed).
 */
#include <string.h>

#include <mbedtls/build_info.h>
#include <mbedtls/entropy.h>
#include "tls/tls.h"

int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len,
    size_t *olen);

int
mbedtls_hardware_poll(void *data, unsigned char *output, size_t len,
    size_t *olen)
{
	if (rand_bytes(output, len) < 0) {
		*olen = 0;
		return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
	}
	*olen = len;
	return 0;
}
