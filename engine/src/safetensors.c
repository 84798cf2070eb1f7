/*
 * safetensors.c — reading and writing safetensors weight files, and the
 * f16/bf16 <-> f32 conversions (vkg__st_*, vkg__f16_*, vkg__bf16_*).
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 *   {"KEY": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {str: str}}
 * then the data section; offsets are relative to it.
 *
 * vkg__st_open maps the file read-only and checks everything before any
 * entry is used: a corrupt or hostile file gives VKG_ERR_WEIGHTS with the
 * file and key in the message, never a crash. vkg__st_write writes files the
 * reference implementation (huggingface/safetensors) accepts: header padded
 * with spaces to a multiple of 8, data packed without holes (the format
 * forbids them), tensors placed by decreasing element size so every element
 * is naturally aligned.
 *
 * Calls: result.c (errors, host memory), cJSON, POSIX mmap. Never prints.
 */
#include "vkg_impl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (100u * 1000u * 1000u)
#define MAX_FILE_DIMS (VKG_MAX_DIMS + 1)

// >>f16 / bf16 conversions
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float vkg__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f)                             /* inf / NaN, payload kept */
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: man * 2^-24, exact in f32 */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        return bits_f32(sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13));
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t vkg__f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)                        /* NaN: quiet, keep top payload bits */
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    if (ax >= 0x477ff000u)                       /* >= 65520 rounds (to even) to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) {                      /* below 2^-14: subnormal or zero */
        if (ax <= 0x33000000u) return sign;      /* <= 2^-25: ties to even zero */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e;                /* 14 .. 24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t h = (ax - 0x38000000u) >> 13;       /* rebias 127 -> 15 */
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float vkg__bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t vkg__f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)         /* NaN: quiet so it stays NaN */
        return (uint16_t)((x >> 16) | 0x0040);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

// >>dtypes
static const struct { const char *name; vkg_dtype dtype; } st_dtypes[] = {
    {"F32", VKG_DTYPE_F32}, {"F16", VKG_DTYPE_F16}, {"BF16", VKG_DTYPE_BF16},
};
/* Valid in safetensors, not supported here: named as such in messages. */
static const char *const st_other_dtypes[] = {
    "F64", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL",
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
};

static const char *st_dtype_name(vkg_dtype t) {
    for (size_t i = 0; i < VKG__COUNTOF(st_dtypes); i++)
        if (st_dtypes[i].dtype == t) return st_dtypes[i].name;
    return NULL;
}

// >>reading
static int is_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    /* cJSON keeps numbers as doubles: beyond 2^53 they are not exact. */
    if (!(d >= 0.0) || d > 9007199254740992.0 || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int cmp_entry_offset(const void *a, const void *b) {
    const vkg__st_entry *x = *(const vkg__st_entry *const *)a, *y = *(const vkg__st_entry *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->size != y->size) return x->size < y->size ? -1 : 1;
    return 0;
}

static int cmp_entry_key(const void *a, const void *b) {
    const vkg__st_entry *x = *(const vkg__st_entry *const *)a, *y = *(const vkg__st_entry *const *)b;
    return strcmp(x->key, y->key);
}

/* Checks one tensor entry `it` (key already copied to e->key). */
static vkg_result parse_entry(vkg_context *ctx, const char *path, const cJSON *it, uint64_t data_size,
                              vkg__st_entry *e) {
    const char *key = e->key;
    if (!cJSON_IsObject(it))
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': entry is not an object", path, key);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt))
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': missing or non-string 'dtype'", path, key);
    int found = 0;
    for (size_t i = 0; i < VKG__COUNTOF(st_dtypes); i++) {
        if (!strcmp(dt->valuestring, st_dtypes[i].name)) { e->dtype = st_dtypes[i].dtype; found = 1; }
    }
    if (!found) {
        for (size_t i = 0; i < VKG__COUNTOF(st_other_dtypes); i++) {
            if (!strcmp(dt->valuestring, st_other_dtypes[i]))
                return vkg__error(ctx, VKG_ERR_WEIGHTS,
                                  "%s: key '%s': dtype %s is not supported (F32, F16 and BF16 are)", path, key,
                                  dt->valuestring);
        }
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': unknown dtype '%.32s'", path, key, dt->valuestring);
    }

    if (!cJSON_IsArray(shape))
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': missing or non-list 'shape'", path, key);
    int rank = cJSON_GetArraySize(shape);
    if (rank > MAX_FILE_DIMS)
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': rank %d is more than %d", path, key, rank,
                          MAX_FILE_DIMS);
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON *s = shape->child; s; s = s->next, d++) {
        uint64_t n;
        if (!is_json_uint(s, &n) || n > (uint64_t)INT64_MAX)
            return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': shape[%d] is not a non-negative integer", path,
                              key, d);
        e->ne[d] = (int64_t)n;
        if (__builtin_mul_overflow(numel, n, &numel) || numel > (uint64_t)INT64_MAX)
            return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': shape product overflows", path, key);
    }
    e->n_dims = rank;
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)vkg_dtype_size(e->dtype), &nbytes))
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': tensor size overflows", path, key);

    uint64_t b, en;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !is_json_uint(offs->child, &b) ||
        !is_json_uint(offs->child->next, &en))
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': 'data_offsets' is not two non-negative integers",
                          path, key);
    if (b > en)
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s': data_offsets begin %llu > end %llu", path, key,
                          (unsigned long long)b, (unsigned long long)en);
    if (en > data_size)
        return vkg__error(ctx, VKG_ERR_WEIGHTS,
                          "%s: key '%s': data_offsets end %llu is beyond the data section (%llu bytes)", path, key,
                          (unsigned long long)en, (unsigned long long)data_size);
    if (en - b != nbytes)
        return vkg__error(ctx, VKG_ERR_WEIGHTS,
                          "%s: key '%s': data_offsets span %llu bytes but shape and dtype need %llu", path, key,
                          (unsigned long long)(en - b), (unsigned long long)nbytes);
    e->offset = b;
    e->size = nbytes;
    return VKG_OK;
}

