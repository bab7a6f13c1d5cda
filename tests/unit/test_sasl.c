/*
 * test_sasl.c — the SASL part (src/sasl/) without sockets: MD4 against
 * the RFC 1320 test suite, the NT hash, SHA-crypt against Drepper's
 * published vectors (and glibc's), strict base64, the user database
 * parser and formatter, and each server mechanism as a state machine:
 * PLAIN and LOGIN, CRAM-MD5 with the RFC 2195 example, SCRAM-SHA-256
 * with the RFC 7677 example, NTLMv2 with the MS-NLMP 4.2.4 example, and
 * hostile inputs.
 */
#include <stdlib.h>

#include "tu.h"

#include "sasl/sasl.h"
#include "tls/tls.h"

static void
hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		sprintf(out + 2 * i, "%02x", p[i]);
	}
}

/* RFC 1320 A.5 */
static void
test_md4(void **state)
{
	static const char *const v[][2] = {
		{ "", "31d6cfe0d16ae931b73c59d7e0c089c0" },
		{ "a", "bde52cb31de33e46245e05fbdbd6fb24" },
		{ "abc", "a448017aaf21d8525fc10ae87aa6729d" },
		{ "message digest", "d9130a8164549fe818874806e1c7014b" },
		{ "abcdefghijklmnopqrstuvwxyz",
		    "d79e1c308aa5bbcdeea8ed63df412da9" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01234567"
		  "89",
		    "043f8582f241db351ce627e153e7f0e4" },
		{ "123456789012345678901234567890123456789012345678901234567890"
		  "1"
		  "2345678901234567890",
		    "e33b4ddc9c38f2199c3e7b164fcc0536" },
	};
	uint8_t d[16];
	char h[33];
	size_t k;

	for (k = 0; k < ARRAY_SIZE(v); k++) {
		sasl_md4(v[k][0], strlen(v[k][0]), d);
		hex(d, 16, h);
		assert_string_equal(h, v[k][1]);
	}
}

static void
test_nt_hash(void **state)
{
	uint8_t d[16];
	char h[33];

	assert_int_equal(sasl_nt_hash("password", 8, d), 0);
	hex(d, 16, h);
	assert_string_equal(h, "8846f7eaee8fb117ad06bdd830b7586c");
	/* MS-NLMP 4.2.2.1.2: NTOWFv1("Password") */
	assert_int_equal(sasl_nt_hash("Password", 8, d), 0);
	hex(d, 16, h);
	assert_string_equal(h, "a4f49c406510bdcab6824ee7c30fd852");
	assert_int_equal(sasl_nt_hash("\xff", 1, d), -EINVAL);
}

/* Drepper, "Unix crypt using SHA-256 and SHA-512", test vectors */
static void
test_crypt(void **state)
{
	static const char *const v[][3] = {
		{ "$6$saltstring", "Hello world!",
		    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3u"
		    "BnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1" },
		{ "$6$rounds=10000$saltstringsaltstring", "Hello world!",
		    "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbD"
		    "Wra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3Rn"
		    "Oaw5v." },
		{ "$6$rounds=5000$toolongsaltstring", "This is just a test",
		    "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi"
		    "0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8aud"
		    "kUEm0" },
		{ "$6$rounds=1400$anotherlongsaltstring",
		    "a very much longer text to encrypt.  This one even "
		    "stretches over morethan one line.",
		    "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti"
		    ".o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4"
		    "ur1" },
		{ "$6$rounds=10$roundstoolow",
		    "the minimum number is still "
		    "observed",
		    "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN"
		    "0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX"
		    "." },
	};
	char out[160];
	size_t k;

	for (k = 0; k < ARRAY_SIZE(v); k++) {
		assert_int_equal(sasl_crypt_sha512(v[k][1], strlen(v[k][1]),
		                     v[k][0], out, sizeof(out)),
		    0);
		assert_string_equal(out, v[k][2]);
		assert_true(
		    sasl_crypt_check(v[k][1], strlen(v[k][1]), v[k][2]));
		assert_false(sasl_crypt_check("x", 1, v[k][2]));
	}
	assert_int_equal(sasl_crypt_sha512("x", 1, "$5$abc", out, sizeof(out)),
	    -EINVAL);
	assert_int_equal(sasl_crypt_sha512("x", 1, "$6$rounds=$s", out,
	                     sizeof(out)),
	    -EINVAL);
}

