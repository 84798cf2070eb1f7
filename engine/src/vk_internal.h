/*
 * vk_internal.h — private declarations shared by the Vulkan runtime files
 * only (vk_device.c, vk_buffer.c, vk_pipeline.c, vk_program.c; tests may
 * peek). Everything the rest of the engine uses is in vkg_impl.h's
 * ">>Vulkan runtime" section; this header adds what the runtime keeps for
 * itself: the device's extra properties and the pipeline cache.
 */
#ifndef VKG_VK_INTERNAL_H
#define VKG_VK_INTERNAL_H

#include "vkg_impl.h"

#include <pthread.h>

/* ctx->vk points at the `pub` member of this struct (it comes first, so the
 * pointer is the same); vk_device.c allocates it. */
typedef struct vkg__vk_device_priv {
    struct vkg__vk_device pub;
    uint32_t api_version;           /* min(instance, device) API version used */
    uint64_t max_alloc;             /* maxMemoryAllocationSize (maintenance3); 0: unknown */
    uint32_t timestamp_bits;        /* timestampValidBits of the queue family; 0: none */
    bool subgroup_basic, subgroup_broadcast;  /* broadcast comes with ballot */
    bool validation;                /* the validation layer is on */
    uint32_t max_groups[3];         /* maxComputeWorkGroupCount */
    pthread_mutex_t lock;           /* recursive: see vkg__vk_lock */
    bool has_lock;
    uint64_t fence_timeout_ns;      /* VKG_FENCE_TIMEOUT_S overrides the default (slow sanitizer builds) */
} vkg__vk_device_priv;

static inline vkg__vk_device_priv *vkg__vk_priv(vkg_context *ctx) {
    return (vkg__vk_device_priv *)ctx->vk;
}

/* True (and an error recorded) when the device was lost earlier: callers
 * return VKG_ERR_DEVICE_LOST without touching the device. */
bool vkg__vk_is_lost(vkg_context *ctx);

/* vk_pipeline.c: a compute pipeline cached per (kernel, spec constants,
 * number of bindings); owned by the device, freed by vkg__vk_pipelines_destroy. */
typedef struct vkg__vk_pipeline {
    struct vkg__vk_pipeline *next;
    int kernel;
    uint32_t spec[VKG__MAX_SPEC];
    int n_spec;
    int n_bind;
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
} vkg__vk_pipeline;

/* Errors: VKG_ERR_INVALID_ARG (unknown kernel, too many spec constants or
 * bindings), Vulkan errors from the create calls. */
vkg_result vkg__vk_pipeline_get(vkg_context *ctx, int kernel, const uint32_t *spec, int n_spec,
                                int n_bind, const vkg__vk_pipeline **out);
void vkg__vk_pipelines_destroy(vkg_context *ctx);
int vkg__vk_pipeline_count(vkg_context *ctx);

/* vk_buffer.c: a one-shot command buffer on the device's pool. */
vkg_result vkg__vk_oneshot_begin(vkg_context *ctx, VkCommandBuffer *out);
/* Ends, submits, waits (with a timeout) and frees the command buffer. */
vkg_result vkg__vk_oneshot_end(vkg_context *ctx, VkCommandBuffer cmd);

/* Fence wait used everywhere: 60 s (or $VKG_FENCE_TIMEOUT_S), then VKG_ERR_DEVICE_LOST. */
#define VKG__VK_FENCE_TIMEOUT_NS (60ull * 1000 * 1000 * 1000)
vkg_result vkg__vk_wait_fence(vkg_context *ctx, VkFence fence, const char *what);

/* vk_buffer.c: the device's lock (recursive, one per context) around host
 * calls on the shared queue, command pool, pipeline cache and memory budget. */
void vkg__vk_lock(vkg_context *ctx);
void vkg__vk_unlock(vkg_context *ctx);

#endif /* VKG_VK_INTERNAL_H */
