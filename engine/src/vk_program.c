/*
 * vk_program.c — a list of dispatches over concrete buffers, recorded once
 * into one command buffer: one descriptor set per dispatch from a pool sized
 * for the list, push constants, and a memory barrier before a dispatch only
 * when it touches a byte range written since the last barrier or writes a
 * range read since then (RAW, WAW, WAR). With profiling, timestamps around
 * every dispatch. Running submits the buffer and waits on a fence with a
 * timeout.
 *
 * Besides the counted barriers between dispatches, every program opens with
 * a barrier ordering it after earlier work on the queue (uploads, previous
 * runs) and ends with one making its writes visible to host reads and
 * transfers; those two are not counted.
 *
 * Creating, running (the submission) and destroying hold the runtime lock of
 * vk_buffer.c around the calls that touch the shared queue, command pool and
 * pipeline cache; the fence wait runs unlocked.
 *
 * Calls: vk_pipeline.c (pipelines), vk_buffer.c (fence wait, lock), vk_device.c,
 * result.c. Never prints.
 */
#include "vk_internal.h"
#include "vkg_kernels.h"

#include <string.h>

struct vkg__vk_program {
    int n;                          /* dispatches */
    VkCommandBuffer cmd;
    VkDescriptorPool dpool;
    VkFence fence;
    VkQueryPool qpool;              /* 2 per dispatch when profiling */
    uint64_t *ts;                   /* 2n raw timestamps of the last run */
    bool have_ts;
    float ts_period;                /* ns per tick */
    uint64_t ts_mask;
    uint32_t barriers;
};

// >>hazard tracking
typedef struct range {
    VkBuffer buffer;
    uint64_t lo, hi;                /* [lo, hi) bytes */
} range;

typedef struct tracker {
    range *written; int n_written;
    range *read; int n_read;
} tracker;

static range bind_range(const vkg__vk_binding *b) {
    uint64_t hi = (b->range == 0 || b->range == VK_WHOLE_SIZE) ? UINT64_MAX : b->offset + b->range;
    return (range){b->buffer, b->offset, hi};
}

static bool overlaps(const range *list, int n, range r) {
    for (int i = 0; i < n; i++)
        if (list[i].buffer == r.buffer && list[i].lo < r.hi && r.lo < list[i].hi) return true;
    return false;
}

/* Whether dispatch d must wait for the work since the last barrier. */
static bool needs_barrier(const tracker *t, const vkg__vk_dispatch *d) {
    for (int b = 0; b < d->n_bind; b++) {
        range r = bind_range(&d->bind[b]);
        if (overlaps(t->written, t->n_written, r)) return true;                       /* RAW, WAW */
        if ((d->writes >> b & 1) && overlaps(t->read, t->n_read, r)) return true;     /* WAR */
    }
    return false;
}

static void track(tracker *t, const vkg__vk_dispatch *d) {
    for (int b = 0; b < d->n_bind; b++) {
        range r = bind_range(&d->bind[b]);
        /* A written binding is in the write list only: anything overlapping
         * it later waits anyway. */
        if (d->writes >> b & 1) t->written[t->n_written++] = r;
        else t->read[t->n_read++] = r;
    }
}

