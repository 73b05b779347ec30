/* tok_throughput — encode a text file with engine/tokenizer and report
 * throughput, for bench/bench_tokenizer.js.
 *
 *   tok_throughput TOKENIZER(dir or tokenizer.json) TEXT_FILE [CHUNK_BYTES] [REPEAT]
 *
 * The file is cut into chunks of whole lines of at least CHUNK_BYTES bytes
 * (default 65536; the JS side cuts identically), each chunk is encoded
 * without special tokens on one thread, and the best of REPEAT passes
 * (default 3) is reported as one JSON line: bytes, tokens, a checksum of the
 * ids (to compare with the reference), seconds and MB/s. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER TEXT_FILE [CHUNK_BYTES] [REPEAT]\n", argv[0]);
        return 2;
    }
    size_t chunk = argc > 3 ? strtoul(argv[3], NULL, 10) : 65536;
    int repeat = argc > 4 ? atoi(argv[4]) : 3;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 3;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "%s: read error\n", argv[2]);
        return 3;
    }
    fclose(f);
    tok_tokenizer *t;
    ys_error err = {0};
    double t0 = now();
    if (tok_load(argv[1], &t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 3;
    }
    double load_s = now() - t0;
    double best = 1e30;
    size_t tokens = 0;
    uint32_t sum = 0;
    for (int r = 0; r < repeat; r++) {
        tokens = 0;
        sum = 0;
        double s = now();
        size_t pos = 0;
        while (pos < (size_t)len) {
            size_t end = pos + chunk < (size_t)len ? pos + chunk : (size_t)len;
            while (end < (size_t)len && text[end - 1] != '\n') end++;
            int32_t *ids;
            size_t n;
            if (tok_encode(t, text + pos, end - pos, false, &ids, &n, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 3;
            }
            for (size_t i = 0; i < n; i++) sum = sum * 31u + (uint32_t)ids[i];
            tokens += n;
            free(ids);
            pos = end;
        }
        double e = now() - s;
        if (e < best) best = e;
    }
    printf("{\"bytes\": %ld, \"tokens\": %zu, \"checksum\": %u, \"load_seconds\": %.3f, \"seconds\": %.4f, \"mb_per_s\": %.2f}\n",
           len, tokens, sum, load_s, best, len / best / 1e6);
    tok_free(t);
    free(text);
    return 0;
}
