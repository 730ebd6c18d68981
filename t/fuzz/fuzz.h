/* Shared by the fuzz targets: the libFuzzer entry points and a few helpers.
 *
 * Each target defines LLVMFuzzerTestOneInput and, when it needs set-up done once,
 * LLVMFuzzerInitialize. Linked with libFuzzer (configure --enable-fuzzers) the target
 * fuzzes; otherwise replay.c's main runs every file of its corpus through it. An input
 * must leave nothing behind: what one creates, it destroys, so that the leak checker
 * sees every leak and no input depends on the ones before it. */
#ifndef MF_FUZZ_H
#define MF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property of the code under test that does not hold: report it as a crash. */
#define FUZZ_ASSERT(cond)                                                                   \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* Take the first byte of *data (0 when there is none) to steer the harness. */
static inline uint8_t fuzz_take_byte(const uint8_t **data, size_t *size)
{
    if (*size == 0)
        return 0;
    uint8_t b = **data;
    (*data)++;
    (*size)--;
    return b;
}

#endif
