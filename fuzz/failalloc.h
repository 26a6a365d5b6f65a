/* Allocation-failure injection in the fuzz harnesses (the wrappers are those of
 * tests/unit/failalloc.h, linked into every harness).
 *
 * fuzz_run runs one input through a harness body twice: first with every allocation
 * succeeding (counting them), then with the k-th allocation failing, k chosen from a hash
 * of the input (that one only, or it and every later one, also from the hash), so that the
 * fuzzer explores the error paths as it explores inputs. WARD_FUZZ_FAILALLOC in the
 * environment changes that: "0" turns injection off, "N" fails the N-th allocation and
 * every later one, "N+1" the N-th only (to reproduce a finding). */
#ifndef WARD_FUZZ_FAILALLOC_H
#define WARD_FUZZ_FAILALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "../tests/unit/failalloc.h"

/* The body of a harness: runs data through the code under test and checks its promises.
 * A promise that holds only while memory lasts is checked when failalloc_failed() is 0. */
typedef void (*fuzz_body)(const uint8_t *data, size_t size);

void fuzz_run(fuzz_body body, const uint8_t *data, size_t size);

#endif
