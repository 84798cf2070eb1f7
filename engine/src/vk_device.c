/*
 * vk_device.c — the Vulkan instance and device of a context: device
 * selection (index, name substring, or discrete > integrated > virtual >
 * CPU), wrapping a host-owned device, feature detection, the validation
 * layer and its message counter, the on-disk pipeline cache, the command
 * pool, VkResult checking, and vkg_list_devices.
 *
 * Calls: the Vulkan loader, result.c (errors, log, host memory) and
 * vk_pipeline.c (teardown of cached pipelines). Never prints.
 */
#include "vk_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PHYS 32
#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

// >>results
const char *vkg__vk_result_name(VkResult res) {
    switch (res) {
#define R(x) case x: return #x;
    R(VK_SUCCESS) R(VK_NOT_READY) R(VK_TIMEOUT) R(VK_EVENT_SET) R(VK_EVENT_RESET) R(VK_INCOMPLETE)
    R(VK_ERROR_OUT_OF_HOST_MEMORY) R(VK_ERROR_OUT_OF_DEVICE_MEMORY) R(VK_ERROR_INITIALIZATION_FAILED)
    R(VK_ERROR_DEVICE_LOST) R(VK_ERROR_MEMORY_MAP_FAILED) R(VK_ERROR_LAYER_NOT_PRESENT)
    R(VK_ERROR_EXTENSION_NOT_PRESENT) R(VK_ERROR_FEATURE_NOT_PRESENT) R(VK_ERROR_INCOMPATIBLE_DRIVER)
    R(VK_ERROR_TOO_MANY_OBJECTS) R(VK_ERROR_FORMAT_NOT_SUPPORTED) R(VK_ERROR_FRAGMENTED_POOL)
    R(VK_ERROR_UNKNOWN) R(VK_ERROR_OUT_OF_POOL_MEMORY) R(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    R(VK_ERROR_FRAGMENTATION) R(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS) R(VK_PIPELINE_COMPILE_REQUIRED)
    R(VK_ERROR_VALIDATION_FAILED_EXT) R(VK_ERROR_INVALID_SHADER_NV)
#undef R
    default: return "VK_ERROR_(unknown)";
    }
}

vkg_result vkg__vk_check(vkg_context *ctx, VkResult res, const char *what) {
    if (res == VK_SUCCESS || res == VK_INCOMPLETE) return VKG_OK;
    vkg_result r = VKG_ERR_VULKAN;
    if (res == VK_ERROR_OUT_OF_DEVICE_MEMORY) r = VKG_ERR_DEVICE_MEMORY;
    else if (res == VK_ERROR_OUT_OF_HOST_MEMORY) r = VKG_ERR_OUT_OF_MEMORY;
    else if (res == VK_ERROR_DEVICE_LOST) {
        r = VKG_ERR_DEVICE_LOST;
        if (ctx && ctx->vk) ctx->vk->lost = true;
    }
    return vkg__error(ctx, r, "%s: %s", what, vkg__vk_result_name(res));
}

bool vkg__vk_is_lost(vkg_context *ctx) {
    if (!ctx->vk || !ctx->vk->lost) return false;
    vkg__error(ctx, VKG_ERR_DEVICE_LOST, "the Vulkan device was lost earlier; destroy the context");
    return true;
}

// >>helpers
static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

static const char *vendor_name(uint32_t id) {
    switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: case 0x1022: return "AMD";
    case 0x8086: return "Intel";
    case 0x106B: return "Apple";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x1010: return "Imagination";
    case 0x1AE0: return "Google";
    case 0x10005: return "Mesa";
    default: return "unknown";
    }
}

/* Case-insensitive substring test. */
static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return true;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return false;
}

