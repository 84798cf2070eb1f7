/*
 * test_io.c — weight and tensor files, half-precision conversions and the
 * random generator (safetensors.c, npy.c, rng.c).
 *
 * Reference .npy and .safetensors files in tests/data/ come from Debian's
 * numpy and tools/safetensors_io.py (tests/data/make_io_data.py); bad files
 * are generated here into a temporary folder. Error tests assert result
 * codes, never message text.
 */
#include "vkg_impl.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// >>fixture: a context and a temporary folder per test
static vkg_context *ctx;
static char tmp_dir[256];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void setup(void) {
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU}, &ctx), VKG_OK);
    const char *t = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/vkg_test_io_XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(tmp_dir));
}

static void teardown(void) {
    vkg_context_destroy(ctx);
    ctx = NULL;
    nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

static const char *data(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    const char *root = getenv("VKG_SOURCE_ROOT");
    snprintf(buf[k], sizeof buf[k], "%s/tests/data/%s", root && *root ? root : ".", name);
    return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)sz + 1);
    cr_assert_eq(fread(p, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static bool same_float(float a, float b) { return fbits(a) == fbits(b) || (isnan(a) && isnan(b)); }

// >>f16 / bf16 conversions
static double f16_value(uint16_t h) {   /* independent decoding with ldexp */
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

Test(io, f16_exhaustive_round_trip) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = vkg__f16_to_f32((uint16_t)h);
        uint16_t back = vkg__f32_to_f16(f);
        bool is_nan = ((h >> 10) & 31) == 31 && (h & 1023);
        bool is_inf = ((h >> 10) & 31) == 31 && !(h & 1023);
        if (is_nan) {
            cr_assert(isnan(f), "h=%04x", h);
            cr_assert_eq(back & 0x7c00, 0x7c00, "h=%04x", h);
            cr_assert_neq(back & 0x3ff, 0, "h=%04x", h);
            cr_assert_eq(back & 0x8000, h & 0x8000, "h=%04x", h);
        } else if (is_inf) {
            cr_assert(isinf(f) && (signbit(f) != 0) == (h >> 15), "h=%04x", h);
            cr_assert_eq(back, h);
        } else {
            cr_assert_eq((double)f, f16_value((uint16_t)h), "h=%04x", h);
            cr_assert_eq(signbit(f) != 0, (bool)(h >> 15), "h=%04x", h);
            cr_assert_eq(back, h, "h=%04x -> %a -> %04x", h, (double)f, back);
        }
    }
}

Test(io, f16_round_to_nearest_even) {
    /* Between every pair of neighbouring finite halves of both signs: the
     * midpoint goes to the even one, one f32 ulp either side to the nearer. */
    for (uint32_t h = 0; h < 0x7bff; h++) {
        for (int sgn = 0; sgn < 2; sgn++) {
            uint16_t lo = (uint16_t)(h | (sgn << 15)), hi = (uint16_t)((h + 1) | (sgn << 15));
            double a = f16_value(lo), b = f16_value(hi);
            float mid = (float)((a + b) / 2);              /* exact in f32 */
            cr_assert_eq((double)mid, (a + b) / 2);
            uint16_t even = (h & 1) ? hi : lo;
            cr_assert_eq(vkg__f32_to_f16(mid), even, "h=%04x", h);
            float below = nextafterf(mid, (float)a), above = nextafterf(mid, (float)b);
            cr_assert_eq(vkg__f32_to_f16(below), lo, "h=%04x", h);
            cr_assert_eq(vkg__f32_to_f16(above), hi, "h=%04x", h);
        }
    }
    cr_assert_eq(vkg__f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(vkg__f32_to_f16(nextafterf(65520.0f, 0)), 0x7bff);
    cr_assert_eq(vkg__f32_to_f16(65520.0f), 0x7c00);           /* tie to even: inf */
    cr_assert_eq(vkg__f32_to_f16(-65520.0f), 0xfc00);
    cr_assert_eq(vkg__f32_to_f16(1e30f), 0x7c00);
    cr_assert_eq(vkg__f32_to_f16(INFINITY), 0x7c00);
    cr_assert_eq(vkg__f32_to_f16(-INFINITY), 0xfc00);
    cr_assert_eq(vkg__f32_to_f16(-0.0f), 0x8000);
    cr_assert_eq(vkg__f32_to_f16(0x1p-25f), 0x0000);          /* tie to even zero */
    cr_assert_eq(vkg__f32_to_f16(nextafterf(0x1p-25f, 1)), 0x0001);
    cr_assert_eq(vkg__f32_to_f16(0x1p-26f), 0x0000);
    cr_assert_eq(vkg__f32_to_f16(0x3p-25f), 0x0002);          /* 1.5 ulp: tie to even 2 */
    cr_assert_eq(vkg__f32_to_f16(bitsf(1)), 0x0000);          /* smallest f32 subnormal */
    cr_assert_eq(vkg__f32_to_f16(nextafterf(0x1p-14f, 0)), 0x0400);   /* rounds up to the smallest normal */
    uint16_t n = vkg__f32_to_f16(NAN);
    cr_assert(((n >> 10) & 31) == 31 && (n & 1023));
    cr_assert(isnan(vkg__f16_to_f32(vkg__f32_to_f16(bitsf(0x7f800001)))));   /* payload only in low bits */
    cr_assert(isnan(vkg__f16_to_f32(vkg__f32_to_f16(bitsf(0xff800001)))));
}

#ifdef __FLT16_MAX__
Test(io, f16_matches_compiler_float16) {
    /* The compiler's own conversion as an independent oracle, on a stride
     * through every f32 bit pattern. */
    for (uint64_t u = 0; u < (1ull << 32); u += 251) {
        float f = bitsf((uint32_t)u);
        volatile float vf = f;
        _Float16 h = (_Float16)vf;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        uint16_t mine = vkg__f32_to_f16(f);
        if (isnan(f)) cr_assert(((mine >> 10) & 31) == 31 && (mine & 1023));
        else cr_assert_eq(mine, hb, "f=%08x mine %04x cc %04x", (uint32_t)u, mine, hb);
    }
}
#endif

Test(io, bf16_conversions) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = vkg__bf16_to_f32((uint16_t)h);
        cr_assert_eq(fbits(f), h << 16);
        uint16_t back = vkg__f32_to_bf16(f);
        if (isnan(f)) cr_assert(((back >> 7) & 0xff) == 0xff && (back & 0x7f), "h=%04x", h);
        else cr_assert_eq(back, h, "h=%04x", h);
    }
    /* ties and neighbours */
    for (uint32_t h = 0; h < 0x7f7f; h += 7) {
        uint32_t mid = (h << 16) | 0x8000;
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        cr_assert_eq(vkg__f32_to_bf16(bitsf(mid)), even, "h=%04x", h);
        cr_assert_eq(vkg__f32_to_bf16(bitsf(mid - 1)), h);
        cr_assert_eq(vkg__f32_to_bf16(bitsf(mid + 1)), h + 1);
        cr_assert_eq(vkg__f32_to_bf16(bitsf(mid | 0x80000000u)), even | 0x8000);
    }
    cr_assert_eq(vkg__f32_to_bf16(bitsf(0x7f7fffff)), 0x7f80);     /* FLT_MAX rounds to inf */
    cr_assert_eq(vkg__f32_to_bf16(INFINITY), 0x7f80);
    cr_assert_eq(vkg__f32_to_bf16(-0.0f), 0x8000);
    cr_assert(isnan(vkg__bf16_to_f32(vkg__f32_to_bf16(bitsf(0x7f800001)))));
    cr_assert(isnan(vkg__bf16_to_f32(vkg__f32_to_bf16(bitsf(0x7fffffff)))));  /* must not carry into inf */
    cr_assert(isnan(vkg__bf16_to_f32(vkg__f32_to_bf16(bitsf(0xffffffff)))));
}