static void
test_b64(void **state)
{
	uint8_t d[16];
	char e[32];

	assert_int_equal(sasl_b64_decode("", 0, d, sizeof(d)), 0);
	assert_int_equal(sasl_b64_decode("YWJj", 4, d, sizeof(d)), 3);
	assert_memory_equal(d, "abc", 3);
	assert_int_equal(sasl_b64_decode("YWI=", 4, d, sizeof(d)), 2);
	assert_int_equal(sasl_b64_decode("YQ==", 4, d, sizeof(d)), 1);
	assert_int_equal(sasl_b64_decode("YQ=", 3, d, sizeof(d)), -EINVAL);
	assert_int_equal(sasl_b64_decode("Y===", 4, d, sizeof(d)), -EINVAL);
	assert_int_equal(sasl_b64_decode("YQ==YWJj", 8, d, sizeof(d)), -EINVAL);
	assert_int_equal(sasl_b64_decode("Y=Jj", 4, d, sizeof(d)), -EINVAL);
	assert_int_equal(sasl_b64_decode("YW J", 4, d, sizeof(d)), -EINVAL);
	assert_int_equal(sasl_b64_decode("YW\0J", 4, d, sizeof(d)), -EINVAL);
	assert_int_equal(sasl_b64_decode("YWJjYWJj", 8, d, 5), -EMSGSIZE);
	assert_int_equal(sasl_b64_encode((const uint8_t *)"ab", 2, e,
	                     sizeof(e)),
	    4);
	assert_string_equal(e, "YWI=");
	assert_int_equal(sasl_b64_encode((const uint8_t *)"abcd", 4, e, 8),
	    -ENOSPC);
}

/* RFC 7677 3: user "user", password "pencil" (keys computed with Python) */
static const char test_line_user[] =
    "user crypt=$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnI"
    "FNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1 "
    "scram=4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

static struct sasl_user test_users[4];
static struct sasl_db test_db = { test_users, 0, 4 };

/* user (RFC 7677), tim (RFC 2195), User (MS-NLMP), hello (crypt) */
static void
test_db_setup(void)
{
	static const char *pws[][2] = { { "tim", "tanstaaftanstaaf" },
		{ "User", "Password" } };
	size_t k;

	assert_int_equal(sasl_userdb_parse_line(test_line_user,
	                     strlen(test_line_user), &test_users[0]),
	    0);
	for (k = 0; k < 2; k++) {
		assert_int_equal(sasl_user_derive(&test_users[k + 1], pws[k][0],
		                     pws[k][1], strlen(pws[k][1])),
		    0);
	}
	test_users[3] = test_users[0];
	str_copy(test_users[3].name, "hello", sizeof(test_users[3].name));
	test_users[3].has = SASL_HAS_CRYPT;
	test_db.n = 4;
}