// >>create
static void memory_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src_stage, VkAccessFlags src,
                           VkPipelineStageFlags dst_stage, VkAccessFlags dst) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src, .dstAccessMask = dst};
    vkCmdPipelineBarrier(cmd, src_stage, dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

static vkg_result check_dispatch(vkg_context *ctx, const vkg__vk_dispatch *d, int i) {
    vkg__vk_device *vk = ctx->vk;
    vkg__vk_device_priv *pv = vkg__vk_priv(ctx);
    const char *name = d->kernel >= 0 && d->kernel < VKG_KERNEL_COUNT ? vkg__kernels[d->kernel].name : "?";
    if (d->kernel < 0 || d->kernel >= VKG_KERNEL_COUNT)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "dispatch %d: unknown kernel %d", i, d->kernel);
    if (d->pc_size > 128)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "dispatch %d (%s): %u bytes of push constants (at most 128)", i, name, d->pc_size);
    if (d->n_bind < 0 || d->n_bind > VKG__MAX_BINDINGS || d->n_spec < 0 || d->n_spec > VKG__MAX_SPEC)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "dispatch %d (%s): %d bindings, %d spec constants", i, name, d->n_bind, d->n_spec);
    for (int a = 0; a < 3; a++)
        if (pv->max_groups[a] && d->groups[a] > pv->max_groups[a])
            return vkg__error(ctx, VKG_ERR_INVALID_ARG, "dispatch %d (%s): %u groups in dimension %d (device limit %u)", i,
                              name, d->groups[a], a, pv->max_groups[a]);
    for (int b = 0; b < d->n_bind; b++) {
        const vkg__vk_binding *bd = &d->bind[b];
        if (!bd->buffer) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "dispatch %d (%s): binding %d has no buffer", i, name, b);
        if (bd->offset % vk->storage_align)
            return vkg__error(ctx, VKG_ERR_INVALID_ARG, "dispatch %d (%s): binding %d offset %llu is not a multiple of %llu", i,
                              name, b, (unsigned long long)bd->offset, (unsigned long long)vk->storage_align);
        if (bd->range != VK_WHOLE_SIZE && bd->range > vk->max_storage_range)
            return vkg__error(ctx, VKG_ERR_UNSUPPORTED, "dispatch %d (%s): binding %d of %llu bytes exceeds maxStorageBufferRange %llu",
                              i, name, b, (unsigned long long)bd->range, (unsigned long long)vk->max_storage_range);
    }
    return VKG_OK;
}

static vkg_result record(vkg_context *ctx, vkg__vk_program *p, const vkg__vk_dispatch *d, int n,
                         const vkg__vk_pipeline *const *pipes, const VkDescriptorSet *sets) {
    vkg__vk_device *vk = ctx->vk;
    vkg_result r = VKG_OK;
    tracker t = {0};
    int cap = n * VKG__MAX_BINDINGS;
    if (n > 0) {
        t.written = vkg__malloc(ctx, sizeof(range) * (size_t)cap);
        t.read = vkg__malloc(ctx, sizeof(range) * (size_t)cap);
        if (!t.written || !t.read) {
            r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory recording a program");
            goto done;
        }
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    if ((r = vkg__vk_check(ctx, vkBeginCommandBuffer(p->cmd, &bi), "vkBeginCommandBuffer")) != VKG_OK) goto done;
    const VkPipelineStageFlags CS = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    const VkAccessFlags RW = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    if (p->qpool) vkCmdResetQueryPool(p->cmd, p->qpool, 0, 2 * (uint32_t)n);
    /* After earlier work on the queue: uploads, other programs, the last run. */
    memory_barrier(p->cmd, CS | VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                   CS, RW);
    for (int i = 0; i < n; i++) {
        if (needs_barrier(&t, &d[i])) {
            memory_barrier(p->cmd, CS, VK_ACCESS_SHADER_WRITE_BIT, CS, RW);
            p->barriers++;
            t.n_written = t.n_read = 0;
        }
        track(&t, &d[i]);
        vkCmdBindPipeline(p->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipes[i]->pipeline);
        vkCmdBindDescriptorSets(p->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipes[i]->layout, 0, 1, &sets[i], 0, NULL);
        if (d[i].pc_size)
            vkCmdPushConstants(p->cmd, pipes[i]->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, (d[i].pc_size + 3) & ~3u, d[i].pc);
        if (p->qpool) vkCmdWriteTimestamp(p->cmd, CS, p->qpool, 2 * (uint32_t)i);
        vkCmdDispatch(p->cmd, d[i].groups[0], d[i].groups[1], d[i].groups[2]);
        if (p->qpool) vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->qpool, 2 * (uint32_t)i + 1);
    }
    /* The results to host reads (mapped buffers) and transfers (downloads). */
    memory_barrier(p->cmd, CS, VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT);
    r = vkg__vk_check(ctx, vkEndCommandBuffer(p->cmd), "vkEndCommandBuffer");
    (void)vk;
done:
    vkg__free(ctx, t.written);
    vkg__free(ctx, t.read);
    return r;
}

static vkg_result program_create(vkg_context *ctx, const vkg__vk_dispatch *d, int n, vkg__vk_program **out);

/* Pipeline cache, command pool and recording are shared by the context's sessions: under the runtime lock. */
vkg_result vkg__vk_program_create(vkg_context *ctx, const vkg__vk_dispatch *d, int n, vkg__vk_program **out) {
    vkg__vk_lock(ctx);
    vkg_result r = program_create(ctx, d, n, out);
    vkg__vk_unlock(ctx);
    return r;
}

