/*
 * vk_pipeline.c — compute pipelines, cached per (kernel, specialization
 * constants, number of bindings) on the device: shader module from the
 * embedded SPIR-V table vkg__kernels[], a descriptor set layout of n_bind
 * storage buffers, a 128-byte push-constant range, spec constants
 * 0..n_spec-1 as 32-bit values (constant 0 is local_size_x by convention),
 * created through the device's VkPipelineCache.
 *
 * Calls: the Vulkan device of vk_device.c, result.c. Never prints.
 */
#include "vk_internal.h"
#include "vkg_kernels.h"

#include <stdio.h>
#include <string.h>

static void pipeline_free(vkg_context *ctx, vkg__vk_pipeline *p) {
    VkDevice dev = ctx->vk->device;
    if (p->pipeline) vkDestroyPipeline(dev, p->pipeline, NULL);
    if (p->layout) vkDestroyPipelineLayout(dev, p->layout, NULL);
    if (p->set_layout) vkDestroyDescriptorSetLayout(dev, p->set_layout, NULL);
    if (p->module) vkDestroyShaderModule(dev, p->module, NULL);
    vkg__free(ctx, p);
}

static vkg_result pipeline_build(vkg_context *ctx, vkg__vk_pipeline *p) {
    vkg__vk_device *vk = ctx->vk;
    const vkg__kernel_spv *k = &vkg__kernels[p->kernel];
    VkShaderModuleCreateInfo smi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = k->size,
        .pCode = k->code,
    };
    vkg_result r = vkg__vk_check(ctx, vkCreateShaderModule(vk->device, &smi, NULL, &p->module), "vkCreateShaderModule");
    if (r != VKG_OK) return r;

    VkDescriptorSetLayoutBinding binds[VKG__MAX_BINDINGS];
    for (int i = 0; i < p->n_bind; i++)
        binds[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo dli = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = (uint32_t)p->n_bind,
        .pBindings = binds,
    };
    r = vkg__vk_check(ctx, vkCreateDescriptorSetLayout(vk->device, &dli, NULL, &p->set_layout), "vkCreateDescriptorSetLayout");
    if (r != VKG_OK) return r;

    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = 128};
    VkPipelineLayoutCreateInfo pli = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pcr,
    };
    r = vkg__vk_check(ctx, vkCreatePipelineLayout(vk->device, &pli, NULL, &p->layout), "vkCreatePipelineLayout");
    if (r != VKG_OK) return r;

    VkSpecializationMapEntry entries[VKG__MAX_SPEC];
    for (int i = 0; i < p->n_spec; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i, .offset = (uint32_t)(4 * i), .size = 4};
    VkSpecializationInfo spec = {
        .mapEntryCount = (uint32_t)p->n_spec,
        .pMapEntries = entries,
        .dataSize = 4 * (size_t)p->n_spec,
        .pData = p->spec,
    };
    VkComputePipelineCreateInfo cpi = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = p->module,
            .pName = "main",
            .pSpecializationInfo = p->n_spec ? &spec : NULL,
        },
        .layout = p->layout,
        .basePipelineIndex = -1,
    };
    char what[160];
    snprintf(what, sizeof what, "vkCreateComputePipelines (kernel %s)", k->name);
    r = vkg__vk_check(ctx, vkCreateComputePipelines(vk->device, vk->pipeline_cache, 1, &cpi, NULL, &p->pipeline), what);
    if (r != VKG_OK) p->pipeline = VK_NULL_HANDLE;
    return r;
}

vkg_result vkg__vk_pipeline_get(vkg_context *ctx, int kernel, const uint32_t *spec, int n_spec, int n_bind,
                                const vkg__vk_pipeline **out) {
    vkg__vk_device *vk = ctx->vk;
    *out = NULL;
    if (kernel < 0 || kernel >= VKG_KERNEL_COUNT)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "unknown kernel %d (%d kernels)", kernel, (int)VKG_KERNEL_COUNT);
    if (n_spec < 0 || n_spec > VKG__MAX_SPEC || (n_spec && !spec))
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "kernel %s: %d specialization constants (at most %d)",
                          vkg__kernels[kernel].name, n_spec, VKG__MAX_SPEC);
    if (n_bind < 0 || n_bind > VKG__MAX_BINDINGS)
        return vkg__error(ctx, VKG_ERR_INVALID_ARG, "kernel %s: %d bindings (at most %d)", vkg__kernels[kernel].name,
                          n_bind, VKG__MAX_BINDINGS);
    for (vkg__vk_pipeline *p = vk->pipelines; p; p = p->next)
        if (p->kernel == kernel && p->n_spec == n_spec && p->n_bind == n_bind &&
            (n_spec == 0 || memcmp(p->spec, spec, 4 * (size_t)n_spec) == 0)) {
            *out = p;
            return VKG_OK;
        }
    vkg__vk_pipeline *p = vkg__calloc(ctx, 1, sizeof *p);
    if (!p) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory for a pipeline");
    p->kernel = kernel;
    p->n_spec = n_spec;
    p->n_bind = n_bind;
    if (n_spec) memcpy(p->spec, spec, 4 * (size_t)n_spec);
    vkg_result r = pipeline_build(ctx, p);
    if (r != VKG_OK) {
        pipeline_free(ctx, p);
        return r;
    }
    p->next = vk->pipelines;
    vk->pipelines = p;
    *out = p;
    return VKG_OK;
}

void vkg__vk_pipelines_destroy(vkg_context *ctx) {
    vkg__vk_device *vk = ctx->vk;
    if (!vk) return;
    while (vk->pipelines) {
        vkg__vk_pipeline *p = vk->pipelines;
        vk->pipelines = p->next;
        pipeline_free(ctx, p);
    }
}

int vkg__vk_pipeline_count(vkg_context *ctx) {
    int n = 0;
    for (const vkg__vk_pipeline *p = ctx->vk ? ctx->vk->pipelines : NULL; p; p = p->next) n++;
    return n;
}