// >>rng
Test(io, rng_reproducible) {
    vkg__rng a, b, c;
    vkg__rng_seed(&a, 0);
    cr_assert_eq(a.s[0], 0xe220a8397b1dcdafull);            /* splitmix64(0), first output */
    vkg__rng_seed(&a, 42);
    vkg__rng_seed(&b, 42);
    vkg__rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = vkg__rng_next(&a), y = vkg__rng_next(&b), z = vkg__rng_next(&c);
        cr_assert_eq(x, y);
        differ += x != z;
    }
    cr_assert_gt(differ, 990);
    for (int i = 0; i < 1001; i++) {
        double x = vkg__rng_normal(&a), y = vkg__rng_normal(&b);
        cr_assert_eq(fbits((float)x), fbits((float)y));
        cr_assert(isfinite(x));
    }
    /* Reseeding restarts the stream and drops a cached spare. */
    vkg__rng_seed(&a, 7);
    double first = vkg__rng_normal(&a);
    vkg__rng_seed(&a, 7);
    cr_assert_eq(vkg__rng_normal(&a), first);
    cr_assert(a.has_spare);
    vkg__rng_seed(&a, 7);
    cr_assert(!a.has_spare);
    cr_assert_eq(vkg__rng_normal(&a), first);
}

Test(io, rng_moments) {
    vkg__rng r;
    vkg__rng_seed(&r, 12345);
    const int n = 1000000;
    double s = 0, s2 = 0, mn = 1, mx = 0;
    for (int i = 0; i < n; i++) {
        double u = vkg__rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        s += u; s2 += u * u;
        mn = fmin(mn, u); mx = fmax(mx, u);
    }
    double mean = s / n, var = s2 / n - mean * mean;
    cr_assert(fabs(mean - 0.5) < 0.002, "mean %g", mean);
    cr_assert(fabs(var - 1.0 / 12) < 0.001, "var %g", var);
    cr_assert(mn < 1e-4 && mx > 1 - 1e-4);
    s = s2 = 0;
    double s3 = 0, s4 = 0;
    int tail = 0;
    for (int i = 0; i < n; i++) {
        double z = vkg__rng_normal(&r);
        s += z; s2 += z * z; s3 += z * z * z; s4 += z * z * z * z;
        tail += fabs(z) > 3;
    }
    mean = s / n;
    var = s2 / n - mean * mean;
    cr_assert(fabs(mean) < 0.005, "mean %g", mean);
    cr_assert(fabs(var - 1) < 0.01, "var %g", var);
    cr_assert(fabs(s3 / n) < 0.02, "skew %g", s3 / n);
    cr_assert(fabs(s4 / n - 3) < 0.05, "kurtosis %g", s4 / n);
    cr_assert(tail > 2300 && tail < 3100, "|z|>3: %d (expect ~2700)", tail);  /* 0.27% */
}