static void
test_userdb(void **state)
{
	struct sasl_user u, back;
	struct sasl_user arr[2];
	struct sasl_db db = { arr, 0, 2 };
	char line[512];
	int n, errline;
	static const char *const bad[] = {
		"alice",
		"alice crypt=$5$x$y",
		"alice frob=1",
		"alice nt=00",
		"alice nt=8846f7eaee8fb117ad06bdd830b7586G",
		"alice scram=0,AAAA,AAAA,AAAA",
		"alice scram=4096,AAAA,AAAA",
		"alice scram=4096,AAAA,AAAA,AAAA",
		"ali:ce nt=8846f7eaee8fb117ad06bdd830b7586c",
		"alice cram=00",
	};
	size_t k;

	assert_int_equal(sasl_user_derive(&u, "alice", "pw", 2), 0);
	assert_int_equal(u.has,
	    SASL_HAS_CRYPT | SASL_HAS_SCRAM | SASL_HAS_NT | SASL_HAS_CRAM);
	n = sasl_userdb_fmt(&u, line, sizeof(line));
	assert_true(n > 0 && line[n - 1] == '\n');
	assert_null(strstr(line, " pw"));
	assert_int_equal(sasl_userdb_parse_line(line, (size_t)n - 1, &back), 0);
	assert_memory_equal(&u, &back, sizeof(u));
	assert_int_equal(sasl_userdb_parse_line("# x", 3, &back), 1);
	assert_int_equal(sasl_userdb_parse_line("  ", 2, &back), 1);
	for (k = 0; k < ARRAY_SIZE(bad); k++) {
		if (sasl_userdb_parse_line(bad[k], strlen(bad[k]), &back) !=
		    -EINVAL) {
			fail_msg("accepted: %s", bad[k]);
		}
	}
	static const char ok2[] = "a nt=8846f7eaee8fb117ad06bdd830b7586c\n#\n\n"
	                          "b nt=8846f7eaee8fb117ad06bdd830b7586c\r\n";
	static const char dup[] = "a nt=8846f7eaee8fb117ad06bdd830b7586c\n"
	                          "a nt=8846f7eaee8fb117ad06bdd830b7586c\n";
	static const char three[] = "a nt=8846f7eaee8fb117ad06bdd830b7586c\n"
	                            "b nt=8846f7eaee8fb117ad06bdd830b7586c\n"
	                            "c nt=8846f7eaee8fb117ad06bdd830b7586c";

	assert_int_equal(sasl_userdb_parse(ok2, strlen(ok2), &db, &errline), 0);
	assert_int_equal(db.n, 2);
	assert_non_null(sasl_userdb_find(&db, "b", 1));
	assert_null(sasl_userdb_find(&db, "B", 1));
	assert_int_equal(sasl_userdb_parse(dup, strlen(dup), &db, &errline),
	    -EEXIST);
	assert_int_equal(errline, 2);
	assert_int_equal(sasl_userdb_parse("a nt=1\n", 7, &db, &errline),
	    -EINVAL);
	assert_int_equal(errline, 1);
	assert_int_equal(sasl_userdb_parse(three, strlen(three), &db, &errline),
	    -ENOSPC);
	assert_int_equal(errline, 3);
}

/* Run one step; returns rc, out into o (NUL-terminated). */
static enum sasl_rc
step(struct sasl_srv *x, const char *in, size_t len, bool has_in, char *o,
    size_t *olen)
{
	static uint8_t out[SASL_DATA_MAX + 1];
	enum sasl_rc rc;

	rc = x->mech->step(x, (const uint8_t *)in, len, has_in, out, olen);
	memcpy(o, out, *olen);
	o[*olen] = '\0';
	return rc;
}

static void
test_plain_login(void **state)
{
	struct sasl_srv x;
	char o[SASL_DATA_MAX + 1];
	size_t n;

	test_db_setup();
	sasl_srv_init(&x, &sasl_plain, &test_db, "mx.test");
	assert_int_equal(step(&x, "\0hello\0Hello world!", 19, true, o, &n),
	    SASL_OK);
	assert_string_equal(x.user, "hello");
	sasl_srv_init(&x, &sasl_plain, &test_db, "mx.test");
	assert_int_equal(step(&x, "\0hello\0Hello world", 18, true, o, &n),
	    SASL_FAIL);
	sasl_srv_init(&x, &sasl_plain, &test_db, "mx.test");
	assert_int_equal(step(&x, "tim\0hello\0Hello world!", 22, true, o, &n),
	    SASL_FAIL); /* another authorization identity */
	sasl_srv_init(&x, &sasl_plain, &test_db, "mx.test");
	assert_int_equal(step(&x, "hello\0Hello world!", 18, true, o, &n),
	    SASL_BAD);
	sasl_srv_init(&x, &sasl_plain, &test_db, "mx.test");
	assert_int_equal(step(&x, NULL, 0, false, o, &n), SASL_CONTINUE);
	assert_int_equal(n, 0);
	assert_int_equal(step(&x, "\0nobody\0x", 9, true, o, &n), SASL_FAIL);
	/* tim has no crypt= in a hand-made entry: 534 */
	test_users[1].has &= ~SASL_HAS_CRYPT;
	sasl_srv_init(&x, &sasl_plain, &test_db, "mx.test");
	assert_int_equal(step(&x, "\0tim\0tanstaaftanstaaf", 21, true, o, &n),
	    SASL_WEAK);

	sasl_srv_init(&x, &sasl_login, &test_db, "mx.test");
	assert_int_equal(step(&x, NULL, 0, false, o, &n), SASL_CONTINUE);
	assert_string_equal(o, "Username:");
	assert_int_equal(step(&x, "hello", 5, true, o, &n), SASL_CONTINUE);
	assert_string_equal(o, "Password:");
	assert_int_equal(step(&x, "Hello world!", 12, true, o, &n), SASL_OK);
	sasl_srv_init(&x, &sasl_login, &test_db, "mx.test");
	assert_int_equal(step(&x, "", 0, true, o, &n), SASL_BAD);
	sasl_srv_end(&x);
}

