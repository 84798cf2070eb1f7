// Flat invocation index over a 1-D or 2-D grid of workgroups (the emitters
// use a 2-D grid when more than 65535 groups are needed).
// The local size comes from spec 0 (`layout(local_size_x_id = 0) in;` in each
// shader). glslang folds gl_WorkGroupSize.x to its default (1) instead of
// keeping it a specialization constant, so read the size through VKG_LOCAL_SIZE,
// a second constant with the same SpecId (as ggml's shaders do).
#ifndef VKG_INDEX_GLSL
#define VKG_INDEX_GLSL

layout(constant_id = 0) const uint VKG_LOCAL_SIZE = 1;

uint vkg_flat_id() {
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * VKG_LOCAL_SIZE;
}

#endif