// >>safetensors: writing and reading back
static float test_value(int key, int64_t i) {
    /* awkward values: mixed magnitudes, exact halves, specials */
    switch ((i + key) % 11) {
    case 0: return (float)i * 0.001f - 0.37f * (float)key;
    case 1: return 1e-6f * (float)(i + 1);          /* f16 subnormals */
    case 2: return 0.5f + (float)i;
    case 3: return -70000.0f;                       /* f16 overflow */
    case 4: return (float)sin((double)i) * 3;
    case 5: return -0.0f;
    case 6: return i % 3 ? 1.0f / 3.0f : INFINITY;
    case 7: return i % 5 ? -2.5e-8f : NAN;
    default: return (float)(i * 7 % 101) / 13.0f;
    }
}

typedef struct st_case { const char *key; vkg_dtype dtype; int n_dims; int64_t ne[4]; } st_case;

static void check_round_trip(const st_case *cases, int n, const char *name) {
    vkg__st_write_entry *w = calloc((size_t)n, sizeof *w);
    float **vals = calloc((size_t)n, sizeof *vals);
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < cases[i].n_dims; d++) numel *= cases[i].ne[d];
        vals[i] = malloc((size_t)(numel ? numel : 1) * 4);
        for (int64_t j = 0; j < numel; j++) vals[i][j] = test_value(i, j);
        w[i] = (vkg__st_write_entry){.key = cases[i].key, .dtype = cases[i].dtype, .n_dims = cases[i].n_dims,
                                     .data = vals[i]};
        memcpy(w[i].ne, cases[i].ne, sizeof w[i].ne);
    }
    const char *path = tmp(name);
    cr_assert_eq(vkg__st_write(ctx, path, w, n), VKG_OK, "%s", vkg_last_error(ctx));

    size_t fsize;
    uint8_t *raw = read_bytes(path, &fsize);
    uint64_t hlen;
    memcpy(&hlen, raw, 8);
    cr_assert_eq(hlen % 8, 0);
    free(raw);

    vkg__safetensors st;
    cr_assert_eq(vkg__st_open(ctx, path, &st), VKG_OK, "%s", vkg_last_error(ctx));
    cr_assert_eq(st.n_entries, n);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const vkg__st_entry *e = &st.entries[i];
        cr_assert_str_eq(e->key, cases[i].key);                 /* given order kept */
        cr_assert_eq(vkg__st_find(&st, cases[i].key), e);
        cr_assert_eq(e->dtype, cases[i].dtype);
        cr_assert_eq(e->n_dims, cases[i].n_dims);
        int64_t numel = 1;
        for (int d = 0; d < e->n_dims; d++) {
            cr_assert_eq(e->ne[d], cases[i].ne[d]);
            numel *= e->ne[d];
        }
        cr_assert_eq(e->size, (uint64_t)numel * vkg_dtype_size(e->dtype));
        cr_assert_eq(e->offset % vkg_dtype_size(e->dtype), 0, "element alignment");
        total += e->size;
        float *got = malloc((size_t)(numel ? numel : 1) * 4);
        vkg__st_to_f32(&st, e, got);
        for (int64_t j = 0; j < numel; j++) {
            float want = vals[i][j];
            if (e->dtype == VKG_DTYPE_F16) want = vkg__f16_to_f32(vkg__f32_to_f16(want));
            if (e->dtype == VKG_DTYPE_BF16) want = vkg__bf16_to_f32(vkg__f32_to_bf16(want));
            cr_assert(same_float(got[j], want), "%s[%lld]: %a vs %a", e->key, (long long)j, (double)got[j],
                      (double)want);
        }
        free(got);
        free(vals[i]);
    }
    cr_assert_eq(8 + hlen + total, fsize, "data packed without holes");
    vkg__st_close(&st);
    cr_assert_null(st.map);
    free(vals);
    free(w);
}

Test(io, safetensors_round_trip, .init = setup, .fini = teardown) {
    const st_case cases[] = {
        {"tok_emb.weight", VKG_DTYPE_F32, 2, {257, 13}},
        {"blocks.0.norm.weight", VKG_DTYPE_F16, 1, {7}},
        {"blocks.0.attn.q.weight", VKG_DTYPE_BF16, 2, {13, 7}},
        {"blocks.0.mlp.w", VKG_DTYPE_F32, 4, {1, 7, 1, 13}},     /* after an odd f16 count */
        {"one", VKG_DTYPE_F16, 1, {1}},
        {"scalar", VKG_DTYPE_F32, 0, {0}},
        {"empty", VKG_DTYPE_F32, 2, {0, 5}},
        {"empty16", VKG_DTYPE_BF16, 1, {0}},
        {"hundred", VKG_DTYPE_BF16, 3, {100, 1, 1}},
        {"quote\"back\\slash\ttab", VKG_DTYPE_F32, 1, {3}},
    };
    check_round_trip(cases, (int)VKG__COUNTOF(cases), "rt.safetensors");
    for (int k = 0; k < 3; k++) {
        vkg_dtype t = k == 0 ? VKG_DTYPE_F32 : k == 1 ? VKG_DTYPE_F16 : VKG_DTYPE_BF16;
        const st_case one[] = {{"x", t, 1, {1}}, {"y", t, 2, {7, 13}}, {"z", t, 1, {257}}};
        check_round_trip(one, 3, "one.safetensors");
    }
    check_round_trip(NULL, 0, "none.safetensors");
}