/* RFC 2195 2 */
static void
test_cram(void **state)
{
	static const char chal[] = "<1896.697170952@postoffice.reston.mci.net>";
	struct sasl_srv x;
	char o[SASL_DATA_MAX + 1];
	size_t n;

	test_db_setup();
	sasl_srv_init(&x, &sasl_cram, &test_db, "mx.test");
	assert_int_equal(step(&x, "x", 1, true, o, &n), SASL_BAD);
	sasl_srv_init(&x, &sasl_cram, &test_db, "mx.test");
	assert_int_equal(step(&x, NULL, 0, false, o, &n), SASL_CONTINUE);
	assert_true(o[0] == '<' && strstr(o, "@mx.test>") != NULL);
	memcpy(x.u.cram.chal, chal, sizeof(chal));
	x.u.cram.len = sizeof(chal) - 1;
	assert_int_equal(step(&x, "tim b913a602c7eda7a495b4e6e7334d3890", 36,
	                     true, o, &n),
	    SASL_OK);
	x.step = 1;
	assert_int_equal(step(&x, "tim b913a602c7eda7a495b4e6e7334d3891", 36,
	                     true, o, &n),
	    SASL_FAIL);
	assert_int_equal(step(&x, "timb913a602c7eda7a495b4e6e7334d3890", 35,
	                     true, o, &n),
	    SASL_BAD);
	assert_int_equal(step(&x, "nobody b913a602c7eda7a495b4e6e7334d3890", 39,
	                     true, o, &n),
	    SASL_FAIL);
}

