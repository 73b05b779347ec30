/* sha256.h — SHA-256 (FIPS 180-4), for content hashes of task specs, data
 * files and model weights. Incremental: init, update any number of times,
 * final. No allocation. sha256_file hashes a whole file (YS_EIO on error). */
#ifndef YS_SHA256_H
#define YS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char buf[64];
    size_t nbuf;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Writes the digest as 64 lower-case hex digits plus NUL. */
void sha256_final_hex(sha256_ctx *c, char hex[65]);
int sha256_file(const char *path, char hex[65], ys_error *err);

#endif
