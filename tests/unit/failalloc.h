/* Allocation-failure injection, for unit tests and fuzz harnesses. Programs linked with
 * tests/unit/failalloc.c and -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 * --wrap=strndup,--wrap=asprintf (the Makefile's FAILALLOC_WRAP) route those calls of the
 * code they link statically through a counter that can make one of them, or one and every
 * later one, fail. Disarmed (the default), the wrappers only pass the calls on. Not for
 * threads: the counter is plain. */
#ifndef WARD_TEST_FAILALLOC_H
#define WARD_TEST_FAILALLOC_H

/* Starts counting allocations from 0; the fail-th (1-based) fails, and every later one
 * too unless once. fail 0: none fails (count only). */
void failalloc_arm(unsigned long fail, int once);

/* Stops counting and failing. Returns the allocations counted since failalloc_arm. */
unsigned long failalloc_disarm(void);

/* Allocations made to fail since failalloc_arm. */
unsigned long failalloc_failed(void);

#endif
