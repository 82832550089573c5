/* The C tests' one assertion: reports where a condition failed and counts
 * it, so that a run reports every failure rather than stopping at the first. */
#ifndef CBRING_TESTS_CHECK_H
#define CBRING_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                             \
            fputc('\n', stderr);                                      \
            failures++;                                               \
        }                                                             \
    } while (0)

#endif /* CBRING_TESTS_CHECK_H */