Test(io, safetensors_matches_python_helper, .init = setup, .fini = teardown) {
    /* tests/data/io_py.safetensors comes from tools/safetensors_io.py:
     * the C writer must produce the same bytes, and read it. */
    float a[6], b[7];
    for (int i = 0; i < 6; i++) a[i] = (float)i * 0.25f - 0.5f;
    for (int i = 0; i < 7; i++) b[i] = (float)i * 0.5f - 1;
    vkg__st_write_entry w[2] = {
        {.key = "b.f16", .dtype = VKG_DTYPE_F16, .n_dims = 1, .ne = {7}, .data = b},
        {.key = "a.f32", .dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {2, 3}, .data = a},
    };
    cr_assert_eq(vkg__st_write(ctx, tmp("c.safetensors"), w, 2), VKG_OK);
    size_t n1, n2;
    uint8_t *mine = read_bytes(tmp("c.safetensors"), &n1);
    uint8_t *ref = read_bytes(data("io_py.safetensors"), &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(mine, ref, n1), 0);
    free(mine);
    free(ref);

    vkg__safetensors st;
    cr_assert_eq(vkg__st_open(ctx, data("io_py_bf16.safetensors"), &st), VKG_OK, "%s", vkg_last_error(ctx));
    const vkg__st_entry *e = vkg__st_find(&st, "w");
    cr_assert_not_null(e);
    cr_assert_null(vkg__st_find(&st, "nope"));
    cr_assert_eq(e->dtype, VKG_DTYPE_BF16);
    cr_assert_eq(e->n_dims, 1);
    cr_assert_eq(e->ne[0], 13);
    float got[13];
    vkg__st_to_f32(&st, e, got);
    for (int i = 0; i < 13; i++) cr_assert_eq(got[i], (float)(i - 6) * 0.5f);
    vkg__st_close(&st);
}

Test(io, safetensors_write_errors, .init = setup, .fini = teardown) {
    float x[4] = {0};
    vkg__st_write_entry w[2] = {
        {.key = "a", .dtype = VKG_DTYPE_F32, .n_dims = 1, .ne = {4}, .data = x},
        {.key = "a", .dtype = VKG_DTYPE_F32, .n_dims = 1, .ne = {4}, .data = x},
    };
    cr_assert_eq(vkg__st_write(ctx, tmp("d.safetensors"), w, 2), VKG_ERR_INVALID_ARG);   /* duplicate */
    w[1].key = "__metadata__";
    cr_assert_eq(vkg__st_write(ctx, tmp("d.safetensors"), w, 2), VKG_ERR_INVALID_ARG);
    w[1].key = "b";
    w[1].dtype = VKG_DTYPE_I32;
    cr_assert_eq(vkg__st_write(ctx, tmp("d.safetensors"), w, 2), VKG_ERR_INVALID_ARG);
    w[1].dtype = VKG_DTYPE_F16;
    w[1].ne[0] = -1;
    cr_assert_eq(vkg__st_write(ctx, tmp("d.safetensors"), w, 2), VKG_ERR_INVALID_ARG);
    w[1].ne[0] = 4;
    w[1].data = NULL;
    cr_assert_eq(vkg__st_write(ctx, tmp("d.safetensors"), w, 2), VKG_ERR_INVALID_ARG);
    w[1].data = x;
    cr_assert_eq(vkg__st_write(ctx, tmp("no/such/dir.safetensors"), w, 2), VKG_ERR_IO);
    cr_assert_eq(vkg__st_write(ctx, tmp("d.safetensors"), w, 2), VKG_OK);
}

// >>safetensors: bad files
/* Writes 8-byte length + header (padded to 8 unless raw) + data_len bytes of data. */
static const char *st_file(const char *header, size_t data_len) {
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_len;
    uint8_t *p = calloc(1, n);
    uint64_t l = hl;
    memcpy(p, &l, 8);
    memcpy(p + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) p[8 + hl + i] = (uint8_t)(i * 37);
    const char *path = tmp("bad.safetensors");
    write_bytes(path, p, n);
    free(p);
    return path;
}

static vkg_result st_try(const char *path) {
    vkg__safetensors st;
    memset(&st, 0xab, sizeof st);
    vkg_result r = vkg__st_open(ctx, path, &st);
    if (r == VKG_OK) {
        /* every entry must be readable */
        for (int i = 0; i < st.n_entries; i++) {
            const vkg__st_entry *e = &st.entries[i];
            cr_assert_leq(e->offset + e->size, st.map_size);
            float *f = malloc((size_t)(e->size / vkg_dtype_size(e->dtype)) * 4 + 4);
            vkg__st_to_f32(&st, e, f);
            free(f);
        }
        vkg__st_close(&st);
    } else {
        cr_assert_null(st.map);
        cr_assert_null(st.entries);
        cr_assert_neq(vkg_last_error(ctx)[0], 0);
    }
    return r;
}

#define ST_BAD(hdr, dlen) cr_assert_eq(st_try(st_file(hdr, dlen)), VKG_ERR_WEIGHTS, "%s", hdr)
#define ST_GOOD(hdr, dlen) cr_assert_eq(st_try(st_file(hdr, dlen)), VKG_OK, "%s: %s", hdr, vkg_last_error(ctx))

