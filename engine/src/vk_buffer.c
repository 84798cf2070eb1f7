/*
 * vk_buffer.c — device buffers: creation with a memory type chosen per kind
 * (device local, upload, readback), the engine's device-memory budget
 * (desc.device_memory_limit, maxMemoryAllocationSize, heap size), and
 * uploads/downloads (memcpy when mapped, else through a bounded staging
 * buffer and a one-shot command buffer). Also the one-shot command buffer
 * and fence-wait helpers used by the other runtime files.
 *
 * Also the runtime's lock (vkg__vk_lock): Vulkan wants the host to
 * synchronize uses of a queue (vkQueueSubmit) and of a command pool
 * (allocating, recording, freeing command buffers), and the engine's budget
 * counter and pipeline cache are shared by the sessions of a context. One
 * recursive process-wide mutex guards them all (it also covers two contexts
 * wrapping one external device); it is held for host-side calls only, never
 * across a fence wait, so runs on two threads overlap on the device.
 *
 * Calls: the Vulkan device of vk_device.c, result.c. Never prints.
 */
#include "vk_internal.h"

#include <pthread.h>
#include <string.h>

#define STAGING_CHUNK (64ull << 20)   /* staging buffers never exceed this */

// >>lock

void vkg__vk_lock(vkg_context *ctx) { pthread_mutex_lock(&vkg__vk_priv(ctx)->lock); }
void vkg__vk_unlock(vkg_context *ctx) { pthread_mutex_unlock(&vkg__vk_priv(ctx)->lock); }

// >>fences and one-shot command buffers
vkg_result vkg__vk_wait_fence(vkg_context *ctx, VkFence fence, const char *what) {
    VkResult res = vkWaitForFences(ctx->vk->device, 1, &fence, VK_TRUE, vkg__vk_priv(ctx)->fence_timeout_ns);
    if (res == VK_TIMEOUT) {
        /* A hang: treat the device as lost rather than wait forever. */
        ctx->vk->lost = true;
        return vkg__error(ctx, VKG_ERR_DEVICE_LOST, "%s: the GPU did not finish within %llu s (VK_TIMEOUT); device considered lost",
                          what, (unsigned long long)(vkg__vk_priv(ctx)->fence_timeout_ns / 1000000000ull));
    }
    return vkg__vk_check(ctx, res, what);
}

vkg_result vkg__vk_oneshot_begin(vkg_context *ctx, VkCommandBuffer *out) {
    vkg__vk_device *vk = ctx->vk;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    vkg__vk_lock(ctx);   /* held while recording; vkg__vk_oneshot_end releases it */
    vkg_result r = vkg__vk_check(ctx, vkAllocateCommandBuffers(vk->device, &ai, out), "vkAllocateCommandBuffers");
    if (r != VKG_OK) {
        vkg__vk_unlock(ctx);
        return r;
    }
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    r = vkg__vk_check(ctx, vkBeginCommandBuffer(*out, &bi), "vkBeginCommandBuffer");
    if (r != VKG_OK) {
        vkFreeCommandBuffers(vk->device, vk->cmd_pool, 1, out);
        vkg__vk_unlock(ctx);
    }
    return r;
}

vkg_result vkg__vk_oneshot_end(vkg_context *ctx, VkCommandBuffer cmd) {
    vkg__vk_device *vk = ctx->vk;
    VkFence fence = VK_NULL_HANDLE;
    vkg_result r = vkg__vk_check(ctx, vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
    if (r == VKG_OK) {
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = vkg__vk_check(ctx, vkCreateFence(vk->device, &fi, NULL, &fence), "vkCreateFence");
    }
    bool submitted = false;
    if (r == VKG_OK) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
        r = vkg__vk_check(ctx, vkQueueSubmit(vk->queue, 1, &si, fence), "vkQueueSubmit");
        submitted = r == VKG_OK;
    }
    vkg__vk_unlock(ctx);   /* taken by vkg__vk_oneshot_begin */
    if (submitted) r = vkg__vk_wait_fence(ctx, fence, "vkWaitForFences (transfer)");
    if (fence) vkDestroyFence(vk->device, fence, NULL);
    /* After a timeout the buffer may still run: leak it rather than free it in use. */
    if (!vk->lost) {
        vkg__vk_lock(ctx);
        vkFreeCommandBuffers(vk->device, vk->cmd_pool, 1, &cmd);
        vkg__vk_unlock(ctx);
    }
    return r;
}

// >>memory types
static int find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits, VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

/* Memory type for a kind: preferences from first to last. */
static int choose_type(const vkg__vk_device *vk, uint32_t bits, vkg__mem_kind kind) {
    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                HC = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, CA = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    const VkPhysicalDeviceMemoryProperties *mp = &vk->mem_props;
    bool uma = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ||
               vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
    int t = -1;
    switch (kind) {
    case VKG__MEM_DEVICE:
        /* Unified memory: a mapped device-local type saves every staging copy. */
        if (uma) t = find_type(mp, bits, DL | HV | HC);
        if (t < 0) t = find_type(mp, bits, DL);
        if (t < 0) t = find_type(mp, bits, 0);
        break;
    case VKG__MEM_UPLOAD:
        t = find_type(mp, bits, HV | HC);
        break;
    case VKG__MEM_READBACK:
        t = find_type(mp, bits, HV | HC | CA);
        if (t < 0) t = find_type(mp, bits, HV | HC);
        break;
    default:
        break;
    }
    return t;
}

