/*
 * fuzz.h — what tern's fuzz harnesses share: the libFuzzer entry point
 * (also driven by replay_main.c for the regression replay) and a check
 * that aborts, so that a broken property is a crash the fuzzer keeps.
 */
#ifndef TERN_TESTS_FUZZ_H
#define TERN_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: property broken: %s\n", \
			    __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

#endif