Test(io, safetensors_bad_files, .init = setup, .fini = teardown) {
    /* too short, bad header length */
    write_bytes(tmp("s0"), "", 0);
    cr_assert_eq(st_try(tmp("s0")), VKG_ERR_WEIGHTS);
    write_bytes(tmp("s5"), "\x10\0\0\0\0", 5);
    cr_assert_eq(st_try(tmp("s5")), VKG_ERR_WEIGHTS);
    uint8_t big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    write_bytes(tmp("s16"), big, 16);
    cr_assert_eq(st_try(tmp("s16")), VKG_ERR_WEIGHTS);             /* absurd */
    uint8_t over[16] = {9, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    write_bytes(tmp("s9"), over, 16);
    cr_assert_eq(st_try(tmp("s9")), VKG_ERR_WEIGHTS);              /* beyond the file */
    uint8_t mb[16] = {0, 0, 0, 7, 0, 0, 0, 0, '{', '}'};             /* 117 MB */
    write_bytes(tmp("smb"), mb, 16);
    cr_assert_eq(st_try(tmp("smb")), VKG_ERR_WEIGHTS);
    write_bytes(tmp("s8"), "\0\0\0\0\0\0\0\0", 8);
    cr_assert_eq(st_try(tmp("s8")), VKG_ERR_WEIGHTS);              /* empty header */

    /* JSON */
    ST_BAD("{\"a\":", 0);
    ST_BAD("not json", 0);
    ST_BAD("[]", 0);
    ST_BAD("\"str\"", 0);
    ST_BAD("{} trailing", 0);
    ST_BAD("{\"a\": 5}", 0);
    ST_BAD("{\"a\": [1, 2]}", 0);
    ST_BAD("{\"a\": null}", 0);
    /* dtype */
    ST_BAD("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    ST_BAD("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    ST_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
    ST_BAD("{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    /* shape */
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536,65536,0],\"data_offsets\":[0,0]}}", 0);
    /* data_offsets */
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}}}", 4);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 3);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 7);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8);
    ST_BAD("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", 8);
    /* overlap, duplicates */
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    ST_BAD("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    ST_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    /* metadata */
    ST_BAD("{\"__metadata__\":5}", 0);
    ST_BAD("{\"__metadata__\":{\"format\":1}}", 0);

    /* accepted */
    ST_GOOD("{}", 0);
    ST_GOOD("{}      ", 0);
    ST_GOOD("{\"__metadata__\":{\"format\":\"pt\"}}", 0);
    ST_GOOD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    ST_GOOD("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);          /* scalar */
    ST_GOOD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,2,1],\"data_offsets\":[0,8]}}", 8);  /* rank 5 */
    ST_GOOD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 12);        /* holes */
    ST_GOOD("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"c\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[8,8]}}", 8);
    ST_GOOD("{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[1,3]}}", 3);         /* unaligned */

    /* unreadable */
    cr_assert_eq(st_try(tmp("does-not-exist")), VKG_ERR_IO);
    cr_assert_eq(st_try(tmp_dir), VKG_ERR_IO);
}

Test(io, safetensors_truncated_and_corrupted, .init = setup, .fini = teardown) {
    const st_case cases[] = {{"a", VKG_DTYPE_F32, 2, {3, 5}}, {"b", VKG_DTYPE_F16, 1, {7}}};
    check_round_trip(cases, 2, "good.safetensors");
    size_t n;
    uint8_t *good = read_bytes(tmp("good.safetensors"), &n);
    for (size_t len = 0; len < n; len++) {
        write_bytes(tmp("cut"), good, len);
        cr_assert_eq(st_try(tmp("cut")), VKG_ERR_WEIGHTS, "length %zu", len);
    }
    /* flip bytes of the header: must be OK or WEIGHTS, never a crash */
    uint64_t hlen;
    memcpy(&hlen, good, 8);
    uint8_t *p = malloc(n);
    uint32_t seed = 1;
    int bad = 0;
    for (int k = 0; k < 3000; k++) {
        memcpy(p, good, n);
        seed = seed * 1103515245u + 12345u;
        size_t at = 8 + (seed >> 8) % hlen;
        seed = seed * 1103515245u + 12345u;
        p[at] = (uint8_t)(seed >> 16);
        write_bytes(tmp("flip"), p, n);
        vkg_result r = st_try(tmp("flip"));
        cr_assert(r == VKG_OK || r == VKG_ERR_WEIGHTS, "%d", r);
        bad += r != VKG_OK;
    }
    cr_assert_gt(bad, 1000);
    free(p);
    free(good);
}

// >>npy
static vkg_host_tensor npy_ok(const char *path) {
    vkg_host_tensor t;
    cr_assert_eq(vkg_npy_read(ctx, path, &t), VKG_OK, "%s", vkg_last_error(ctx));
    return t;
}

static vkg_result npy_try(const char *path) {
    vkg_host_tensor t;
    memset(&t, 0xab, sizeof t);
    vkg_result r = vkg_npy_read(ctx, path, &t);
    if (r != VKG_OK) {
        cr_assert_null(t.data);
        cr_assert_eq(t.n_dims, 0);
    } else {
        vkg_host_tensor_free(ctx, &t);
    }
    return r;
}

static void check_shape(const vkg_host_tensor *t, vkg_dtype dt, int n_dims, const int64_t *ne) {
    cr_assert_eq(t->dtype, dt);
    cr_assert_eq(t->n_dims, n_dims);
    for (int d = 0; d < n_dims; d++) cr_assert_eq(t->ne[d], ne[d]);
}