static vkg_result check_metadata(vkg_context *ctx, const char *path, const cJSON *md) {
    if (!cJSON_IsObject(md))
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: '__metadata__' is not an object", path);
    for (const cJSON *m = md->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: '__metadata__' value '%s' is not a string", path,
                              m->string);
    }
    return VKG_OK;
}

/* Checks the parsed header and fills st->entries and st->strings. */
static vkg_result parse_header(vkg_context *ctx, const char *path, const cJSON *root, uint64_t data_size,
                               vkg__safetensors *st) {
    if (!cJSON_IsObject(root))
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: header is not a JSON object", path);
    int n = 0;
    size_t str_bytes = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) {
            vkg_result r = check_metadata(ctx, path, it);
            if (r) return r;
            continue;
        }
        n++;
        str_bytes += strlen(it->string) + 1;
    }
    st->entries = vkg__calloc(ctx, (size_t)(n ? n : 1), sizeof *st->entries);
    st->strings = vkg__malloc(ctx, str_bytes ? str_bytes : 1);
    vkg__st_entry **order = vkg__calloc(ctx, (size_t)(n ? n : 1), sizeof *order);
    if (!st->entries || !st->strings || !order) {
        vkg__free(ctx, order);
        return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory reading the header", path);
    }
    vkg_result r = VKG_OK;
    char *sp = st->strings;
    int i = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) continue;
        vkg__st_entry *e = &st->entries[i++];
        size_t len = strlen(it->string) + 1;
        memcpy(sp, it->string, len);
        e->key = sp;
        sp += len;
        r = parse_entry(ctx, path, it, data_size, e);
        if (r) goto done;
    }
    st->n_entries = n;

    for (i = 0; i < n; i++) order[i] = &st->entries[i];
    qsort(order, (size_t)n, sizeof *order, cmp_entry_key);
    for (i = 1; i < n; i++) {
        if (!strcmp(order[i - 1]->key, order[i]->key)) {
            r = vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: key '%s' appears twice", path, order[i]->key);
            goto done;
        }
    }
    /* Holes are tolerated (the engine never reads them); overlaps are not.
     * Empty tensors overlap nothing. */
    qsort(order, (size_t)n, sizeof *order, cmp_entry_offset);
    const vkg__st_entry *prev = NULL;
    for (i = 0; i < n; i++) {
        const vkg__st_entry *e = order[i];
        if (e->size == 0) continue;
        if (prev && e->offset < prev->offset + prev->size) {
            r = vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: data of keys '%s' and '%s' overlap", path, prev->key, e->key);
            goto done;
        }
        prev = e;
    }
done:
    vkg__free(ctx, order);
    return r;
}