// >>buffers
static vkg_result memory_error(vkg_context *ctx, uint64_t need, uint64_t avail, const char *what) {
    return vkg__error(ctx, VKG_ERR_DEVICE_MEMORY,
                      "device memory: %llu bytes needed, %llu bytes available (%s; %llu bytes allocated by vkgraph)",
                      (unsigned long long)need, (unsigned long long)avail, what, (unsigned long long)ctx->vk->allocated);
}

/* Creates a buffer and its memory; `counted` buffers count against the budget. */
static vkg_result buffer_create(vkg_context *ctx, uint64_t size, vkg__mem_kind kind, bool counted, vkg__vk_buffer *out) {
    vkg__vk_device *vk = ctx->vk;
    vkg__vk_device_priv *pv = vkg__vk_priv(ctx);
    memset(out, 0, sizeof *out);
    if (size == 0) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "buffer of 0 bytes");
    if ((unsigned)kind >= VKG__MEM_KIND_COUNT) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "bad memory kind %d", (int)kind);

    uint64_t limit = ctx->desc.device_memory_limit;
    if (counted && limit) {
        uint64_t avail = limit > vk->allocated ? limit - vk->allocated : 0;
        if (size > avail) return memory_error(ctx, size, avail, "device_memory_limit");
    }
    if (pv->max_alloc && size > pv->max_alloc)
        return memory_error(ctx, size, pv->max_alloc, "maxMemoryAllocationSize of one allocation");

    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    vkg_result r = vkg__vk_check(ctx, vkCreateBuffer(vk->device, &bci, NULL, &out->buffer), "vkCreateBuffer");
    if (r != VKG_OK) {
        out->buffer = VK_NULL_HANDLE;
        return r;
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vk->device, out->buffer, &req);
    int type = choose_type(vk, req.memoryTypeBits, kind);
    if (type < 0) {
        r = vkg__error(ctx, VKG_ERR_UNSUPPORTED, "no memory type for a %s buffer",
                       kind == VKG__MEM_DEVICE ? "device" : kind == VKG__MEM_UPLOAD ? "upload" : "readback");
        goto fail;
    }
    uint64_t heap = vk->mem_props.memoryHeaps[vk->mem_props.memoryTypes[type].heapIndex].size;
    if (req.size > heap) {
        r = memory_error(ctx, req.size, heap, "size of the memory heap");
        goto fail;
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    VkResult res = vkAllocateMemory(vk->device, &mai, NULL, &out->memory);
    if (res == VK_ERROR_OUT_OF_DEVICE_MEMORY || res == VK_ERROR_OUT_OF_HOST_MEMORY) {
        out->memory = VK_NULL_HANDLE;
        r = vkg__error(ctx, VKG_ERR_DEVICE_MEMORY, "vkAllocateMemory of %llu bytes: %s (%llu bytes allocated by vkgraph)",
                       (unsigned long long)req.size, vkg__vk_result_name(res), (unsigned long long)vk->allocated);
        goto fail;
    }
    if ((r = vkg__vk_check(ctx, res, "vkAllocateMemory")) != VKG_OK) {
        out->memory = VK_NULL_HANDLE;
        goto fail;
    }
    if ((r = vkg__vk_check(ctx, vkBindBufferMemory(vk->device, out->buffer, out->memory, 0), "vkBindBufferMemory")) != VKG_OK)
        goto fail;
    VkMemoryPropertyFlags flags = vk->mem_props.memoryTypes[type].propertyFlags;
    if ((flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
        if ((r = vkg__vk_check(ctx, vkMapMemory(vk->device, out->memory, 0, VK_WHOLE_SIZE, 0, &out->mapped), "vkMapMemory")) != VKG_OK) {
            out->mapped = NULL;
            goto fail;
        }
    }
    out->size = size;
    if (counted) vk->allocated += size;
    return VKG_OK;
fail:
    if (out->memory) vkFreeMemory(vk->device, out->memory, NULL);
    vkDestroyBuffer(vk->device, out->buffer, NULL);
    memset(out, 0, sizeof *out);
    return r;
}

vkg_result vkg__vk_buffer_create(vkg_context *ctx, uint64_t size, vkg__mem_kind kind, vkg__vk_buffer *out) {
    if (!out) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "vkg__vk_buffer_create: out is NULL");
    memset(out, 0, sizeof *out);
    if (!ctx->vk) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "no Vulkan device in this context");
    if (vkg__vk_is_lost(ctx)) return VKG_ERR_DEVICE_LOST;
    vkg__vk_lock(ctx);   /* the budget check and the count are one step */
    vkg_result r = buffer_create(ctx, size, kind, true, out);
    vkg__vk_unlock(ctx);
    return r;
}