static bool all_digits(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* Whether a device (or, with phys NULL, the instance / a layer) offers ext.
 * Uses plain malloc: vkg_list_devices has no context. */
static bool has_extension(VkPhysicalDevice phys, const char *layer, const char *ext) {
    uint32_t n = 0;
    VkResult res = phys ? vkEnumerateDeviceExtensionProperties(phys, layer, &n, NULL)
                        : vkEnumerateInstanceExtensionProperties(layer, &n, NULL);
    if (res != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *props = malloc(n * sizeof *props);
    if (!props) return false;
    res = phys ? vkEnumerateDeviceExtensionProperties(phys, layer, &n, props)
               : vkEnumerateInstanceExtensionProperties(layer, &n, props);
    bool found = false;
    if (res == VK_SUCCESS || res == VK_INCOMPLETE)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].extensionName, ext) == 0;
    free(props);
    return found;
}

static bool has_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *props = malloc(n * sizeof *props);
    if (!props) return false;
    bool found = false;
    if (vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].layerName, name) == 0;
    free(props);
    return found;
}

static uint32_t instance_version(void) {
    uint32_t v = VK_API_VERSION_1_0;
    PFN_vkEnumerateInstanceVersion fn =
        (PFN_vkEnumerateInstanceVersion)vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
    if (fn && fn(&v) != VK_SUCCESS) v = VK_API_VERSION_1_0;
    return v;
}

static uint64_t device_local_bytes(const VkPhysicalDeviceMemoryProperties *mp) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < mp->memoryHeapCount; i++)
        if (mp->memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) total += mp->memoryHeaps[i].size;
    return total;
}

/* A plain instance for listing devices (no layers). */
static VkResult make_instance(uint32_t api, bool portability, const char *const *layers, uint32_t n_layers,
                              const char *const *exts, uint32_t n_exts, const void *pnext, VkInstance *out) {
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkgraph",
        .pEngineName = "vkgraph",
        .engineVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
        .apiVersion = api,
    };
    VkInstanceCreateInfo ici = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = pnext,
        .flags = portability ? VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR : 0,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    return vkCreateInstance(&ici, NULL, out);
}

static uint32_t pick_api(uint32_t inst_version) {
    return inst_version >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1;
}

/* Device-level properties gathered by both device creation and listing. */
typedef struct dev_info {
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceSubgroupProperties subgroup;
    VkPhysicalDeviceMaintenance3Properties maint3;
    VkPhysicalDeviceDriverProperties driver;
    bool has_driver;
    bool has_f16i8, has_8bit;       /* feature structs may be queried */
    VkPhysicalDeviceFeatures2 feat;
    VkPhysicalDevice16BitStorageFeatures f16s;
    VkPhysicalDeviceShaderFloat16Int8Features f16i8;
    VkPhysicalDevice8BitStorageFeatures s8;
} dev_info;

static void query_device(VkPhysicalDevice phys, uint32_t inst_api, dev_info *di) {
    memset(di, 0, sizeof *di);
    vkGetPhysicalDeviceProperties(phys, &di->props);
    uint32_t api = VKG__MIN(inst_api, di->props.apiVersion);
    bool v12 = api >= VK_API_VERSION_1_2;
    di->has_driver = v12 || has_extension(phys, NULL, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    di->has_f16i8 = v12 || has_extension(phys, NULL, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    di->has_8bit = v12 || has_extension(phys, NULL, VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
    if (api < VK_API_VERSION_1_1) return;

    di->subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
    di->maint3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
    di->maint3.pNext = &di->subgroup;
    di->driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &di->maint3};
    if (di->has_driver) {
        di->driver.pNext = p2.pNext;
        p2.pNext = &di->driver;
    }
    vkGetPhysicalDeviceProperties2(phys, &p2);

    di->f16s.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
    di->f16i8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
    di->s8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES;
    di->feat.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    di->feat.pNext = &di->f16s;
    if (di->has_f16i8) {
        di->f16i8.pNext = di->feat.pNext;
        di->feat.pNext = &di->f16i8;
    }
    if (di->has_8bit) {
        di->s8.pNext = di->feat.pNext;
        di->feat.pNext = &di->s8;
    }
    vkGetPhysicalDeviceFeatures2(phys, &di->feat);
}

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

// >>validation messenger
static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT types,
                                                     const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                     void *user) {
    vkg_context *ctx = user;
    if (!(severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)))
        return VK_FALSE;
    if (ctx->vk) ctx->vk->validation_messages++;
    bool error = severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    vkg__log(ctx, error ? VKG_LOG_ERROR : VKG_LOG_WARN, "vulkan %s: %s", error ? "error" : "warning",
             data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

static VkDebugUtilsMessengerCreateInfoEXT messenger_info(vkg_context *ctx) {
    return (VkDebugUtilsMessengerCreateInfoEXT){
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = debug_callback,
        .pUserData = ctx,
    };
}

// >>pipeline cache file
static char *cache_path(vkg_context *ctx, const VkPhysicalDeviceProperties *props) {
    const char *dir = ctx->desc.pipeline_cache_dir;
    char base[1024];
    if (dir && !dir[0]) return NULL;
    if (!dir) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && xdg[0]) snprintf(base, sizeof base, "%s/vkgraph", xdg);
        else if (home && home[0]) snprintf(base, sizeof base, "%s/.cache/vkgraph", home);
        else return NULL;
        dir = base;
    }
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++) snprintf(uuid + 2 * i, 3, "%02x", props->pipelineCacheUUID[i]);
    size_t n = strlen(dir) + 2 * VK_UUID_SIZE + 64;
    char *path = vkg__malloc(ctx, n);
    if (path) snprintf(path, n, "%s/%s-%04x-%04x.vkpc", dir, uuid, props->vendorID, props->deviceID);
    return path;
}

