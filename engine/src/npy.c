/*
 * npy.c — NumPy .npy tensor files (vkg_npy_read, vkg_npy_write,
 * vkg_host_tensor_free).
 *
 * Format (numpy/lib/format.py): magic "\x93NUMPY", major and minor version
 * bytes, header length (2 bytes LE in v1.0, 4 bytes in v2.0/v3.0), then a
 * Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n', then the raw C-order data.
 *
 * Reading accepts '<f2' '<f4' '<f8' (-> f32) and '<i4' '<i8' (-> i32), either
 * byte order, rank 1..4; everything else is VKG_ERR_INPUT with the file and
 * the reason. Writing produces the bytes np.save produces (v1.0 header, 64-byte
 * alignment, the same spare space after the dict).
 *
 * Calls: result.c (errors, host memory), safetensors.c (f16 conversion). Never prints.
 */
#include "vkg_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_HEADER (1u << 20)
#define NPY_MAX_PARSE_DIMS 32

// >>header parsing
typedef struct hparse {
    const char *p, *end;
} hparse;

static void skip_ws(hparse *h) {
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static bool eat(hparse *h, char c) {
    skip_ws(h);
    if (h->p < h->end && *h->p == c) { h->p++; return true; }
    return false;
}

static bool eat_word(hparse *h, const char *w) {
    skip_ws(h);
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) >= n && !memcmp(h->p, w, n)) { h->p += n; return true; }
    return false;
}

/* A quoted Python string without escapes; out gets at most cap-1 chars. */
static bool parse_str(hparse *h, char *out, size_t cap) {
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return false;
    char q = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || n + 1 >= cap) return false;
        out[n++] = *h->p++;
    }
    if (h->p >= h->end) return false;
    h->p++;
    out[n] = 0;
    return true;
}

/* A non-negative decimal integer (Python 2 files may add 'L'), <= INT64_MAX. */
static bool parse_uint(hparse *h, uint64_t *out) {
    skip_ws(h);
    if (h->p >= h->end || *h->p < '0' || *h->p > '9') return false;
    uint64_t v = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
        if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, (uint64_t)(*h->p - '0'), &v) ||
            v > (uint64_t)INT64_MAX)
            return false;
        h->p++;
    }
    if (h->p < h->end && (*h->p == 'L' || *h->p == 'l')) h->p++;
    *out = v;
    return true;
}

typedef struct npy_header {
    char descr[32];
    bool fortran;
    int n_dims;
    uint64_t ne[NPY_MAX_PARSE_DIMS];
} npy_header;

/* Parses the dict literal; on failure returns a static reason. */
static const char *parse_header(hparse *h, npy_header *hd) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    if (!eat(h, '{')) return "header does not start with '{'";
    for (;;) {
        if (eat(h, '}')) break;
        char key[32];
        if (!parse_str(h, key, sizeof key)) return "expected a quoted key in the header";
        if (!eat(h, ':')) return "expected ':' after a header key";
        if (!strcmp(key, "descr")) {
            skip_ws(h);
            if (h->p < h->end && *h->p == '[') return "structured dtypes are not supported";
            if (!parse_str(h, hd->descr, sizeof hd->descr)) return "'descr' is not a string";
            have_descr = true;
        } else if (!strcmp(key, "fortran_order")) {
            if (eat_word(h, "True")) hd->fortran = true;
            else if (eat_word(h, "False")) hd->fortran = false;
            else return "'fortran_order' is not True or False";
            have_fortran = true;
        } else if (!strcmp(key, "shape")) {
            if (!eat(h, '(')) return "'shape' is not a tuple";
            hd->n_dims = 0;
            while (!eat(h, ')')) {
                if (hd->n_dims >= NPY_MAX_PARSE_DIMS) return "'shape' has too many dimensions";
                if (!parse_uint(h, &hd->ne[hd->n_dims])) return "'shape' is not a tuple of non-negative integers";
                hd->n_dims++;
                if (eat(h, ')')) break;
                if (!eat(h, ',')) return "expected ',' or ')' in 'shape'";
            }
            have_shape = true;
        } else {
            return "unknown key in the header";
        }
        if (eat(h, '}')) break;
        if (!eat(h, ',')) return "expected ',' or '}' in the header";
    }
    skip_ws(h);
    if (h->p != h->end) return "trailing characters after the header dict";
    if (!have_descr || !have_fortran || !have_shape) return "header lacks 'descr', 'fortran_order' or 'shape'";
    return NULL;
}

// >>reading
typedef struct npy_type {
    char kind;          /* 'f' or 'i' */
    int size;           /* bytes */
    bool big_endian;
} npy_type;

