/* Allocation-failure injection: see failalloc.h. */
#include "failalloc.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static struct {
    int armed;
    unsigned long calls;
    unsigned long fail; /* 1-based call that fails; 0: none */
    int once;           /* only that call fails, not the later ones */
    unsigned long failed;
} fa;

void failalloc_arm(unsigned long fail, int once) {
    fa.calls = 0;
    fa.fail = fail;
    fa.once = once;
    fa.failed = 0;
    fa.armed = 1;
}

unsigned long failalloc_disarm(void) {
    fa.armed = 0;
    fa.fail = 0;
    return fa.calls;
}

unsigned long failalloc_failed(void) {
    return fa.failed;
}

static int should_fail(void) {
    if (!fa.armed)
        return 0;
    unsigned long c = ++fa.calls;
    if (fa.fail == 0 || c < fa.fail || (fa.once && c != fa.fail))
        return 0;
    fa.failed++;
    return 1;
}

void *__wrap_malloc(size_t n) {
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m) {
    return should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n) {
    /* realloc(p, 0) frees: it is not made to fail (that would hand p back) */
    if (p && n == 0)
        return __real_realloc(p, n);
    return should_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s) {
    return should_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n) {
    return should_fail() ? NULL : __real_strndup(s, n);
}

int __wrap_asprintf(char **out, const char *fmt, ...) {
    if (should_fail())
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(out, fmt, ap);
    va_end(ap);
    return r;
}