vkg_result vkg__st_open(vkg_context *ctx, const char *path, vkg__safetensors *out) {
    if (!ctx) return VKG_ERR_INVALID_ARG;
    if (!path || !out) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "vkg__st_open: NULL path or out");
    memset(out, 0, sizeof *out);
    out->ctx = ctx;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vkg__error(ctx, VKG_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return vkg__error(ctx, VKG_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return vkg__error(ctx, VKG_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    if (fsize < 8) {
        close(fd);
        return vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: file is %llu bytes, shorter than the 8-byte header length",
                          path, (unsigned long long)fsize);
    }
    void *map = mmap(NULL, (size_t)fsize, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) return vkg__error(ctx, VKG_ERR_IO, "%s: mmap: %s", path, strerror(map_errno));
    out->map = map;
    out->map_size = fsize;

    const uint8_t *bytes = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | bytes[i];
    vkg_result r;
    if (hlen > MAX_HEADER_BYTES) {
        r = vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: header length %llu is absurd (more than %u bytes)", path,
                       (unsigned long long)hlen, MAX_HEADER_BYTES);
        goto fail;
    }
    if (hlen > fsize - 8) {
        r = vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: header length %llu is beyond the end of the file (%llu bytes)",
                       path, (unsigned long long)hlen, (unsigned long long)fsize);
        goto fail;
    }
    if (hlen == 0) {
        r = vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: empty header", path);
        goto fail;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)bytes + 8, (size_t)hlen, &end, 0);
    if (!root) {
        long at = end ? (long)(end - (const char *)bytes - 8) : -1;
        r = vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: header is not valid JSON (near byte %ld of the header)", path, at);
        goto fail;
    }
    /* Only whitespace may follow the JSON value (writers pad with spaces). */
    for (const char *p = end; p < (const char *)bytes + 8 + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0') {
            cJSON_Delete(root);
            r = vkg__error(ctx, VKG_ERR_WEIGHTS, "%s: trailing bytes after the JSON header", path);
            goto fail;
        }
    }
    out->data = bytes + 8 + hlen;
    r = parse_header(ctx, path, root, fsize - 8 - hlen, out);
    cJSON_Delete(root);
    if (r) goto fail;
    return VKG_OK;
fail:
    vkg__st_close(out);
    return r;
}

void vkg__st_close(vkg__safetensors *st) {
    if (!st || !st->ctx) return;
    if (st->map) munmap(st->map, (size_t)st->map_size);
    vkg__free(st->ctx, st->entries);
    vkg__free(st->ctx, st->strings);
    memset(st, 0, sizeof *st);
}

const vkg__st_entry *vkg__st_find(const vkg__safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_entries; i++)
        if (!strcmp(st->entries[i].key, key)) return &st->entries[i];
    return NULL;
}

void vkg__st_to_f32(const vkg__safetensors *st, const vkg__st_entry *e, float *dst) {
    const uint8_t *src = st->data + e->offset;
    size_t es = vkg_dtype_size(e->dtype);
    size_t n = (size_t)(e->size / es);
    switch (e->dtype) {
    case VKG_DTYPE_F32:
        memcpy(dst, src, n * 4);  /* little-endian host assumed (as everywhere in the engine) */
        break;
    case VKG_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = vkg__f16_to_f32(h);
        }
        break;
    case VKG_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = vkg__bf16_to_f32(h);
        }
        break;
    default:
        VKG_ASSERT(!"vkg__st_to_f32: bad dtype");
    }
}

