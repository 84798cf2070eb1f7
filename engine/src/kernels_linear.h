/*
 * kernels_linear.h — emitters of the linear-attention and SLA kernels
 * (kernels_linear.c; OPS.md 12-13), used by engine/ops/attention_linear.c and
 * the kernel tests. Sizes in elements, buffers f32.
 */
#ifndef VKG_KERNELS_LINEAR_H
#define VKG_KERNELS_LINEAR_H

#include "vkg_impl.h"

/* Row stride of the state S [H, Dh, DP] and of z [H, DP]: Dh rounded up to 4
 * (the padding stays zero). */
static inline uint32_t vkg__linattn_dp(uint32_t Dh) { return (Dh + 3u) / 4u * 4u; }

typedef enum vkg__linattn_mode {
    VKG__LINATTN_AUTO,              /* recurrent steps for short calls on a stored state, else chunks */
    VKG__LINATTN_CHUNKED,
    VKG__LINATTN_STEP,              /* causal only */
} vkg__linattn_mode;

/* o[t, h] = phi(q_t,h) S_t / (phi(q_t,h) . z_t + 1e-6), OPS.md 12, with
 * S_t = gamma_h S_{t-1} + phi(k_t,g) v_t,g^T, z likewise, g = h / (H / KV).
 * q, o [T, H*Dh]; k, v [T, KV*Dh], contiguous rows; q and k are not changed.
 * S [H, Dh, DP] and z [H, DP] (16-byte aligned): causal, the state before the
 * call (ignored with init_zero), replaced by the state after it; non-causal,
 * scratch that ends holding the sums over all rows. decay [H] or NONE
 * (gamma_h = sigmoid(decay_h), causal only). feature: VKG__ACT_ELU1 or VKG__ACT_RELU. */
typedef struct vkg__linattn_desc {
    vkg__bufref q, k, v, o, S, z, decay;
    uint32_t T, H, KV, Dh;
    uint32_t chunk;                 /* rows per chunk; 0: 16 for Dh <= 32, else 32 */
    vkg__act feature;
    bool causal, init_zero;
    vkg__linattn_mode mode;
} vkg__linattn_desc;
vkg_result vkg__emit_linattn(vkg__lower_ctx *lc, const vkg__linattn_desc *d);

/* SLA's depthwise conv on v added to o (OPS.md 13): v [T, KV*Dh], o [T, H*Dh],
 * b [Dh]. Causal (gh = 0): w [Dh, K], positions pos0 - K + 1 .. pos0 - 1 read
 * from win [K-1, KV*Dh] (zero before position 0), which then moves on to the
 * last K-1 positions of this call (no window when K = 1). Grid [gh, gw]
 * (T = gh*gw, K odd): w [Dh, K, K], zero padding (K-1)/2; win unused. */
typedef struct vkg__sla_dwc_desc {
    vkg__bufref v, w, b, win, o;
    uint32_t T, H, KV, Dh, K, pos0;
    uint32_t gh, gw;
} vkg__sla_dwc_desc;
vkg_result vkg__emit_sla_dwc(vkg__lower_ctx *lc, const vkg__sla_dwc_desc *d);

#endif