static bool parse_descr(const char *d, npy_type *t) {
    t->big_endian = false;
    if (*d == '<' || *d == '=' || *d == '|') d++;
    else if (*d == '>') { t->big_endian = true; d++; }
    if ((d[0] != 'f' && d[0] != 'i') || !d[1] || d[2]) return false;
    t->kind = d[0];
    t->size = d[1] - '0';
    if (t->kind == 'f') return t->size == 2 || t->size == 4 || t->size == 8;
    return t->size == 4 || t->size == 8;
}

static void bswap_elems(uint8_t *p, uint64_t n, int size) {
    for (uint64_t i = 0; i < n; i++, p += size) {
        for (int a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t t = p[a]; p[a] = p[b]; p[b] = t;
        }
    }
}

/* Converts n elements of raw (native order after swapping) into dst (f32 or i32). */
static vkg_result convert(vkg_context *ctx, const char *path, const npy_type *t, const uint8_t *raw, uint64_t n,
                          void *dst) {
    float *f = dst;
    int32_t *iv = dst;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *s = raw + i * (uint64_t)t->size;
        if (t->kind == 'f' && t->size == 2) {
            uint16_t h; memcpy(&h, s, 2); f[i] = vkg__f16_to_f32(h);
        } else if (t->kind == 'f' && t->size == 8) {
            double d; memcpy(&d, s, 8); f[i] = (float)d;
        } else if (t->kind == 'f') {
            memcpy(&f[i], s, 4);
        } else if (t->size == 8) {
            int64_t v; memcpy(&v, s, 8);
            if (v < INT32_MIN || v > INT32_MAX)
                return vkg__error(ctx, VKG_ERR_INPUT, "%s: element %llu (%lld) does not fit in int32", path,
                                  (unsigned long long)i, (long long)v);
            iv[i] = (int32_t)v;
        } else {
            memcpy(&iv[i], s, 4);
        }
    }
    return VKG_OK;
}

static vkg_result read_file(vkg_context *ctx, const char *path, FILE *f, vkg_host_tensor *out) {
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) return vkg__error(ctx, VKG_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return vkg__error(ctx, VKG_ERR_IO, "%s: not a regular file", path);
    uint64_t fsize = (uint64_t)sb.st_size;

    uint8_t pre[12];
    if (fsize < 10 || fread(pre, 1, 10, f) != 10)
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: truncated (no complete .npy preamble)", path);
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: not a .npy file (bad magic)", path);
    int major = pre[6];
    uint64_t hlen, hstart;
    if (major == 1) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (fsize < 12 || fread(pre + 10, 1, 2, f) != 2)
            return vkg__error(ctx, VKG_ERR_INPUT, "%s: truncated (no complete .npy preamble)", path);
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
        hstart = 12;
    } else {
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: unsupported .npy version %d.%d", path, major, pre[7]);
    }
    if (hlen > NPY_MAX_HEADER)
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: header length %llu is absurd", path, (unsigned long long)hlen);
    if (hlen > fsize - hstart)
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: truncated header (%llu bytes announced, %llu in the file)", path,
                          (unsigned long long)hlen, (unsigned long long)(fsize - hstart));

    char *hbuf = vkg__malloc(ctx, (size_t)hlen + 1);
    if (!hbuf) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (fread(hbuf, 1, (size_t)hlen, f) != hlen) {
        vkg__free(ctx, hbuf);
        return vkg__error(ctx, VKG_ERR_IO, "%s: read error", path);
    }
    hbuf[hlen] = 0;
    npy_header hd = {0};
    hparse hp = {hbuf, hbuf + hlen};
    const char *why = parse_header(&hp, &hd);
    vkg__free(ctx, hbuf);
    if (why) return vkg__error(ctx, VKG_ERR_INPUT, "%s: bad .npy header: %s", path, why);

    npy_type t;
    if (!parse_descr(hd.descr, &t))
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: dtype '%s' is not supported (f2, f4, f8, i4, i8 are)", path,
                          hd.descr);
    if (hd.fortran)
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: fortran_order arrays are not supported (save a C-order array)",
                          path);
    if (hd.n_dims == 0) return vkg__error(ctx, VKG_ERR_INPUT, "%s: a scalar (shape ()) is not a tensor", path);
    if (hd.n_dims > VKG_MAX_DIMS)
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: rank %d is more than %d", path, hd.n_dims, VKG_MAX_DIMS);
    uint64_t numel = 1, raw_bytes, out_bytes;
    for (int d = 0; d < hd.n_dims; d++) {
        if (__builtin_mul_overflow(numel, hd.ne[d], &numel))
            return vkg__error(ctx, VKG_ERR_INPUT, "%s: shape product overflows", path);
    }
    if (__builtin_mul_overflow(numel, (uint64_t)t.size, &raw_bytes) ||
        __builtin_mul_overflow(numel, (uint64_t)4, &out_bytes) || raw_bytes > SIZE_MAX / 2)
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: shape product overflows", path);
    uint64_t have = fsize - hstart - hlen;
    if (raw_bytes > have)
        return vkg__error(ctx, VKG_ERR_INPUT, "%s: truncated data (%llu bytes needed, %llu present)", path,
                          (unsigned long long)raw_bytes, (unsigned long long)have);

    uint8_t *raw = vkg__malloc(ctx, (size_t)raw_bytes);
    if (!raw) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory (%llu bytes)", path,
                                (unsigned long long)raw_bytes);
    if (fread(raw, 1, (size_t)raw_bytes, f) != raw_bytes) {
        vkg__free(ctx, raw);
        return vkg__error(ctx, VKG_ERR_IO, "%s: read error", path);
    }
    if (t.big_endian) bswap_elems(raw, numel, t.size);
    void *data = raw;
    bool direct = t.size == 4;     /* f4 / i4: raw is the result */
    if (!direct) {
        data = vkg__malloc(ctx, (size_t)out_bytes);
        if (!data) {
            vkg__free(ctx, raw);
            return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        }
        vkg_result r = convert(ctx, path, &t, raw, numel, data);
        vkg__free(ctx, raw);
        if (r) { vkg__free(ctx, data); return r; }
    }
    out->dtype = t.kind == 'f' ? VKG_DTYPE_F32 : VKG_DTYPE_I32;
    out->n_dims = hd.n_dims;
    for (int d = 0; d < hd.n_dims; d++) out->ne[d] = (int64_t)hd.ne[d];
    out->data = data;
    return VKG_OK;
}