static vkg_result program_create(vkg_context *ctx, const vkg__vk_dispatch *d, int n, vkg__vk_program **out) {
    if (!out) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "vkg__vk_program_create: out is NULL");
    *out = NULL;
    if (!ctx->vk) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "no Vulkan device in this context");
    if (vkg__vk_is_lost(ctx)) return VKG_ERR_DEVICE_LOST;
    if (n < 0 || (n > 0 && !d)) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "program of %d dispatches", n);
    vkg__vk_device *vk = ctx->vk;
    vkg_result r;
    for (int i = 0; i < n; i++)
        if ((r = check_dispatch(ctx, &d[i], i)) != VKG_OK) return r;

    vkg__vk_program *p = vkg__calloc(ctx, 1, sizeof *p);
    const vkg__vk_pipeline **pipes = vkg__calloc(ctx, (size_t)VKG__MAX(n, 1), sizeof *pipes);
    VkDescriptorSetLayout *layouts = vkg__calloc(ctx, (size_t)VKG__MAX(n, 1), sizeof *layouts);
    VkDescriptorSet *sets = vkg__calloc(ctx, (size_t)VKG__MAX(n, 1), sizeof *sets);
    if (!p || !pipes || !layouts || !sets) {
        r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory creating a program");
        goto fail;
    }
    p->n = n;

    uint32_t n_desc = 0;
    for (int i = 0; i < n; i++) {
        if ((r = vkg__vk_pipeline_get(ctx, d[i].kernel, d[i].spec, d[i].n_spec, d[i].n_bind, &pipes[i])) != VKG_OK) goto fail;
        layouts[i] = pipes[i]->set_layout;
        n_desc += (uint32_t)d[i].n_bind;
    }

    if (n > 0) {
        VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = n_desc};
        VkDescriptorPoolCreateInfo dpi = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            .maxSets = (uint32_t)n,
            .poolSizeCount = n_desc ? 1 : 0,
            .pPoolSizes = &ps,
        };
        if ((r = vkg__vk_check(ctx, vkCreateDescriptorPool(vk->device, &dpi, NULL, &p->dpool), "vkCreateDescriptorPool")) != VKG_OK)
            goto fail;
        VkDescriptorSetAllocateInfo dsi = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = p->dpool,
            .descriptorSetCount = (uint32_t)n,
            .pSetLayouts = layouts,
        };
        if ((r = vkg__vk_check(ctx, vkAllocateDescriptorSets(vk->device, &dsi, sets), "vkAllocateDescriptorSets")) != VKG_OK)
            goto fail;
        for (int i = 0; i < n; i++) {
            VkDescriptorBufferInfo infos[VKG__MAX_BINDINGS];
            VkWriteDescriptorSet writes[VKG__MAX_BINDINGS];
            for (int b = 0; b < d[i].n_bind; b++) {
                const vkg__vk_binding *bd = &d[i].bind[b];
                infos[b] = (VkDescriptorBufferInfo){bd->buffer, bd->offset, bd->range ? bd->range : VK_WHOLE_SIZE};
                writes[b] = (VkWriteDescriptorSet){
                    .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                    .dstSet = sets[i],
                    .dstBinding = (uint32_t)b,
                    .descriptorCount = 1,
                    .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                    .pBufferInfo = &infos[b],
                };
            }
            if (d[i].n_bind) vkUpdateDescriptorSets(vk->device, (uint32_t)d[i].n_bind, writes, 0, NULL);
        }
    }

    if (ctx->desc.profile && vk->timestamp_period > 0 && n > 0) {
        VkQueryPoolCreateInfo qpi = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = 2 * (uint32_t)n,
        };
        if ((r = vkg__vk_check(ctx, vkCreateQueryPool(vk->device, &qpi, NULL, &p->qpool), "vkCreateQueryPool")) != VKG_OK) {
            p->qpool = VK_NULL_HANDLE;
            goto fail;
        }
        p->ts = vkg__calloc(ctx, 2 * (size_t)n, sizeof *p->ts);
        if (!p->ts) {
            r = vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for timestamps");
            goto fail;
        }
        uint32_t bits = vkg__vk_priv(ctx)->timestamp_bits;
        p->ts_mask = bits >= 64 ? UINT64_MAX : ((1ull << bits) - 1);
        p->ts_period = vk->timestamp_period;
    }

    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkg__vk_check(ctx, vkCreateFence(vk->device, &fi, NULL, &p->fence), "vkCreateFence")) != VKG_OK) {
        p->fence = VK_NULL_HANDLE;
        goto fail;
    }
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    if ((r = vkg__vk_check(ctx, vkAllocateCommandBuffers(vk->device, &ai, &p->cmd), "vkAllocateCommandBuffers")) != VKG_OK) {
        p->cmd = VK_NULL_HANDLE;
        goto fail;
    }
    if ((r = record(ctx, p, d, n, pipes, sets)) != VKG_OK) goto fail;

    vkg__free(ctx, pipes);
    vkg__free(ctx, layouts);
    vkg__free(ctx, sets);
    *out = p;
    return VKG_OK;
