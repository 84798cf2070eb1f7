/*
 * rng.c — the engine's random number generator (vkg__rng_*).
 *
 * splitmix64 expands the 64-bit seed into the 256-bit state of a
 * xoshiro256** stream (Blackman & Vigna, public-domain reference code).
 * Uniform doubles take the top 53 bits; normals use the Box-Muller
 * transform and return both values of each pair (the second is cached as
 * the spare). The exact stream is part of the engine's contract for random
 * weights: other programs reproduce them through exported files, never by
 * re-drawing, but the stream must not change between versions.
 * Calls nothing outside libm.
 */
#include "vkg_impl.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void vkg__rng_seed(vkg__rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    /* An all-zero state would stay zero forever; splitmix64 never gives four
     * zeros in a row in practice, but keep the invariant explicit. */
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
    r->has_spare = false;
    r->spare = 0.0;
}

uint64_t vkg__rng_next(vkg__rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double vkg__rng_uniform(vkg__rng *r) {
    return (double)(vkg__rng_next(r) >> 11) * 0x1.0p-53;
}

double vkg__rng_normal(vkg__rng *r) {
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    /* u1 in (0, 1] so the log is finite; u2 in [0, 1). */
    double u1 = 1.0 - vkg__rng_uniform(r);
    double u2 = vkg__rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 2.0 * 3.14159265358979323846 * u2;
    r->spare = rad * sin(th);
    r->has_spare = true;
    return rad * cos(th);
}