Test(io, npy_read_numpy_files, .init = setup, .fini = teardown) {
    vkg_host_tensor t = npy_ok(data("io_f32_2x3.npy"));
    check_shape(&t, VKG_DTYPE_F32, 2, (int64_t[]){2, 3});
    for (int i = 0; i < 6; i++) cr_assert_eq(((float *)t.data)[i], (float)i * 0.25f - 0.5f);
    vkg_host_tensor_free(ctx, &t);
    cr_assert_null(t.data);

    t = npy_ok(data("io_f32_1.npy"));
    check_shape(&t, VKG_DTYPE_F32, 1, (int64_t[]){1});
    cr_assert_eq(((float *)t.data)[0], 3.5f);
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_f32_1x7x13x1.npy"));
    check_shape(&t, VKG_DTYPE_F32, 4, (int64_t[]){1, 7, 13, 1});
    for (int i = 0; i < 91; i++) cr_assert_eq(((float *)t.data)[i], (float)i * 0.125f - 3);
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_f32_2x0.npy"));
    check_shape(&t, VKG_DTYPE_F32, 2, (int64_t[]){2, 0});
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_f16_7.npy"));
    check_shape(&t, VKG_DTYPE_F32, 1, (int64_t[]){7});
    for (int i = 0; i < 7; i++) cr_assert_eq(((float *)t.data)[i], (float)i * 1.5f - 4);
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_f64_13.npy"));
    check_shape(&t, VKG_DTYPE_F32, 1, (int64_t[]){13});
    for (int i = 0; i < 13; i++) cr_assert_eq(((float *)t.data)[i], (float)(i / 7.0));
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_i32_4.npy"));
    check_shape(&t, VKG_DTYPE_I32, 1, (int64_t[]){4});
    const int32_t i4[4] = {INT32_MIN, -1, 0, INT32_MAX};
    cr_assert_eq(memcmp(t.data, i4, 16), 0);
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_i64_3x1x2.npy"));
    check_shape(&t, VKG_DTYPE_I32, 3, (int64_t[]){3, 1, 2});
    for (int i = 0; i < 6; i++) cr_assert_eq(((int32_t *)t.data)[i], i * 1000003 - 3000000);
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_be_f4_5.npy"));
    check_shape(&t, VKG_DTYPE_F32, 1, (int64_t[]){5});
    for (int i = 0; i < 5; i++) cr_assert_eq(((float *)t.data)[i], (float)i + 0.5f);
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_be_i8_3.npy"));
    check_shape(&t, VKG_DTYPE_I32, 1, (int64_t[]){3});
    cr_assert_eq(((int32_t *)t.data)[0], -5);
    cr_assert_eq(((int32_t *)t.data)[2], 7);
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_v2_f32_257.npy"));
    check_shape(&t, VKG_DTYPE_F32, 1, (int64_t[]){257});
    for (int i = 0; i < 257; i++) cr_assert_eq(((float *)t.data)[i], (float)i);
    vkg_host_tensor_free(ctx, &t);

    t = npy_ok(data("io_v3_f32_3.npy"));
    check_shape(&t, VKG_DTYPE_F32, 1, (int64_t[]){3});
    vkg_host_tensor_free(ctx, &t);

    const char *bad[] = {"io_bad_i64_big.npy", "io_bad_fortran.npy", "io_bad_scalar.npy", "io_bad_bool.npy",
                         "io_bad_u8.npy", "io_bad_5d.npy", "io_bad_struct.npy"};
    for (size_t i = 0; i < VKG__COUNTOF(bad); i++)
        cr_assert_eq(npy_try(data(bad[i])), VKG_ERR_INPUT, "%s", bad[i]);
    cr_assert_eq(npy_try(tmp("missing.npy")), VKG_ERR_IO);
    cr_assert_eq(npy_try(tmp_dir), VKG_ERR_IO);
}

Test(io, npy_write_matches_numpy, .init = setup, .fini = teardown) {
    /* Same bytes as np.save for the same arrays. */
    const char *names[] = {"io_f32_2x3.npy", "io_f32_1.npy", "io_f32_1x7x13x1.npy", "io_f32_2x0.npy",
                           "io_i32_4.npy", "io_v2_f32_257.npy"};
    for (size_t i = 0; i < VKG__COUNTOF(names); i++) {
        vkg_host_tensor t = npy_ok(data(names[i]));
        cr_assert_eq(vkg_npy_write(ctx, tmp("w.npy"), &t), VKG_OK, "%s", vkg_last_error(ctx));
        size_t n1, n2;
        uint8_t *mine = read_bytes(tmp("w.npy"), &n1);
        uint8_t *ref = read_bytes(data(names[i]), &n2);
        if (i == 5) {   /* the reference is a v2.0 file: compare the data only */
            cr_assert_eq(memcmp(mine + n1 - 257 * 4, ref + n2 - 257 * 4, 257 * 4), 0);
        } else {
            cr_assert_eq(n1, n2, "%s", names[i]);
            cr_assert_eq(memcmp(mine, ref, n1), 0, "%s", names[i]);
        }
        free(mine);
        free(ref);
        vkg_host_tensor_free(ctx, &t);
    }
}