vkg_result vkg_npy_read(vkg_context *ctx, const char *path, vkg_host_tensor *out) {
    if (!ctx) return VKG_ERR_INVALID_ARG;
    if (!path || !out) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "vkg_npy_read: NULL path or out");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return vkg__error(ctx, VKG_ERR_IO, "%s: %s", path, strerror(errno));
    vkg_result r = read_file(ctx, path, f, out);
    fclose(f);
    return r;
}

// >>writing
vkg_result vkg_npy_write(vkg_context *ctx, const char *path, const vkg_host_tensor *t) {
    if (!ctx) return VKG_ERR_INVALID_ARG;
    if (!path || !t) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "vkg_npy_write: NULL path or tensor");
    const char *descr = t->dtype == VKG_DTYPE_F32 ? "<f4"
                        : t->dtype == VKG_DTYPE_I32 ? "<i4"
                        : t->dtype == VKG_DTYPE_F16 ? "<f2"
                                                    : NULL;
    if (!descr)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: cannot write a %s tensor as .npy", path,
                          vkg_dtype_name(t->dtype));
    if (t->n_dims < 1 || t->n_dims > VKG_MAX_DIMS)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: rank %d is not 1..%d", path, t->n_dims, VKG_MAX_DIMS);
    uint64_t numel = 1;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->ne[d] < 0 || __builtin_mul_overflow(numel, (uint64_t)t->ne[d], &numel) || numel > ((uint64_t)1 << 60))
            return vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: bad shape", path);
    }
    if (numel && !t->data) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: tensor has no data", path);

    /* As numpy.lib.format._write_array_header: keys sorted, spare room for
     * the first axis to grow (21 digits), padded with spaces to 64 bytes. */
    char shape[160];
    int k = snprintf(shape, sizeof shape, "(");
    for (int d = 0; d < t->n_dims; d++)
        k += snprintf(shape + k, sizeof shape - (size_t)k, d ? ", %lld" : "%lld", (long long)t->ne[d]);
    snprintf(shape + k, sizeof shape - (size_t)k, t->n_dims == 1 ? ",)" : ")");
    char first[24];
    int first_len = snprintf(first, sizeof first, "%lld", (long long)t->ne[0]);
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    for (int i = first_len; i < 21; i++) hdr[n++] = ' ';
    int pad = 64 - (10 + n + 1) % 64;
    for (int i = 0; i < pad; i++) hdr[n++] = ' ';
    hdr[n++] = '\n';

    FILE *f = fopen(path, "wb");
    if (!f) return vkg__error(ctx, VKG_ERR_IO, "%s: %s", path, strerror(errno));
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(n & 0xff), (uint8_t)(n >> 8)};
    size_t bytes = (size_t)numel * vkg_dtype_size(t->dtype);
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n &&
              (bytes == 0 || fwrite(t->data, 1, bytes, f) == bytes);
    int e = errno;
    if (fclose(f) != 0 && ok) { ok = false; e = errno; }
    if (!ok) {
        remove(path);
        return vkg__error(ctx, VKG_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return VKG_OK;
}

void vkg_host_tensor_free(vkg_context *ctx, vkg_host_tensor *t) {
    if (!ctx || !t) return;
    vkg__free(ctx, t->data);
    memset(t, 0, sizeof *t);
}