/* Reads the file when its header matches this device; else NULL (start empty). */
static void *cache_load(vkg_context *ctx, const char *path, const VkPhysicalDeviceProperties *props, size_t *size) {
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *data = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 32 && fseek(f, 0, SEEK_SET) == 0 && (data = vkg__malloc(ctx, (size_t)n))) {
        if (fread(data, 1, (size_t)n, f) != (size_t)n) {
            vkg__free(ctx, data);
            data = NULL;
        }
    }
    fclose(f);
    if (!data) return NULL;
    /* VkPipelineCacheHeaderVersionOne: size, version, vendor, device, uuid. */
    const uint8_t *b = data;
    uint32_t hsize, hver, vendor, device;
    memcpy(&hsize, b, 4);
    memcpy(&hver, b + 4, 4);
    memcpy(&vendor, b + 8, 4);
    memcpy(&device, b + 12, 4);
    if (hsize < 32 || hver != VK_PIPELINE_CACHE_HEADER_VERSION_ONE || vendor != props->vendorID ||
        device != props->deviceID || memcmp(b + 16, props->pipelineCacheUUID, VK_UUID_SIZE) != 0) {
        vkg__log(ctx, VKG_LOG_INFO, "pipeline cache %s does not match this device; starting empty", path);
        vkg__free(ctx, data);
        return NULL;
    }
    *size = (size_t)n;
    return data;
}

static int mkdir_p(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST) return -1;
    }
    return 0;
}

static void cache_save(vkg_context *ctx) {
    vkg__vk_device *vk = ctx->vk;
    if (!vk->pipeline_cache || !vk->pipeline_cache_path || vk->lost) return;
    size_t n = 0;
    if (vkGetPipelineCacheData(vk->device, vk->pipeline_cache, &n, NULL) != VK_SUCCESS || n == 0) return;
    void *data = vkg__malloc(ctx, n);
    if (!data) return;
    if (vkGetPipelineCacheData(vk->device, vk->pipeline_cache, &n, data) != VK_SUCCESS) {
        vkg__free(ctx, data);
        return;
    }
    size_t plen = strlen(vk->pipeline_cache_path);
    char *tmp = vkg__malloc(ctx, plen + 32);
    bool ok = false;
    if (tmp) {
        memcpy(tmp, vk->pipeline_cache_path, plen + 1);
        mkdir_p(tmp);   /* the directories above the file */
        snprintf(tmp + plen, 32, ".%ld.tmp", (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            ok = fwrite(data, 1, n, f) == n;
            ok = (fclose(f) == 0) && ok;
            ok = ok && rename(tmp, vk->pipeline_cache_path) == 0;
            if (!ok) remove(tmp);
        }
        vkg__free(ctx, tmp);
    }
    if (!ok) vkg__log(ctx, VKG_LOG_WARN, "could not save the pipeline cache to %s", vk->pipeline_cache_path);
    vkg__free(ctx, data);
}

// >>device creation
/* Lists the devices into ctx->err-sized text for the "no match" message. */
static void list_names(VkPhysicalDevice *phys, uint32_t n, char *buf, size_t size) {
    size_t at = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < n && at < size; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(phys[i], &p);
        int w = snprintf(buf + at, size - at, "%s%u: %s (%s)", i ? "; " : "", i, p.deviceName, type_name(p.deviceType));
        if (w < 0) break;
        at += (size_t)w;
    }
}