// >>writing
typedef struct sbuf {
    vkg_context *ctx;
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len) {
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *q = vkg__malloc(b->ctx, cap);
        if (!q) { b->oom = true; return; }
        if (b->p) memcpy(q, b->p, b->n);
        vkg__free(b->ctx, b->p);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_u64(sbuf *b, uint64_t v) {
    char t[24];
    int k = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    sb_put(b, t, (size_t)k);
}
static void sb_json_string(sbuf *b, const char *s) {
    sb_puts(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char t[8];
        if (*c == '"' || *c == '\\') { t[0] = '\\'; t[1] = (char)*c; sb_put(b, t, 2); }
        else if (*c < 0x20) { snprintf(t, sizeof t, "\\u%04x", *c); sb_put(b, t, 6); }
        else sb_put(b, (const char *)c, 1);
    }
    sb_puts(b, "\"");
}

static int cmp_write_order(const void *a, const void *b, const vkg__st_write_entry *e) {
    int x = *(const int *)a, y = *(const int *)b;
    size_t sx = vkg_dtype_size(e[x].dtype), sy = vkg_dtype_size(e[y].dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Stable order of the data: larger elements first, then the given order. */
static void sort_write_order(int *idx, int n, const vkg__st_write_entry *e) {
    for (int i = 1; i < n; i++) {   /* insertion sort: n is small and the input mostly sorted */
        int v = idx[i], j = i;
        while (j > 0 && cmp_write_order(&idx[j - 1], &v, e) > 0) { idx[j] = idx[j - 1]; j--; }
        idx[j] = v;
    }
}

static vkg_result write_data(FILE *f, const vkg__st_write_entry *e, uint64_t numel) {
    enum { CHUNK = 16384 };
    uint8_t buf[CHUNK * 4];
    for (uint64_t i = 0; i < numel; i += CHUNK) {
        size_t m = (size_t)VKG__MIN((uint64_t)CHUNK, numel - i);
        size_t bytes;
        if (e->dtype == VKG_DTYPE_F32) {
            memcpy(buf, e->data + i, m * 4);
            bytes = m * 4;
        } else {
            for (size_t k = 0; k < m; k++) {
                uint16_t h = e->dtype == VKG_DTYPE_F16 ? vkg__f32_to_f16(e->data[i + k])
                                                       : vkg__f32_to_bf16(e->data[i + k]);
                memcpy(buf + 2 * k, &h, 2);
            }
            bytes = m * 2;
        }
        if (fwrite(buf, 1, bytes, f) != bytes) return VKG_ERR_IO;
    }
    return VKG_OK;
}

vkg_result vkg__st_write(vkg_context *ctx, const char *path, const vkg__st_write_entry *e, int n) {
    if (!ctx) return VKG_ERR_INVALID_ARG;
    if (!path || n < 0 || (n > 0 && !e)) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "vkg__st_write: bad arguments");
    uint64_t *numel = vkg__calloc(ctx, (size_t)(n ? n : 1), sizeof *numel);
    int *idx = vkg__calloc(ctx, (size_t)(n ? n : 1), sizeof *idx);
    sbuf hb = {.ctx = ctx};
    FILE *f = NULL;
    vkg_result r = VKG_OK;
    if (!numel || !idx) { r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory", path); goto done; }

    for (int i = 0; i < n; i++) {
        const vkg__st_write_entry *w = &e[i];
        if (!w->key || !w->key[0] || !strcmp(w->key, "__metadata__")) {
            r = vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: entry %d: missing or reserved key", path, i);
            goto done;
        }
        if (!st_dtype_name(w->dtype) || w->n_dims < 0 || w->n_dims > VKG_MAX_DIMS) {
            r = vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: key '%s': bad dtype or rank", path, w->key);
            goto done;
        }
        uint64_t m = 1;
        for (int d = 0; d < w->n_dims; d++) {
            if (w->ne[d] < 0 || __builtin_mul_overflow(m, (uint64_t)w->ne[d], &m) || m > ((uint64_t)1 << 60)) {
                r = vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: key '%s': bad shape", path, w->key);
                goto done;
            }
        }
        if (m > 0 && !w->data) {
            r = vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: key '%s': no data", path, w->key);
            goto done;
        }
        for (int j = 0; j < i; j++) {
            if (!strcmp(e[j].key, w->key)) {
                r = vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: key '%s' given twice", path, w->key);
                goto done;
            }
        }
        numel[i] = m;
        idx[i] = i;
    }
    sort_write_order(idx, n, e);

    /* Offsets in data order, header in the given order. */
    uint64_t *begin = vkg__calloc(ctx, (size_t)(n ? n : 1), sizeof *begin);
    if (!begin) { r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory", path); goto done; }
    uint64_t pos = 0;
    for (int k = 0; k < n; k++) {
        begin[idx[k]] = pos;
        pos += numel[idx[k]] * vkg_dtype_size(e[idx[k]].dtype);
    }
    sb_puts(&hb, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        sb_puts(&hb, ",");
        sb_json_string(&hb, e[i].key);
        sb_puts(&hb, ":{\"dtype\":\"");
        sb_puts(&hb, st_dtype_name(e[i].dtype));
        sb_puts(&hb, "\",\"shape\":[");
        for (int d = 0; d < e[i].n_dims; d++) {
            if (d) sb_puts(&hb, ",");
            sb_u64(&hb, (uint64_t)e[i].ne[d]);
        }
        sb_puts(&hb, "],\"data_offsets\":[");
        sb_u64(&hb, begin[i]);
        sb_puts(&hb, ",");
        sb_u64(&hb, begin[i] + numel[i] * vkg_dtype_size(e[i].dtype));
        sb_puts(&hb, "]}");
    }
    sb_puts(&hb, "}");
    while (hb.n % 8) sb_puts(&hb, " ");
    vkg__free(ctx, begin);
    if (hb.oom) { r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory", path); goto done; }

    f = fopen(path, "wb");
    if (!f) { r = vkg__error(ctx, VKG_ERR_IO, "%s: %s", path, strerror(errno)); goto done; }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hb.n >> (8 * i));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(hb.p, 1, hb.n, f) != hb.n) r = VKG_ERR_IO;
    for (int k = 0; k < n && !r; k++) r = write_data(f, &e[idx[k]], numel[idx[k]]);
    if (fclose(f) != 0 && !r) r = VKG_ERR_IO;
    f = NULL;
    if (r) {
        r = vkg__error(ctx, VKG_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(path);
    }
done:
    vkg__free(ctx, hb.p);
    vkg__free(ctx, numel);
    vkg__free(ctx, idx);
    return r;
}