/* RFC 7677 3, with the server's nonce put in place of the random one */
static void
test_scram(void **state)
{
	static const char c1[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	static const char snonce[] =
	    "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	static const char s1[] =
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
	static const char c2[] =
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	struct sasl_srv x;
	char o[SASL_DATA_MAX + 1], bad[sizeof(c2)];
	size_t n;
	int len;

	test_db_setup();
	sasl_srv_init(&x, &sasl_scram, &test_db, "mx.test");
	assert_int_equal(step(&x, c1, strlen(c1), true, o, &n), SASL_CONTINUE);
	assert_int_equal(strncmp(o, "r=rOprNGfwEbeRWgbNEkqO", 22), 0);
	assert_non_null(strstr(o, ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
	len = snprintf(x.u.scram.msg, sizeof(x.u.scram.msg), "%s,%s", c1 + 3,
	    s1);
	x.u.scram.len = (uint32_t)len;
	x.u.scram.nonce_off = (uint32_t)strlen(c1 + 3) + 3;
	x.u.scram.nonce_len = (uint32_t)strlen(snonce);
	memcpy(bad, c2, sizeof(c2));
	bad[sizeof(c2) - 6] ^= 1; /* a wrong proof */
	{
		struct sasl_srv y = x;

		assert_int_equal(step(&y, bad, strlen(bad), true, o, &n),
		    SASL_FAIL);
	}
	assert_int_equal(step(&x, c2, strlen(c2), true, o, &n), SASL_CONTINUE);
	assert_string_equal(o,
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	assert_int_equal(step(&x, "x", 1, true, o, &n), SASL_BAD);
	assert_int_equal(step(&x, "", 0, true, o, &n), SASL_OK);
	assert_string_equal(x.user, "user");
}

static void
test_scram_hostile(void **state)
{
	static const char *const bad[] = {
		"p=tls-unique,,n=user,r=abc",
		"n,,n=user",
		"n,,r=abc",
		"n,,n=us=2Cer=,r=abc",
		"n,,n=us=ZZer,r=abc",
		"n,n=user,r=abc",
		"x,,n=user,r=abc",
		"n,,n=,r=abc",
		"n",
	};
	struct sasl_srv x;
	char o[SASL_DATA_MAX + 1];
	size_t n, k;

	test_db_setup();
	for (k = 0; k < ARRAY_SIZE(bad); k++) {
		sasl_srv_init(&x, &sasl_scram, &test_db, "mx.test");
		if (step(&x, bad[k], strlen(bad[k]), true, o, &n) != SASL_BAD) {
			fail_msg("accepted: %s", bad[k]);
		}
	}
	/* an unknown user gets a challenge too, and fails at the proof */
	sasl_srv_init(&x, &sasl_scram, &test_db, "mx.test");
	assert_int_equal(step(&x, "n,,n=nobody,r=abc", 17, true, o, &n),
	    SASL_CONTINUE);
	assert_non_null(strstr(o, ",i=4096"));
	/* authzid other than the user: treated as unknown */
	sasl_srv_init(&x, &sasl_scram, &test_db, "mx.test");
	assert_int_equal(step(&x, "n,a=tim,n=user,r=abc", 20, true, o, &n),
	    SASL_CONTINUE);
	assert_false(x.u.scram.known);
}

/* MS-NLMP 4.2.4: NTLMv2 with User/Domain/Password */
static size_t
ntlm_type3(uint8_t *m, const uint8_t *nt, size_t ntlen, const char *user,
    const char *dom)
{
	size_t off = 64, n, k;
	uint8_t wu[64], wd[64];
	size_t ul = strlen(user), dl = strlen(dom);

	for (k = 0; k < ul; k++) {
		wu[2 * k] = (uint8_t)user[k];
		wu[2 * k + 1] = 0;
	}
	for (k = 0; k < dl; k++) {
		wd[2 * k] = (uint8_t)dom[k];
		wd[2 * k + 1] = 0;
	}
	memset(m, 0, 64);
	memcpy(m, "NTLMSSP", 8);
	le_put32(m + 8, 3);
	le_put16(m + 20, (uint16_t)ntlen);
	le_put32(m + 24, (uint32_t)off);
	memcpy(m + off, nt, ntlen);
	off += ntlen;
	le_put16(m + 28, (uint16_t)(2 * dl));
	le_put32(m + 32, (uint32_t)off);
	memcpy(m + off, wd, 2 * dl);
	off += 2 * dl;
	le_put16(m + 36, (uint16_t)(2 * ul));
	le_put32(m + 40, (uint32_t)off);
	memcpy(m + off, wu, 2 * ul);
	off += 2 * ul;
	le_put32(m + 60, 0x00088205);
	n = off;
	return n;
}

static void
test_ntlm(void **state)
{
	static const uint8_t chal[8] = { 1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
		0xef };
	static const uint8_t proof[16] = { 0x68, 0xcd, 0x0a, 0xb8, 0x51, 0xe5,
		0x1c, 0x96, 0xaa, 0xbc, 0x92, 0x7b, 0xeb, 0xef, 0x6a, 0x1c };
	uint8_t nt[256], m[512], blob[128];
	char o[SASL_DATA_MAX + 1];
	struct sasl_srv x;
	size_t n, bl = 0, len;
	static const char t1[] = "NTLMSSP\0\1\0\0\0\7\202\10\0";

	/* blob: 0101 0000 0000, time 0, client challenge aa.., 0, AV, 0 */
	memset(blob, 0, sizeof(blob));
	blob[0] = 1;
	blob[1] = 1;
	memset(blob + 16, 0xaa, 8);
	bl = 28;
	le_put16(blob + bl, 2);
	le_put16(blob + bl + 2, 12);
	memcpy(blob + bl + 4, "D\0o\0m\0a\0i\0n\0", 12);
	bl += 16;
	le_put16(blob + bl, 1);
	le_put16(blob + bl + 2, 12);
	memcpy(blob + bl + 4, "S\0e\0r\0v\0e\0r\0", 12);
	bl += 16;
	bl += 4 + 4; /* MsvAvEOL and the trailing zeros */
	memcpy(nt, proof, 16);
	memcpy(nt + 16, blob, bl);

	test_db_setup();
	sasl_srv_init(&x, &sasl_ntlm, &test_db, "mx.test.example");
	assert_int_equal(step(&x, "NTLMSSP\0\2\0\0\0", 12, true, o, &n),
	    SASL_BAD);
	sasl_srv_init(&x, &sasl_ntlm, &test_db, "mx.test.example");
	assert_int_equal(step(&x, t1, 16, true, o, &n), SASL_CONTINUE);
	assert_memory_equal(o, "NTLMSSP\0\2\0\0\0", 12);
	assert_true(n > 48 && n < SASL_DATA_MAX);
	memcpy(x.u.ntlm.chal, chal, 8);
	len = ntlm_type3(m, nt, 16 + bl, "User", "Domain");
	{
		struct sasl_srv y = x;

		assert_int_equal(step(&y, (const char *)m, len, true, o, &n),
		    SASL_OK);
		assert_string_equal(y.user, "User");
	}
	/* NTLMv1 (24 bytes), a bad proof, offsets outside the message */
	len = ntlm_type3(m, nt, 24, "User", "Domain");
	assert_int_equal(step(&x, (const char *)m, len, true, o, &n),
	    SASL_FAIL);
	nt[3] ^= 1;
	len = ntlm_type3(m, nt, 16 + bl, "User", "Domain");
	assert_int_equal(step(&x, (const char *)m, len, true, o, &n),
	    SASL_FAIL);
	le_put32(m + 40, 0xfffffff0u);
	assert_int_equal(step(&x, (const char *)m, len, true, o, &n), SASL_BAD);
	assert_int_equal(step(&x, (const char *)m, 40, true, o, &n), SASL_BAD);
	/* OEM strings (no Unicode flag), the longest domain allowed */
	{
		static uint8_t big[512];
		static char dom[257];

		memset(dom, 'D', 256);
		len = ntlm_type3(big, nt, 64, "User", "");
		le_put16(big + 28, 256);
		le_put32(big + 32, (uint32_t)len);
		memcpy(big + len, dom, 256);
		len += 256;
		le_put16(big + 36, 4);
		le_put32(big + 40, (uint32_t)len);
		memcpy(big + len, "User", 4);
		len += 4;
		le_put32(big + 60, 0x00088202); /* OEM */
		assert_int_equal(step(&x, (const char *)big, len, true, o, &n),
		    SASL_FAIL);
	}
}

/* The client side (outbound AUTH) against the server side. */
static enum sasl_rc
cli_srv_run(const struct sasl_mech *m, unsigned mech, const char *user,
    const char *pw, bool forge)
{
	static uint8_t a[SASL_DATA_MAX], b[SASL_DATA_MAX];
	struct sasl_cli c;
	struct sasl_srv x;
	size_t alen, blen;
	bool has;
	enum sasl_rc rc;
	int k;

	assert_int_equal(sasl_cli_start(&c, mech, user, pw, a, &alen, &has),
	    0);
	sasl_srv_init(&x, m, &test_db, "mx.test");
	rc = m->step(&x, a, alen, has, b, &blen);
	for (k = 0; k < 4 && rc == SASL_CONTINUE; k++) {
		if (forge && blen > 2 && b[0] == 'v' && b[1] == '=') {
			b[2] ^= 1; /* a server that does not know the keys */
		}
		if (sasl_cli_step(&c, b, blen, a, &alen) < 0) {
			sasl_cli_end(&c);
			return SASL_BAD;
		}
		rc = m->step(&x, a, alen, true, b, &blen);
	}
	if (rc == SASL_OK && !sasl_cli_done(&c)) {
		rc = SASL_BAD;
	}
	sasl_cli_end(&c);
	sasl_srv_end(&x);
	return rc;
}

static void
test_client(void **state)
{
	test_db_setup();
	assert_int_equal(sasl_cli_choose(CONF_AUTH_PLAIN | CONF_AUTH_SCRAM |
	                     CONF_AUTH_LOGIN),
	    CONF_AUTH_SCRAM);
	assert_int_equal(sasl_cli_choose(CONF_AUTH_LOGIN | CONF_AUTH_CRAM_MD5),
	    CONF_AUTH_CRAM_MD5);
	assert_int_equal(sasl_cli_choose(CONF_AUTH_NTLM), 0);
	assert_int_equal(sasl_cli_parse_mechs("PLAIN ntlm scram-sha-256 X", 26),
	    CONF_AUTH_PLAIN | CONF_AUTH_SCRAM);
	assert_int_equal(cli_srv_run(&sasl_scram, CONF_AUTH_SCRAM, "user",
	                     "pencil", false),
	    SASL_OK);
	assert_int_equal(cli_srv_run(&sasl_scram, CONF_AUTH_SCRAM, "user",
	                     "pencil", true),
	    SASL_BAD); /* the client refuses a forged ServerSignature */
	assert_int_equal(cli_srv_run(&sasl_scram, CONF_AUTH_SCRAM, "user",
	                     "crayon", false),
	    SASL_FAIL);
	assert_int_equal(cli_srv_run(&sasl_cram, CONF_AUTH_CRAM_MD5, "tim",
	                     "tanstaaftanstaaf", false),
	    SASL_OK);
	assert_int_equal(cli_srv_run(&sasl_cram, CONF_AUTH_CRAM_MD5, "tim",
	                     "x", false),
	    SASL_FAIL);
	assert_int_equal(cli_srv_run(&sasl_plain, CONF_AUTH_PLAIN, "hello",
	                     "Hello world!", false),
	    SASL_OK);
	assert_int_equal(cli_srv_run(&sasl_login, CONF_AUTH_LOGIN, "hello",
	                     "Hello world!", false),
	    SASL_OK);
	assert_int_equal(cli_srv_run(&sasl_login, CONF_AUTH_LOGIN, "hello",
	                     "nope", false),
	    SASL_FAIL);
}

static void
test_registry(void **state)
{
	assert_ptr_equal(sasl_mech_find("plain", 5), &sasl_plain);
	assert_ptr_equal(sasl_mech_find("SCRAM-SHA-256", 13), &sasl_scram);
	assert_null(sasl_mech_find("SCRAM-SHA-1", 11));
	assert_string_equal(sasl_mechs[0]->name, "SCRAM-SHA-256");
}

static void
test_hmac_md5_ctx(void **state)
{
	uint32_t ctx[8];
	uint8_t a[16], b[16];
	char key[100];

	memset(key, 'k', sizeof(key));
	tls_hmac_md5_ctx(key, sizeof(key), ctx); /* a key over one block */
	tls_hmac_md5_resume(ctx, "msg", 3, a);
	tls_hmac_md5(key, sizeof(key), "msg", 3, b);
	assert_memory_equal(a, b, 16);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md4),
		cmocka_unit_test(test_nt_hash),
		cmocka_unit_test(test_crypt),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_userdb),
		cmocka_unit_test(test_plain_login),
		cmocka_unit_test(test_cram),
		cmocka_unit_test(test_scram),
		cmocka_unit_test(test_scram_hostile),
		cmocka_unit_test(test_ntlm),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_hmac_md5_ctx),
	};

	return tu_run("sasl", tests, ARRAY_SIZE(tests), NULL, NULL);
}