static vkg_result select_device(vkg_context *ctx, uint32_t inst_api, VkPhysicalDevice *out) {
    vkg__vk_device *vk = ctx->vk;
    VkPhysicalDevice phys[MAX_PHYS];
    uint32_t n = MAX_PHYS;
    VkResult res = vkEnumeratePhysicalDevices(vk->instance, &n, phys);
    if (res != VK_SUCCESS && res != VK_INCOMPLETE) return vkg__vk_check(ctx, res, "vkEnumeratePhysicalDevices");
    if (n == 0) return vkg__error(ctx, VKG_ERR_NO_DEVICE, "no Vulkan device found (is a driver such as Mesa lavapipe installed?)");
    const char *want = ctx->desc.device;
    int chosen = -1;
    if (!want || !want[0]) {
        int best_rank = 1 << 30;
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(phys[i], &p);
            if (VKG__MIN(inst_api, p.apiVersion) < VK_API_VERSION_1_1) continue;
            int r = type_rank(p.deviceType);
            if (r < best_rank) { best_rank = r; chosen = (int)i; }
        }
    } else if (all_digits(want)) {
        unsigned long idx = strtoul(want, NULL, 10);
        if (idx < n) chosen = (int)idx;
    } else {
        for (uint32_t i = 0; i < n && chosen < 0; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(phys[i], &p);
            if (contains_ci(p.deviceName, want)) chosen = (int)i;
        }
    }
    if (chosen < 0) {
        char names[2048];
        list_names(phys, n, names, sizeof names);
        if (!want || !want[0])
            return vkg__error(ctx, VKG_ERR_NO_DEVICE, "no Vulkan 1.1 device found; devices: %s", names);
        return vkg__error(ctx, VKG_ERR_NO_DEVICE, "no Vulkan device matches '%s'; devices: %s", want, names);
    }
    *out = phys[chosen];
    return VKG_OK;
}