Test(io, npy_round_trip, .init = setup, .fini = teardown) {
    const int64_t shapes[][4] = {{1}, {7}, {13, 1}, {100, 3}, {257, 1, 2}, {1, 7, 13, 2}, {3, 0}};
    const int ranks[] = {1, 1, 2, 2, 3, 4, 2};
    for (size_t s = 0; s < VKG__COUNTOF(ranks); s++) {
        int64_t numel = 1;
        for (int d = 0; d < ranks[s]; d++) numel *= shapes[s][d];
        float *f = malloc((size_t)numel * 4 + 4);
        int32_t *iv = malloc((size_t)numel * 4 + 4);
        for (int64_t i = 0; i < numel; i++) {
            f[i] = test_value((int)s, i);
            iv[i] = (int32_t)(i * 2654435761u);
        }
        for (int k = 0; k < 3; k++) {
            vkg_host_tensor t = {.dtype = k == 0 ? VKG_DTYPE_F32 : k == 1 ? VKG_DTYPE_I32 : VKG_DTYPE_F16,
                                 .n_dims = ranks[s]};
            memcpy(t.ne, shapes[s], sizeof t.ne);
            uint16_t *h = malloc((size_t)numel * 2 + 2);
            for (int64_t i = 0; i < numel; i++) h[i] = vkg__f32_to_f16(f[i]);
            t.data = k == 0 ? (void *)f : k == 1 ? (void *)iv : (void *)h;
            cr_assert_eq(vkg_npy_write(ctx, tmp("rt.npy"), &t), VKG_OK, "%s", vkg_last_error(ctx));
            vkg_host_tensor u = npy_ok(tmp("rt.npy"));
            check_shape(&u, k == 1 ? VKG_DTYPE_I32 : VKG_DTYPE_F32, ranks[s], shapes[s]);
            for (int64_t i = 0; i < numel; i++) {
                if (k == 1) cr_assert_eq(((int32_t *)u.data)[i], iv[i]);
                else cr_assert(same_float(((float *)u.data)[i], k == 0 ? f[i] : vkg__f16_to_f32(h[i])));
            }
            vkg_host_tensor_free(ctx, &u);
            free(h);
        }
        free(f);
        free(iv);
    }
    float x = 1;
    vkg_host_tensor t = {.dtype = VKG_DTYPE_BF16, .n_dims = 1, .ne = {1}, .data = &x};
    cr_assert_eq(vkg_npy_write(ctx, tmp("e.npy"), &t), VKG_ERR_INVALID_ARG);
    t = (vkg_host_tensor){.dtype = VKG_DTYPE_F32, .n_dims = 0, .data = &x};
    cr_assert_eq(vkg_npy_write(ctx, tmp("e.npy"), &t), VKG_ERR_INVALID_ARG);
    t.n_dims = 5;
    cr_assert_eq(vkg_npy_write(ctx, tmp("e.npy"), &t), VKG_ERR_INVALID_ARG);
    t = (vkg_host_tensor){.dtype = VKG_DTYPE_F32, .n_dims = 1, .ne = {-1}, .data = &x};
    cr_assert_eq(vkg_npy_write(ctx, tmp("e.npy"), &t), VKG_ERR_INVALID_ARG);
    t = (vkg_host_tensor){.dtype = VKG_DTYPE_F32, .n_dims = 1, .ne = {1}, .data = NULL};
    cr_assert_eq(vkg_npy_write(ctx, tmp("e.npy"), &t), VKG_ERR_INVALID_ARG);
    t.data = &x;
    cr_assert_eq(vkg_npy_write(ctx, tmp("no/dir/e.npy"), &t), VKG_ERR_IO);
    cr_assert_eq(vkg_npy_read(ctx, NULL, &t), VKG_ERR_INVALID_ARG);
    cr_assert_eq(vkg_npy_read(NULL, tmp("e.npy"), &t), VKG_ERR_INVALID_ARG);
}

/* A v1.0 file with the given header dict (padded like numpy) and data bytes. */
static const char *npy_file(const char *dict, size_t data_len) {
    char hdr[600];
    int n = snprintf(hdr, sizeof hdr, "%s", dict);
    while ((10 + n + 1) % 64) hdr[n++] = ' ';
    hdr[n++] = '\n';
    uint8_t *p = calloc(1, 10 + (size_t)n + data_len);
    memcpy(p, "\x93NUMPY\x01\x00", 8);
    p[8] = (uint8_t)n;
    p[9] = (uint8_t)(n >> 8);
    memcpy(p + 10, hdr, (size_t)n);
    const char *path = tmp("bad.npy");
    write_bytes(path, p, 10 + (size_t)n + data_len);
    free(p);
    return path;
}

#define NPY_BAD(dict, dlen) cr_assert_eq(npy_try(npy_file(dict, dlen)), VKG_ERR_INPUT, "%s", dict)
#define NPY_GOOD(dict, dlen) \
    cr_assert_eq(npy_try(npy_file(dict, dlen)), VKG_OK, "%s: %s", dict, vkg_last_error(ctx))

