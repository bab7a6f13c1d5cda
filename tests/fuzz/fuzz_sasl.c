/*
 * fuzz_sasl.c — the server mechanisms (src/sasl/) fed hostile exchanges.
 * The input is split at LF into at most 4 responses; the first byte picks
 * the mechanism and whether the first response is an initial response.
 * One user ("u", password "p") exists with every secret.
 *
 * Properties: no crash or out-of-bounds access (ASan); a challenge never
 * exceeds SASL_DATA_MAX; the verdict is one of the enum; a success names
 * the user that exists (no one authenticates as someone else); after a
 * verdict the exchange is over.
 */
#include <string.h>

#include "fuzz.h"

#include "sasl/sasl.h"

static struct sasl_user fuzz_user;
static struct sasl_db fuzz_db = { &fuzz_user, 0, 1 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[SASL_DATA_MAX];
	const struct sasl_mech *m;
	struct sasl_srv x;
	size_t nm = 0, off = 1, outlen;
	enum sasl_rc rc = SASL_CONTINUE;
	int steps;

	if (fuzz_db.n == 0) {
		FUZZ_CHECK(sasl_user_derive(&fuzz_user, "u", "p", 1) == 0);
		fuzz_db.n = 1;
	}
	if (size == 0) {
		return 0;
	}
	while (sasl_mechs[nm] != NULL) {
		nm++;
	}
	m = sasl_mechs[(data[0] & 0x7f) % nm];
	sasl_srv_init(&x, m, &fuzz_db, "mx.fuzz.example");
	if (data[0] & 0x80) {
		rc = m->step(&x, NULL, 0, false, out, &outlen);
		FUZZ_CHECK(outlen <= SASL_DATA_MAX);
	}
	for (steps = 0; steps < 4 && rc == SASL_CONTINUE && off <= size;
	     steps++) {
		const uint8_t *lf = memchr(data + off, '\n', size - off);
		size_t len = lf != NULL ? (size_t)(lf - data - off) : size - off;
		uint8_t *in = malloc(len + 1);

		FUZZ_CHECK(in != NULL);
		memcpy(in, data + off, len);
		outlen = 0;
		rc = m->step(&x, in, len, true, out, &outlen);
		free(in);
		FUZZ_CHECK(outlen <= SASL_DATA_MAX);
		FUZZ_CHECK(rc == SASL_CONTINUE || rc == SASL_OK ||
		    rc == SASL_FAIL || rc == SASL_WEAK || rc == SASL_BAD);
		if (rc == SASL_OK) {
			FUZZ_CHECK(strcmp(x.user, "u") == 0);
		}
		off += len + 1;
	}
	sasl_srv_end(&x);
	return 0;
}