static vkg_result create_instance(vkg_context *ctx, uint32_t api) {
    vkg__vk_device *vk = ctx->vk;
    vkg__vk_device_priv *pv = vkg__vk_priv(ctx);
    const char *layers[1];
    const char *exts[4];
    uint32_t n_layers = 0, n_exts = 0;
    bool portability = has_extension(NULL, NULL, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    if (portability) exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
    bool debug_utils = false, vfeatures = false;
    if (ctx->desc.validation) {
        if (!has_layer(VALIDATION_LAYER))
            return vkg__error(ctx, VKG_ERR_UNSUPPORTED,
                              "validation requested but the layer " VALIDATION_LAYER " is not installed "
                              "(install vulkan-validationlayers or turn validation off)");
        layers[n_layers++] = VALIDATION_LAYER;
        debug_utils = has_extension(NULL, NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
                      has_extension(NULL, VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        if (!debug_utils)
            return vkg__error(ctx, VKG_ERR_UNSUPPORTED, "validation requested but " VK_EXT_DEBUG_UTILS_EXTENSION_NAME " is missing");
        exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        vfeatures = has_extension(NULL, VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
        if (vfeatures) exts[n_exts++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
        pv->validation = true;
    }
    VkDebugUtilsMessengerCreateInfoEXT mci = messenger_info(ctx);
    static const VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT vf = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .pNext = &mci,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    const void *pnext = NULL;
    if (debug_utils) pnext = vfeatures ? (const void *)&vf : (const void *)&mci;
    VkResult res = make_instance(api, portability, layers, n_layers, exts, n_exts, pnext, &vk->instance);
    if (res == VK_ERROR_INCOMPATIBLE_DRIVER)
        return vkg__error(ctx, VKG_ERR_NO_DEVICE, "vkCreateInstance: no compatible Vulkan driver (VK_ERROR_INCOMPATIBLE_DRIVER)");
    vkg_result r = vkg__vk_check(ctx, res, "vkCreateInstance");
    if (r != VKG_OK) {
        vk->instance = VK_NULL_HANDLE;
        return r;
    }
    if (debug_utils) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(vk->instance, "vkCreateDebugUtilsMessengerEXT");
        if (!create) return vkg__error(ctx, VKG_ERR_VULKAN, "vkCreateDebugUtilsMessengerEXT not found");
        r = vkg__vk_check(ctx, create(vk->instance, &mci, NULL, &vk->messenger), "vkCreateDebugUtilsMessengerEXT");
        if (r != VKG_OK) return r;
    }
    return VKG_OK;
}

/* Fills the detected properties of ctx->vk from its physical device. */
static void detect(vkg_context *ctx, uint32_t inst_api, const dev_info *di) {
    vkg__vk_device *vk = ctx->vk;
    vkg__vk_device_priv *pv = vkg__vk_priv(ctx);
    vk->props = di->props;
    vkGetPhysicalDeviceMemoryProperties(vk->phys, &vk->mem_props);
    pv->api_version = VKG__MIN(inst_api, di->props.apiVersion);
    vk->devclass = di->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? VKG__DEVCLASS_CPU : VKG__DEVCLASS_GPU;
    bool compute_ops = di->subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT;
    uint32_t ops = compute_ops ? di->subgroup.supportedOperations : 0;
    vk->subgroup_size = di->subgroup.subgroupSize ? di->subgroup.subgroupSize : 1;
    pv->subgroup_basic = ops & VK_SUBGROUP_FEATURE_BASIC_BIT;
    vk->subgroup_ballot = ops & VK_SUBGROUP_FEATURE_BALLOT_BIT;
    pv->subgroup_broadcast = vk->subgroup_ballot;
    vk->subgroup_shuffle = ops & VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    vk->subgroup_arith = ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    vk->fp16_arith = di->has_f16i8 && di->f16i8.shaderFloat16;
    vk->storage16 = di->f16s.storageBuffer16BitAccess;
    vk->max_storage_range = di->props.limits.maxStorageBufferRange;
    vk->storage_align = di->props.limits.minStorageBufferOffsetAlignment;
    if (vk->storage_align == 0) vk->storage_align = 4;
    pv->max_alloc = di->maint3.maxMemoryAllocationSize;
    for (int i = 0; i < 3; i++) pv->max_groups[i] = di->props.limits.maxComputeWorkGroupCount[i];

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &nq, NULL);
    VkQueueFamilyProperties qf[64];
    nq = VKG__MIN(nq, 64u);
    vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &nq, qf);
    pv->timestamp_bits = vk->queue_family < nq ? qf[vk->queue_family].timestampValidBits : 0;
    vk->timestamp_period = pv->timestamp_bits ? di->props.limits.timestampPeriod : 0.0f;
    if (vk->timestamp_period <= 0.0f) pv->timestamp_bits = 0;
}

static vkg_result create_device(vkg_context *ctx, const dev_info *di) {
    vkg__vk_device *vk = ctx->vk;
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &nq, NULL);
    VkQueueFamilyProperties qf[64];
    nq = VKG__MIN(nq, 64u);
    vkGetPhysicalDeviceQueueFamilyProperties(vk->phys, &nq, qf);
    int fam = -1;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)i;
    if (fam < 0) return vkg__error(ctx, VKG_ERR_UNSUPPORTED, "device %s has no compute queue", di->props.deviceName);
    vk->queue_family = (uint32_t)fam;

    /* Enable the features that exist among those the kernels may use. */
    VkPhysicalDevice16BitStorageFeatures f16s = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .storageBuffer16BitAccess = di->f16s.storageBuffer16BitAccess,
        .uniformAndStorageBuffer16BitAccess = di->f16s.uniformAndStorageBuffer16BitAccess,
    };
    VkPhysicalDeviceShaderFloat16Int8Features f16i8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
        .shaderFloat16 = di->f16i8.shaderFloat16,
        .shaderInt8 = di->f16i8.shaderInt8,
    };
    VkPhysicalDevice8BitStorageFeatures s8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES,
        .storageBuffer8BitAccess = di->s8.storageBuffer8BitAccess,
        .uniformAndStorageBuffer8BitAccess = di->s8.uniformAndStorageBuffer8BitAccess,
    };
    VkPhysicalDeviceFeatures2 feat = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f16s};
    feat.features.shaderInt16 = di->feat.features.shaderInt16;
    feat.features.shaderInt64 = di->feat.features.shaderInt64;
    const char *exts[8];
    uint32_t n_exts = 0;
    bool v12 = vkg__vk_priv(ctx)->api_version >= VK_API_VERSION_1_2;
    if (di->has_f16i8) {
        f16i8.pNext = feat.pNext;
        feat.pNext = &f16i8;
        if (!v12) exts[n_exts++] = VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME;
    }
    if (di->has_8bit) {
        s8.pNext = feat.pNext;
        feat.pNext = &s8;
        if (!v12) exts[n_exts++] = VK_KHR_8BIT_STORAGE_EXTENSION_NAME;
    }
    if (!v12 && di->has_driver) exts[n_exts++] = VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME;
    if (has_extension(vk->phys, NULL, "VK_KHR_portability_subset")) exts[n_exts++] = "VK_KHR_portability_subset";

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = vk->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &feat,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    vkg_result r = vkg__vk_check(ctx, vkCreateDevice(vk->phys, &dci, NULL, &vk->device), "vkCreateDevice");
    if (r != VKG_OK) {
        vk->device = VK_NULL_HANDLE;
        return r;
    }
    vkGetDeviceQueue(vk->device, vk->queue_family, 0, &vk->queue);
    return VKG_OK;
}

