/*
 * fuzz_userdb.c — the AUTH user database parser (src/sasl/sasl_userdb.c)
 * and the base64 decoder of the SASL exchanges.
 *
 * Properties: the parser never reads outside the input (an exactly sized
 * copy: ASan sees the rest) and never stores more than cap users; every
 * user it accepts has a valid name and at least one secret, formats to a
 * line that parses back to the same entry; base64 that decodes encodes
 * back to the same text.
 */
#include <string.h>

#include "fuzz.h"

#include "sasl/sasl.h"

#define FUZZ_USERS 8

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sasl_user users[FUZZ_USERS];
	struct sasl_db db = { users, 0, FUZZ_USERS };
	struct sasl_user back;
	char *text = malloc(size + 1), line[1024], enc[4096];
	uint8_t dec[3072];
	int errline, rc, n;
	uint32_t k;

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	rc = sasl_userdb_parse(text, size, &db, &errline);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EEXIST || rc == -ENOSPC);
	FUZZ_CHECK(db.n <= FUZZ_USERS);
	for (k = 0; rc == 0 && k < db.n; k++) {
		FUZZ_CHECK(sasl_user_name_ok(users[k].name,
		    strlen(users[k].name)));
		FUZZ_CHECK(users[k].has != 0);
		n = sasl_userdb_fmt(&users[k], line, sizeof(line));
		FUZZ_CHECK(n > 0);
		FUZZ_CHECK(sasl_userdb_parse_line(line, (size_t)n - 1, &back) ==
		    0);
		FUZZ_CHECK(strcmp(back.name, users[k].name) == 0);
		FUZZ_CHECK(back.has == users[k].has);
	}
	if (size <= sizeof(enc) / 2) {
		n = sasl_b64_decode(text, size, dec, sizeof(dec));
		if (n >= 0) {
			FUZZ_CHECK(sasl_b64_encode(dec, (size_t)n, enc,
			               sizeof(enc)) == (int)size);
			FUZZ_CHECK(memcmp(enc, text, size) == 0);
		}
	}
	free(text);
	return 0;
}