fail:
    vkg__free(ctx, pipes);
    vkg__free(ctx, layouts);
    vkg__free(ctx, sets);
    if (p) vkg__vk_program_destroy(ctx, p);
    return r;
}

// >>run
vkg_result vkg__vk_program_run(vkg_context *ctx, vkg__vk_program *p) {
    if (!p) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "vkg__vk_program_run: program is NULL");
    if (!ctx->vk) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "no Vulkan device in this context");
    if (vkg__vk_is_lost(ctx)) return VKG_ERR_DEVICE_LOST;
    vkg__vk_device *vk = ctx->vk;
    p->have_ts = false;
    vkg_result r = vkg__vk_check(ctx, vkResetFences(vk->device, 1, &p->fence), "vkResetFences");
    if (r != VKG_OK) return r;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &p->cmd};
    vkg__vk_lock(ctx);   /* the queue is shared by every session of the device */
    r = vkg__vk_check(ctx, vkQueueSubmit(vk->queue, 1, &si, p->fence), "vkQueueSubmit");
    vkg__vk_unlock(ctx);
    if (r != VKG_OK) return r;
    if ((r = vkg__vk_wait_fence(ctx, p->fence, "vkWaitForFences (program)")) != VKG_OK) return r;
    if (p->qpool) {
        r = vkg__vk_check(ctx,
                          vkGetQueryPoolResults(vk->device, p->qpool, 0, 2 * (uint32_t)p->n, 2 * (size_t)p->n * sizeof(uint64_t),
                                                p->ts, sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                          "vkGetQueryPoolResults");
        if (r != VKG_OK) return r;
        p->have_ts = true;
    }
    return VKG_OK;
}

uint32_t vkg__vk_program_barriers(const vkg__vk_program *p) {
    return p ? p->barriers : 0;
}

int vkg__vk_program_timings(const vkg__vk_program *p, double *start_us, double *dur_us, int cap) {
    if (!p || !p->have_ts || p->n == 0) return 0;
    int n = VKG__MIN(p->n, cap);
    uint64_t t0 = p->ts[0];
    double us_per_tick = p->ts_period / 1000.0;
    for (int i = 0; i < n; i++) {
        uint64_t s = (p->ts[2 * i] - t0) & p->ts_mask, e = (p->ts[2 * i + 1] - p->ts[2 * i]) & p->ts_mask;
        if (start_us) start_us[i] = (double)s * us_per_tick;
        if (dur_us) dur_us[i] = (double)e * us_per_tick;
    }
    return n;
}

void vkg__vk_program_destroy(vkg_context *ctx, vkg__vk_program *p) {
    if (!p) return;
    vkg__vk_device *vk = ctx->vk;
    if (vk && vk->device) {
        /* A program is destroyed only when not running (runs wait); a lost
         * device may still hold it, so leak the command buffer then. */
        if (p->cmd && !vk->lost) {
            vkg__vk_lock(ctx);
            vkFreeCommandBuffers(vk->device, vk->cmd_pool, 1, &p->cmd);
            vkg__vk_unlock(ctx);
        }
        if (p->fence) vkDestroyFence(vk->device, p->fence, NULL);
        if (p->qpool) vkDestroyQueryPool(vk->device, p->qpool, NULL);
        if (p->dpool) vkDestroyDescriptorPool(vk->device, p->dpool, NULL);
    }
    vkg__free(ctx, p->ts);
    vkg__free(ctx, p);
}