static vkg_result create_cache_and_pool(vkg_context *ctx) {
    vkg__vk_device *vk = ctx->vk;
    vk->pipeline_cache_path = cache_path(ctx, &vk->props);
    size_t size = 0;
    void *data = vk->pipeline_cache_path ? cache_load(ctx, vk->pipeline_cache_path, &vk->props, &size) : NULL;
    VkPipelineCacheCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = size,
        .pInitialData = data,
    };
    VkResult res = vkCreatePipelineCache(vk->device, &pci, NULL, &vk->pipeline_cache);
    if (res != VK_SUCCESS && data) {
        /* A cache the driver refuses: start empty. */
        pci.initialDataSize = 0;
        pci.pInitialData = NULL;
        res = vkCreatePipelineCache(vk->device, &pci, NULL, &vk->pipeline_cache);
    }
    vkg__free(ctx, data);
    vkg_result r = vkg__vk_check(ctx, res, "vkCreatePipelineCache");
    if (r != VKG_OK) {
        vk->pipeline_cache = VK_NULL_HANDLE;
        return r;
    }
    VkCommandPoolCreateInfo cpi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = vk->queue_family,
    };
    r = vkg__vk_check(ctx, vkCreateCommandPool(vk->device, &cpi, NULL, &vk->cmd_pool), "vkCreateCommandPool");
    if (r != VKG_OK) vk->cmd_pool = VK_NULL_HANDLE;
    return r;
}

