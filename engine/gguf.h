/* gguf.h — GGUF files (llama.cpp's single-file model format): the
 * container, and the exact dequantization of its tensor types.
 *
 * The container (versions 2 and 3, little-endian; their layouts are the
 * same): the magic "GGUF", a u32 version, u64 tensor and key-value counts;
 * the key-value pairs (a string key, a u32 value type, the value; arrays
 * are an element type, a u64 count and the elements, and may nest); the
 * tensor infos (name, u32 dimension count, u64 dimensions innermost first,
 * u32 ggml type, u64 offset into the data section); padding to the
 * alignment (general.alignment, a u32 power of two, default 32); the data
 * section. A string is a u64 byte count and the bytes (no terminator).
 *
 * gguf_open maps the file read-only and validates all of it before
 * returning, so every later read stays inside the mapping:
 *   - every count, length and offset is checked against the bytes that are
 *     left (with overflow-safe arithmetic) before anything is allocated or
 *     read, so a huge count in a small file is an error, not an allocation;
 *   - value and tensor type codes are known ones; arrays nest at most
 *     GGUF_MAX_DEPTH deep; keys and tensor names are non-empty, without NUL
 *     bytes, and unique;
 *   - general.alignment, when present, is a u32 power of two;
 *   - each tensor has 1..GGUF_MAX_DIMS dimensions, a non-negative element
 *     count that fits in 63 bits, a first dimension that is a whole number
 *     of its type's blocks, an aligned offset, and bytes that lie inside
 *     the data section without overlapping another tensor's.
 * Every failure is YS_EINPUT (YS_EIO when the file cannot be read) with a
 * message naming the file and the key or tensor, and where it is known the
 * byte offset at which the file went wrong.
 *
 * Ownership: gguf_open returns a file the caller frees with gguf_close.
 * Every pointer it gives (keys, names, values, tensor bytes) lives until
 * gguf_close. A gguf is only read after gguf_open, so any number of
 * threads may read it at once.
 */
#ifndef YS_ENGINE_GGUF_H
#define YS_ENGINE_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "ys_error.h"

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_DEPTH 8
#define GGUF_DEFAULT_ALIGNMENT 32

/* Metadata value types (the file's codes). */
typedef enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6,
    GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
} gguf_vtype;

/* Tensor types (ggml's codes). Those without a name here are known to the
 * validator by their block sizes only. */
typedef enum gguf_ttype {
    GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q5_0 = 6, GGML_Q5_1 = 7,
    GGML_Q8_0 = 8, GGML_Q8_1 = 9, GGML_Q2_K = 10, GGML_Q3_K = 11, GGML_Q4_K = 12, GGML_Q5_K = 13,
    GGML_Q6_K = 14, GGML_Q8_K = 15, GGML_BF16 = 30,
} gguf_ttype;

/* A string in the mapping: len bytes, not NUL-terminated. */
typedef struct gguf_str {
    const char *p;
    size_t len;
} gguf_str;

typedef struct gguf_value {
    gguf_vtype type;
    union {
        uint64_t u;       /* U8, U16, U32, U64, BOOL (0 or 1; any nonzero byte reads as 1) */
        int64_t i;        /* I8, I16, I32, I64 */
        double f;         /* F32, F64 */
    } num;
    gguf_str str;         /* STRING */
    /* ARRAY: n elements of type elem. Fixed-size elements are the n
     * little-endian values at data, in the mapping; strings are strs[n];
     * arrays are items[n]. */
    gguf_vtype elem;
    uint64_t n;
    const void *data;
    gguf_str *strs;
    struct gguf_value *items;
} gguf_value;

typedef struct gguf_kv {
    const char *key;      /* NUL-terminated copy */
    gguf_value v;
} gguf_kv;

typedef struct gguf_tensor {
    const char *name;     /* NUL-terminated copy */
    int ndim;
    int64_t ne[GGUF_MAX_DIMS];   /* ne[0] innermost (a row); unused dimensions 1 */
    gguf_ttype type;
    uint64_t offset;      /* into the data section */
    size_t nelem, nbytes;
    const void *data;     /* in the mapping */
} gguf_tensor;

typedef struct gguf gguf;

int gguf_open(const char *path, gguf **out, ys_error *err);
void gguf_close(gguf *g);

