/*
 * check.h - the smallest possible assertion kit for the Spoor C test suite.
 *
 *   CHECK(cond)                  passes if cond is true
 *   CHECK_EQ(actual, expected)   passes if the two values are equal as 64-bit integers
 *   CHECK_STR(actual, expected)  passes if two C strings are equal (NULL never equals)
 *
 * Every macro counts one pass or one failure and prints file:line (with both values) on
 * failure; each evaluates to 1 on pass and 0 on failure so a test can stop early:
 *     if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
 * The counters are atomic, so checks may run on any thread. They are defined in test_api.c.
 */
#ifndef SPOOR_CTEST_CHECK_H
#define SPOOR_CTEST_CHECK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern unsigned long check_passed;
extern unsigned long check_failed;

static inline int check_count(int ok) {
    __atomic_fetch_add(ok ? &check_passed : &check_failed, 1, __ATOMIC_RELAXED);
    return ok;
}

static inline int check_true(int ok, const char *file, int line, const char *text) {
    if (!ok) fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, text);
    return check_count(ok);
}

static inline int check_eq(uint64_t actual, uint64_t expected, const char *file, int line,
                           const char *actual_text, const char *expected_text) {
    int ok = actual == expected;
    if (!ok) {
        fprintf(stderr,
                "%s:%d: CHECK_EQ failed: %s == %s\n    actual:   %" PRId64 " (0x%016" PRIx64 ")\n"
                "    expected: %" PRId64 " (0x%016" PRIx64 ")\n",
                file, line, actual_text, expected_text, (int64_t)actual, actual, (int64_t)expected,
                expected);
    }
    return check_count(ok);
}

static inline int check_str(const char *actual, const char *expected, const char *file, int line,
                            const char *actual_text, const char *expected_text) {
    int ok = actual != NULL && expected != NULL && strcmp(actual, expected) == 0;
    if (!ok) {
        fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s\n    actual:   \"%s\"\n    expected: \"%s\"\n",
                file, line, actual_text, expected_text, actual ? actual : "(null)",
                expected ? expected : "(null)");
    }
    return check_count(ok);
}

#define CHECK(cond) check_true(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_EQ(actual, expected) \
    check_eq((uint64_t)(actual), (uint64_t)(expected), __FILE__, __LINE__, #actual, #expected)
#define CHECK_STR(actual, expected) check_str((actual), (expected), __FILE__, __LINE__, #actual, #expected)

#endif /* SPOOR_CTEST_CHECK_H */
