/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab: what our NX-GZIP user programs (faultlab-nx-fault, faultlab-nx-stress,
 * faultlab-vas-credits; ppc64le) share: the request block layout they use
 * (CRB, then the CSB and CPB in the same block, as the kernel's nx-gzip
 * selftests lay them out), big-endian field access, the CRC the CPB reports,
 * and COPY/PASTE to a window's paste address.
 */
#ifndef FAULTLAB_NX_USER_H
#define FAULTLAB_NX_USER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FC_COMPRESS_FHT 0x00
#define CC_FAULT        250     /* CSB cc of a translation fault */
#define PASTE_OFFSET    0x400   /* user pastes at +0x400 of the window's page */
#define CSB_OFF         0xf0
#define CPB_OFF         0x100
#define CPB_OUT_CRC     (CPB_OFF + 0x184)

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static inline uint32_t get_be32(const volatile uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const volatile uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffff;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320 & -(c & 1));
	}
	return ~c;
}

/* copy RA=0,RB=crb then paste. RA=0,RB=addr; returns CR0 (4 bits). */
static inline unsigned int copy_paste(void *crb, void *addr)
{
	uint32_t cr;

	__asm__ volatile("sync\n\t"
			 ".long 0x7c20060c | (%1 << 11)\n\t"
			 ".long 0x7c20070d | (%2 << 11)\n\t"
			 "mfocrf %0, 0x80\n\t"
			 "sync"
			 : "=r"(cr) : "b"(crb), "b"(addr) : "memory", "cr0");
	return (cr >> 28) & 0xf;
}

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