Test(io, npy_bad_files, .init = setup, .fini = teardown) {
    NPY_GOOD("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 48);
    NPY_GOOD("{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(3,4)}", 48);
    NPY_GOOD("{'shape': (3L,), 'fortran_order': False, 'descr': '=i4'}", 12);
    NPY_GOOD("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 100);   /* trailing bytes */

    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 47);     /* truncated data */
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, }", 48);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4], }", 48);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4), }", 48);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4.0), }", 48);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, }", 48);
    NPY_BAD("{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 4), }", 48);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'extra': 1}", 48);
    NPY_BAD("{'descr': '<f4' 'fortran_order': False, 'shape': (3, 4), }", 48);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } x", 48);
    NPY_BAD("'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)", 48);
    NPY_BAD("{'descr': <f4, 'fortran_order': False, 'shape': (3, 4), }", 48);
    NPY_BAD("{'descr': '<f4\\x', 'fortran_order': False, 'shape': (3, 4), }", 48);
    NPY_BAD("{'descr': '<f4", 0);
    NPY_BAD("", 0);
    NPY_BAD("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", 24);
    NPY_BAD("{'descr': '<u4', 'fortran_order': False, 'shape': (3,), }", 12);
    NPY_BAD("{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", 6);
    NPY_BAD("{'descr': '<f4x', 'fortran_order': False, 'shape': (3,), }", 12);
    NPY_BAD("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", 48);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }", 4);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 4);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }", 4);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 4);
    NPY_BAD("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", 4);

    /* preamble */
    write_bytes(tmp("p0"), "", 0);
    cr_assert_eq(npy_try(tmp("p0")), VKG_ERR_INPUT);
    write_bytes(tmp("p5"), "\x93NUMP", 5);
    cr_assert_eq(npy_try(tmp("p5")), VKG_ERR_INPUT);
    write_bytes(tmp("pm"), "\x93NUMPZ\x01\x00\x00\x00", 10);
    cr_assert_eq(npy_try(tmp("pm")), VKG_ERR_INPUT);
    write_bytes(tmp("pv"), "\x93NUMPY\x04\x00\x00\x00", 10);
    cr_assert_eq(npy_try(tmp("pv")), VKG_ERR_INPUT);
    write_bytes(tmp("ph"), "\x93NUMPY\x01\x00\x40\x00{'descr'", 17);
    cr_assert_eq(npy_try(tmp("ph")), VKG_ERR_INPUT);
    write_bytes(tmp("p2"), "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    cr_assert_eq(npy_try(tmp("p2")), VKG_ERR_INPUT);
    write_bytes(tmp("p2s"), "\x93NUMPY\x02\x00\x01", 9);
    cr_assert_eq(npy_try(tmp("p2s")), VKG_ERR_INPUT);

    /* every truncation of a good file */
    size_t n;
    uint8_t *good = read_bytes(data("io_i64_3x1x2.npy"), &n);
    for (size_t len = 0; len < n; len++) {
        write_bytes(tmp("cut.npy"), good, len);
        cr_assert_eq(npy_try(tmp("cut.npy")), VKG_ERR_INPUT, "length %zu", len);
    }
    /* random byte flips in the header: OK or INPUT, never a crash */
    uint8_t *p = malloc(n);
    uint32_t seed = 5;
    for (int k = 0; k < 3000; k++) {
        memcpy(p, good, n);
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % 128;
        seed = seed * 1103515245u + 12345u;
        p[at] = (uint8_t)(seed >> 16);
        write_bytes(tmp("flip.npy"), p, n);
        vkg_result r = npy_try(tmp("flip.npy"));
        cr_assert(r == VKG_OK || r == VKG_ERR_INPUT, "%d", r);
    }
    free(p);
    free(good);
}

// >>out of memory: an allocator failing on the Nth call
typedef struct oom_state { int calls, fail_at, live; } oom_state;
static void *oom_alloc(size_t n, void *user) {
    oom_state *s = user;
    if (s->fail_at >= 0 && s->calls++ == s->fail_at) return NULL;
    s->live++;
    return malloc(n);
}
static void oom_free(void *p, void *user) {
    ((oom_state *)user)->live--;
    free(p);
}

Test(io, out_of_memory, .init = setup, .fini = teardown) {
    float v[100];
    for (int i = 0; i < 100; i++) v[i] = (float)i;
    vkg__st_write_entry w[3] = {
        {.key = "a", .dtype = VKG_DTYPE_F16, .n_dims = 1, .ne = {7}, .data = v},
        {.key = "b", .dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {10, 10}, .data = v},
        {.key = "c", .dtype = VKG_DTYPE_BF16, .n_dims = 1, .ne = {13}, .data = v},
    };
    cr_assert_eq(vkg__st_write(ctx, tmp("ok.safetensors"), w, 3), VKG_OK);
    vkg_host_tensor t = {.dtype = VKG_DTYPE_F32, .n_dims = 2, .ne = {10, 10}, .data = v};
    cr_assert_eq(vkg_npy_write(ctx, tmp("ok.npy"), &t), VKG_OK);

    oom_state s = {.fail_at = -1};
    vkg_context *c;
    cr_assert_eq(vkg_context_create(&(vkg_context_desc){.backend = VKG_BACKEND_CPU,
                                                         .allocator = {oom_alloc, oom_free, &s}}, &c), VKG_OK);
    int base = s.live;
    for (int what = 0; what < 3; what++) {
        for (int n = 0;; n++) {
            s.calls = 0;
            s.fail_at = n;
            vkg_result r;
            if (what == 0) {
                vkg__safetensors st;
                r = vkg__st_open(c, tmp("ok.safetensors"), &st);
                if (r == VKG_OK) vkg__st_close(&st);
            } else if (what == 1) {
                r = vkg__st_write(c, tmp("w.safetensors"), w, 3);
            } else {
                vkg_host_tensor u;
                r = vkg_npy_read(c, tmp("ok.npy"), &u);
                if (r == VKG_OK) vkg_host_tensor_free(c, &u);
            }
            cr_assert_eq(s.live, base, "leak: what %d, failing call %d", what, n);
            if (r == VKG_OK) break;
            cr_assert_eq(r, VKG_ERR_OUT_OF_MEMORY, "what %d n %d: %s", what, n, vkg_last_error(c));
            cr_assert_lt(n, 100);
        }
    }
    s.fail_at = -1;
    vkg_context_destroy(c);
}
