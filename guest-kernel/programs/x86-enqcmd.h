/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab: MOVDIR64B, ENQCMD and ENQCMDS from user space (x86_64; Intel SDM
 * Vol. 2), shared by faultlab-dsa and faultlab-x86-insn. Encoded as bytes,
 * as the kernel's movdir64b() and enqcmds() are, so that any assembler
 * builds them: the source is (%rdx), the 64-byte destination ES:(%rax).
 */
#ifndef FAULTLAB_X86_ENQCMD_H
#define FAULTLAB_X86_ENQCMD_H

#include <stdint.h>

/* MOVDIR64B (%rdx) -> ES:(%rax) */
static inline void movdir64b(void *dst, const void *src)
{
	__asm__ volatile(".byte 0x66, 0x0f, 0x38, 0xf8, 0x02"
			 : : "a"(dst), "d"(src) : "memory");
}

/* ENQCMD (%rdx) -> ES:(%rax); returns ZF (1: not accepted, retry) */
static inline int enqcmd(void *dst, const void *src)
{
	uint8_t zf;

	__asm__ volatile(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x02\n\tsetz %0"
			 : "=r"(zf) : "a"(dst), "d"(src) : "memory", "cc");
	return zf;
}

/* ENQCMDS (%rdx) -> ES:(%rax), privileged; returns ZF */
static inline int enqcmds(void *dst, const void *src)
{
	uint8_t zf;

	__asm__ volatile(".byte 0xf3, 0x0f, 0x38, 0xf8, 0x02\n\tsetz %0"
			 : "=r"(zf) : "a"(dst), "d"(src) : "memory", "cc");
	return zf;
}

#endif