static void buffer_free(vkg_context *ctx, vkg__vk_buffer *b, bool counted) {
    vkg__vk_device *vk = ctx->vk;
    if (!vk || !b) return;
    if (b->buffer) vkDestroyBuffer(vk->device, b->buffer, NULL);
    if (b->memory) vkFreeMemory(vk->device, b->memory, NULL);   /* unmaps */
    if (counted && b->buffer) vk->allocated -= VKG__MIN(b->size, vk->allocated);
    memset(b, 0, sizeof *b);
}

void vkg__vk_buffer_destroy(vkg_context *ctx, vkg__vk_buffer *b) {
    vkg__vk_lock(ctx);
    buffer_free(ctx, b, true);
    vkg__vk_unlock(ctx);
}

// >>transfers
static vkg_result check_range(vkg_context *ctx, const vkg__vk_buffer *b, uint64_t offset, uint64_t size, const char *what) {
    if (!ctx->vk) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "no Vulkan device in this context");
    if (vkg__vk_is_lost(ctx)) return VKG_ERR_DEVICE_LOST;
    if (!b || !b->buffer) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: no buffer", what);
    if (offset > b->size || size > b->size - offset)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "%s: range [%llu, +%llu) outside a buffer of %llu bytes", what,
                          (unsigned long long)offset, (unsigned long long)size, (unsigned long long)b->size);
    return VKG_OK;
}

/* Records: make earlier writes (shader or transfer) visible to `dst` access. */
static void barrier(VkCommandBuffer cmd, VkPipelineStageFlags src_stage, VkAccessFlags src, VkPipelineStageFlags dst_stage, VkAccessFlags dst) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src, .dstAccessMask = dst};
    vkCmdPipelineBarrier(cmd, src_stage, dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* One staged copy of up to STAGING_CHUNK bytes, either direction. */
static vkg_result staged_copy(vkg_context *ctx, VkBuffer dev, uint64_t offset, void *host, uint64_t size, bool upload) {
    vkg__vk_buffer st;
    vkg_result r = buffer_create(ctx, size, upload ? VKG__MEM_UPLOAD : VKG__MEM_READBACK, false, &st);
    if (r != VKG_OK) return r;
    if (upload) memcpy(st.mapped, host, size);
    VkCommandBuffer cmd;
    if ((r = vkg__vk_oneshot_begin(ctx, &cmd)) == VKG_OK) {
        const VkPipelineStageFlags CS = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, TR = VK_PIPELINE_STAGE_TRANSFER_BIT;
        /* Order against earlier dispatches and copies on the queue. */
        barrier(cmd, CS | TR, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, TR,
                VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
        VkBufferCopy region = {.srcOffset = upload ? 0 : offset, .dstOffset = upload ? offset : 0, .size = size};
        vkCmdCopyBuffer(cmd, upload ? st.buffer : dev, upload ? dev : st.buffer, 1, &region);
        if (upload)
            barrier(cmd, TR, VK_ACCESS_TRANSFER_WRITE_BIT, CS | TR,
                    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
        else
            barrier(cmd, TR, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
        r = vkg__vk_oneshot_end(ctx, cmd);
    }
    if (r == VKG_OK && !upload) memcpy(host, st.mapped, size);
    if (!ctx->vk->lost) buffer_free(ctx, &st, false);
    return r;
}

vkg_result vkg__vk_upload(vkg_context *ctx, vkg__vk_buffer *dst, uint64_t offset, const void *src, uint64_t size) {
    vkg_result r = check_range(ctx, dst, offset, size, "upload");
    if (r != VKG_OK || size == 0) return r;
    if (!src) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "upload: source is NULL");
    if (dst->mapped) {
        /* Coherent memory; the next queue submission makes the writes visible. */
        memcpy((uint8_t *)dst->mapped + offset, src, size);
        return VKG_OK;
    }
    for (uint64_t done = 0; done < size && r == VKG_OK;) {
        uint64_t n = VKG__MIN(size - done, STAGING_CHUNK);
        r = staged_copy(ctx, dst->buffer, offset + done, (uint8_t *)src + done, n, true);
        done += n;
    }
    return r;
}

vkg_result vkg__vk_download(vkg_context *ctx, const vkg__vk_buffer *src, uint64_t offset, void *dst, uint64_t size) {
    vkg_result r = check_range(ctx, src, offset, size, "download");
    if (r != VKG_OK || size == 0) return r;
    if (!dst) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "download: destination is NULL");
    if (src->mapped) {
        /* Programs end with a barrier to host reads and are waited on. */
        memcpy(dst, (const uint8_t *)src->mapped + offset, size);
        return VKG_OK;
    }
    for (uint64_t done = 0; done < size && r == VKG_OK;) {
        uint64_t n = VKG__MIN(size - done, STAGING_CHUNK);
        r = staged_copy(ctx, src->buffer, offset + done, (uint8_t *)dst + done, n, false);
        done += n;
    }
    return r;
}
