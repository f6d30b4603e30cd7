/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host-test shim for "qemu/bswap.h": the load/store helpers the engine uses. */
#ifndef FAULTLAB_SHIM_QEMU_BSWAP_H
#define FAULTLAB_SHIM_QEMU_BSWAP_H

static inline uint32_t ldl_be_p(const void *ptr)
{
    const uint8_t *p = ptr;

    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static inline uint32_t ldl_le_p(const void *ptr)
{
    const uint8_t *p = ptr;

    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[1] << 8) | p[0];
}

static inline uint64_t ldq_be_p(const void *ptr)
{
    const uint8_t *p = ptr;

    return ((uint64_t)ldl_be_p(p) << 32) | ldl_be_p(p + 4);
}

static inline int lduw_be_p(const void *ptr)
{
    const uint8_t *p = ptr;

    return (p[0] << 8) | p[1];
}

static inline void stl_be_p(void *ptr, uint32_t v)
{
    uint8_t *p = ptr;

    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static inline void stl_le_p(void *ptr, uint32_t v)
{
    uint8_t *p = ptr;

    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static inline void stq_be_p(void *ptr, uint64_t v)
{
    uint8_t *p = ptr;

    stl_be_p(p, v >> 32);
    stl_be_p(p + 4, (uint32_t)v);
}

#endif