vkg_result vkg__vk_device_create(vkg_context *ctx) {
    if (ctx->vk) return vkg__error(ctx, VKG_ERR_INVALID_ARG, "context already has a device");
    vkg__vk_device_priv *pv = vkg__calloc(ctx, 1, sizeof *pv);
    if (!pv) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "out of host memory creating the device");
    ctx->vk = &pv->pub;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pv->has_lock = pthread_mutex_init(&pv->lock, &attr) == 0;
    pthread_mutexattr_destroy(&attr);
    if (!pv->has_lock) return vkg__error(ctx, VKG_ERR_OUT_OF_MEMORY, "could not create the device lock");
    const char *timeout = getenv("VKG_FENCE_TIMEOUT_S");
    long long seconds = timeout ? atoll(timeout) : 0;
    pv->fence_timeout_ns = seconds > 0 ? (uint64_t)seconds * 1000000000ull : VKG__VK_FENCE_TIMEOUT_NS;
    vkg__vk_device *vk = ctx->vk;
    /* On failure the caller runs vkg__vk_device_destroy, which undoes the
     * part built so far. */
    uint32_t inst_ver = instance_version();
    const vkg_external_device *ext = ctx->desc.external;
    vkg_result r;
    dev_info di;
    if (ext) {
        if (!ext->instance || !ext->physical_device || !ext->device || !ext->queue)
            return vkg__error(ctx, VKG_ERR_INVALID_ARG, "external device: instance, physical_device, device and queue are all required");
        vk->external = true;
        vk->instance = ext->instance;
        vk->phys = ext->physical_device;
        vk->device = ext->device;
        vk->queue = ext->queue;
        vk->queue_family = ext->queue_family;
        /* The host decides the API version; assume 1.1 at least. */
        query_device(vk->phys, VK_API_VERSION_1_2, &di);
        if (di.props.apiVersion < VK_API_VERSION_1_1)
            return vkg__error(ctx, VKG_ERR_UNSUPPORTED, "external device %s is Vulkan 1.0; 1.1 is required", di.props.deviceName);
        if (ctx->desc.validation)
            vkg__log(ctx, VKG_LOG_WARN, "validation: not enabled on an external device (enable the layer on the host's instance)");
        detect(ctx, VK_API_VERSION_1_2, &di);
    } else {
        if (inst_ver < VK_API_VERSION_1_1)
            return vkg__error(ctx, VKG_ERR_NO_DEVICE, "the Vulkan loader supports only 1.0; vkgraph needs 1.1 or later");
        uint32_t api = pick_api(inst_ver);
        if ((r = create_instance(ctx, api)) != VKG_OK) return r;
        if ((r = select_device(ctx, api, &vk->phys)) != VKG_OK) return r;
        query_device(vk->phys, api, &di);
        if (VKG__MIN(api, di.props.apiVersion) < VK_API_VERSION_1_1)
            return vkg__error(ctx, VKG_ERR_UNSUPPORTED, "device %s supports only Vulkan 1.0; 1.1 is required", di.props.deviceName);
        vkg__vk_priv(ctx)->api_version = VKG__MIN(api, di.props.apiVersion);
        if ((r = create_device(ctx, &di)) != VKG_OK) return r;
        detect(ctx, api, &di);
    }
    if ((r = create_cache_and_pool(ctx)) != VKG_OK) return r;
    vkg__log(ctx, VKG_LOG_INFO, "device: %s (%s), subgroup %u, fp16 %d, storage16 %d, timestamps %s",
             vk->props.deviceName, type_name(vk->props.deviceType), vk->subgroup_size, vk->fp16_arith,
             vk->storage16, vk->timestamp_period > 0 ? "yes" : "no");
    return VKG_OK;
}