const char *gguf_path(const gguf *g);
uint32_t gguf_version(const gguf *g);
size_t gguf_alignment(const gguf *g);
/* The whole file as mapped (for hashing). */
const void *gguf_bytes(const gguf *g, size_t *size);

size_t gguf_kv_count(const gguf *g);
const gguf_kv *gguf_kv_at(const gguf *g, size_t i);
const gguf_kv *gguf_find(const gguf *g, const char *key);   /* NULL when absent */

size_t gguf_tensor_count(const gguf *g);
const gguf_tensor *gguf_tensor_at(const gguf *g, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name);

/* Typed reads of a key. Each returns 0 and sets *out when the key is
 * present with a fitting type; 1 and *out = dflt when it is absent; and
 * YS_EINPUT naming the file and key when it has another type or its value
 * does not fit (an integer key read as an int: any integer type whose
 * value is in range; a number: any integer or float type). */
int gguf_get_int(const gguf *g, const char *key, long dflt, long *out, ys_error *err);
int gguf_get_num(const gguf *g, const char *key, double dflt, double *out, ys_error *err);
int gguf_get_bool(const gguf *g, const char *key, int dflt, int *out, ys_error *err);
/* A string key as a malloc'd NUL-terminated copy (the caller frees it);
 * dflt may be NULL. A string holding a NUL byte is YS_EINPUT. */
int gguf_get_str(const gguf *g, const char *key, const char *dflt, char **out, ys_error *err);
/* An array key: *out is its value when it is an array of elem (any
 * element type when elem is -1), else YS_EINPUT; 1 and NULL when absent. */
int gguf_get_arr(const gguf *g, const char *key, int elem, const gguf_value **out, ys_error *err);

/* Element i of a fixed-size numeric array, widened (the caller checks
 * i < n and the type). */
int64_t gguf_arr_int(const gguf_value *v, uint64_t i);
double gguf_arr_num(const gguf_value *v, uint64_t i);

/* ---- tensor types ---------------------------------------------------------
 * gguf_type_name: "Q4_K", ... ("?" for an unknown code). gguf_type_size:
 * elements per block and bytes per block; 0 for an unknown code. */
const char *gguf_type_name(int type);
int gguf_type_size(int type, size_t *block, size_t *bytes);

/* ---- dequantization -------------------------------------------------------
 * gguf_dequant_supported: the type has a dequantization here (F32, F16,
 * BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K).
 * gguf_dequant: n elements (a whole number of blocks) stored at src as
 * `type`, to fp32, exactly as the format defines each value — the stored
 * half-precision scales widened exactly, then one fp32 multiply (and for
 * the types with a minimum, one fp32 add or subtract), rounded to nearest,
 * never fused; so each output is a fixed fp32 function of its block:
 *   Q8_0  (32, 34 B): d f16, q[32] i8;                    w = q * d
 *   Q4_0  (32, 18 B): d, qs[16]; q_i = low nibble of qs[i] (i < 16), high
 *                     nibble of qs[i-16] (i >= 16);        w = d * (q - 8)
 *   Q4_1  (32, 20 B): d, m, qs[16] as Q4_0;               w = d * q + m
 *   Q5_0  (32, 22 B): d, qh u32, qs[16]; q_i = Q4_0's nibble | bit i of qh
 *                     << 4;                                w = d * (q - 16)
 *   Q5_1  (32, 24 B): d, m, qh, qs;                        w = d * q + m
 *   Q4_K (256, 144 B): d, dmin, 12 bytes of eight 6-bit (scale, min)
 *                     pairs, qs[128]; sub-block s (32 values) takes
 *                     the low (s even) or high nibbles of qs[32*(s/2) ..];
 *                     w = (d * sc_s) * q - (dmin * m_s)
 *   Q5_K (256, 176 B): as Q4_K plus qh[32], bit s of qh[j] the fifth bit
 *                     of value j of sub-block s
 *   Q6_K (256, 210 B): ql[128], qh[64], scales[16] i8, d; value e of half
 *                     h (128 each), e = 32*t + j: 4 bits of ql[64h + 32(t&1) + j]
 *                     (high nibble when t >= 2), 2 bits of qh[32h + j] at
 *                     shift 2t; w = (d * scales[e/16 of the block]) * (q - 32)
 * Returns 0, or YS_EUSAGE for an unsupported type or an n that is not a
 * whole number of blocks. */
int gguf_dequant_supported(int type);
int gguf_dequant(int type, const void *src, size_t n, float *dst);

#endif