void vkg__vk_device_destroy(vkg_context *ctx) {
    vkg__vk_device *vk = ctx->vk;
    if (!vk) return;
    /* Teardown order: wait idle, pipelines (and their cache), pool, device,
     * messenger, instance. A lost device is not waited on. */
    if (vk->device && !vk->lost) vkDeviceWaitIdle(vk->device);
    if (vk->device) {
        vkg__vk_pipelines_destroy(ctx);
        if (vk->pipeline_cache) {
            cache_save(ctx);
            vkDestroyPipelineCache(vk->device, vk->pipeline_cache, NULL);
        }
        if (vk->cmd_pool) vkDestroyCommandPool(vk->device, vk->cmd_pool, NULL);
        if (!vk->external) vkDestroyDevice(vk->device, NULL);
    }
    if (!vk->external && vk->instance) {
        if (vk->messenger) {
            PFN_vkDestroyDebugUtilsMessengerEXT destroy =
                (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(vk->instance, "vkDestroyDebugUtilsMessengerEXT");
            if (destroy) destroy(vk->instance, vk->messenger, NULL);
        }
        vkDestroyInstance(vk->instance, NULL);
    }
    vkg__free(ctx, vk->pipeline_cache_path);
    if (vkg__vk_priv(ctx)->has_lock) pthread_mutex_destroy(&vkg__vk_priv(ctx)->lock);
    vkg__free(ctx, vkg__vk_priv(ctx));
    ctx->vk = NULL;
}

// >>device list
vkg_result vkg_list_devices(char *buf, size_t buf_size) {
    if (!buf || buf_size == 0) return VKG_ERR_INVALID_ARG;
    buf[0] = 0;
    uint32_t inst_ver = instance_version();
    if (inst_ver < VK_API_VERSION_1_1) return VKG_ERR_NO_DEVICE;
    uint32_t api = pick_api(inst_ver);
    bool portability = has_extension(NULL, NULL, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    const char *exts[1] = {VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME};
    VkInstance inst;
    if (make_instance(api, portability, NULL, 0, exts, portability ? 1 : 0, NULL, &inst) != VK_SUCCESS)
        return VKG_ERR_NO_DEVICE;
    VkPhysicalDevice phys[MAX_PHYS];
    uint32_t n = MAX_PHYS;
    VkResult res = vkEnumeratePhysicalDevices(inst, &n, phys);
    if (res != VK_SUCCESS && res != VK_INCOMPLETE) n = 0;
    size_t at = 0;
    bool truncated = false;
    for (uint32_t i = 0; i < n; i++) {
        dev_info di;
        query_device(phys[i], api, &di);
        VkPhysicalDeviceMemoryProperties mp;
        vkGetPhysicalDeviceMemoryProperties(phys[i], &mp);
        const VkPhysicalDeviceProperties *p = &di.props;
        char driver[2 * VK_MAX_DRIVER_NAME_SIZE + 2];
        if (di.has_driver)
            snprintf(driver, sizeof driver, "%s %s", di.driver.driverName, di.driver.driverInfo);
        else
            snprintf(driver, sizeof driver, "driver 0x%x", p->driverVersion);
        bool coopmat = has_extension(phys[i], NULL, "VK_KHR_cooperative_matrix") ||
                       has_extension(phys[i], NULL, "VK_NV_cooperative_matrix");
        bool dot8 = has_extension(phys[i], NULL, "VK_KHR_shader_integer_dot_product") ||
                    VKG__MIN(api, p->apiVersion) >= VK_API_VERSION_1_3;
        int w = snprintf(buf + at, buf_size - at,
                         "%u: %s | %s | %s | Vulkan %u.%u.%u | %s | %llu MiB | fp16 %s, 16-bit storage %s, "
                         "subgroup %u, coopmat %s, int8 dot %s\n",
                         i, p->deviceName, vendor_name(p->vendorID), driver, VK_API_VERSION_MAJOR(p->apiVersion),
                         VK_API_VERSION_MINOR(p->apiVersion), VK_API_VERSION_PATCH(p->apiVersion),
                         type_name(p->deviceType), (unsigned long long)(device_local_bytes(&mp) >> 20),
                         di.has_f16i8 && di.f16i8.shaderFloat16 ? "yes" : "no",
                         di.f16s.storageBuffer16BitAccess ? "yes" : "no", di.subgroup.subgroupSize,
                         coopmat ? "yes" : "no", dot8 ? "yes" : "no");
        if (w < 0 || (size_t)w >= buf_size - at) {
            truncated = true;
            break;
        }
        at += (size_t)w;
    }
    vkDestroyInstance(inst, NULL);
    if (n == 0) return VKG_ERR_NO_DEVICE;
    return truncated ? VKG_ERR_INVALID_ARG : VKG_OK;
}
