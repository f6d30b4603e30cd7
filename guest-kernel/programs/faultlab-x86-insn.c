// SPDX-License-Identifier: GPL-2.0-or-later
/* faultlab-arches: x86_64 */
/*
 * faultlab-x86-insn: MOVDIRI, MOVDIR64B, ENQCMD and ENQCMDS as user space
 * sees them (Intel SDM Vol. 2), one JSON object on stdout:
 *
 *   cpuid                 CPUID.(EAX=7,ECX=0):ECX bits 27 (MOVDIRI),
 *                         28 (MOVDIR64B), 29 (ENQCMD) as 0/1;
 *   movdir64b-memory      MOVDIR64B from an unaligned source to a 64-byte
 *                         aligned destination in ordinary memory: the 64
 *                         bytes land there, the bytes around it untouched;
 *   movdir64b-unaligned   destination 8 bytes off alignment: #GP, which
 *                         Linux turns into SIGSEGV (si_code SI_KERNEL,
 *                         si_addr 0); destination untouched;
 *   movdir64b-unmapped    destination unmapped: #PF, SIGSEGV SEGV_MAPERR
 *                         at the destination;
 *   movdir64b-readonly    destination PROT_READ: #PF, SIGSEGV SEGV_ACCERR,
 *                         page unchanged;
 *   movdiri               MOVDIRI m32 and m64 into memory: the values land;
 *   enqcmd-no-pasid       ENQCMD to ordinary memory: this process has no
 *                         PASID (x86 SVA is off in Linux 6.12.64+), so
 *                         IA32_PASID is not valid: #GP, which the kernel's
 *                         fixup cannot resolve: SIGSEGV SI_KERNEL; memory
 *                         untouched;
 *   enqcmds-user          ENQCMDS at CPL 3: #GP, SIGSEGV SI_KERNEL.
 *
 * The kernel-mode cases (ENQCMD with a valid IA32_PASID, ENQCMDS, the MSR
 * itself) are in the faultlab_x86_insn module.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "x86-enqcmd.h"

static sigjmp_buf env;
static volatile int got_sig;
static volatile int got_code;
static volatile uintptr_t got_addr;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_addr = (uintptr_t)si->si_addr;
	siglongjmp(env, 1);
}

/* MOVDIRI %eax -> (%rdx), and REX.W MOVDIRI %rax -> (%rdx). */
static void movdiri32(uint32_t *dst, uint32_t v)
{
	__asm__ volatile(".byte 0x0f, 0x38, 0xf9, 0x02"
			 : : "a"(v), "d"(dst) : "memory");
}

static void movdiri64(uint64_t *dst, uint64_t v)
{
	__asm__ volatile(".byte 0x48, 0x0f, 0x38, 0xf9, 0x02"
			 : : "a"(v), "d"(dst) : "memory");
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static int first;

static void begin(const char *name)
{
	printf("%s{\"name\": \"%s\"", first++ ? ", " : "", name);
	got_sig = 0;
	got_code = 0;
	got_addr = 0;
}

static void print_sig(void)
{
	printf(", \"signal\": %d, \"si_code\": %d, \"si_addr\": %llu", got_sig,
	       got_code, (unsigned long long)got_addr);
}

int main(void)
{
	static uint8_t src[128] __attribute__((aligned(64)));
	static uint8_t dst[192] __attribute__((aligned(64)));
	static uint64_t di[2];
	struct sigaction sa = { 0 };
	unsigned int a, b, c, d;
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *hole, *ro;
	volatile int zf = -1;

	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	for (int i = 0; i < 128; i++)
		src[i] = (uint8_t)(i * 13 + 5);
	hole = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, page, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED || ro == MAP_FAILED) {
		printf("{\"error\": \"mmap: %s\"}\n", strerror(errno));
		return 1;
	}
	munmap(hole, 2 * page);
	memset(ro, 0x5a, page);
	mprotect(ro, page, PROT_READ);

	printf("{\"cases\": [");

	begin("cpuid");
	__cpuid_count(7, 0, a, b, c, d);
	printf(", \"ecx\": %u, \"movdiri\": %u, \"movdir64b\": %u, \"enqcmd\": %u}",
	       c, (c >> 27) & 1, (c >> 28) & 1, (c >> 29) & 1);

	begin("movdir64b-memory");
	memset(dst, 0xee, sizeof(dst));
	if (!sigsetjmp(env, 1))
		movdir64b(dst + 64, src + 3);
	print_sig();
	printf(", \"bytes_equal\": %d, \"before_untouched\": %d, \"after_untouched\": %d}",
	       !memcmp(dst + 64, src + 3, 64), all_bytes(dst, 64, 0xee),
	       all_bytes(dst + 128, 64, 0xee));

	begin("movdir64b-unaligned");
	memset(dst, 0xee, sizeof(dst));
	if (!sigsetjmp(env, 1))
		movdir64b(dst + 8, src);
	print_sig();
	printf(", \"untouched\": %d}", all_bytes(dst, sizeof(dst), 0xee));

	begin("movdir64b-unmapped");
	if (!sigsetjmp(env, 1))
		movdir64b(hole + 64, src);
	print_sig();
	printf(", \"expected_addr\": %llu}",
	       (unsigned long long)(uintptr_t)(hole + 64));

	begin("movdir64b-readonly");
	if (!sigsetjmp(env, 1))
		movdir64b(ro + 128, src);
	print_sig();
	printf(", \"expected_addr\": %llu, \"untouched\": %d}",
	       (unsigned long long)(uintptr_t)(ro + 128),
	       all_bytes(ro, page, 0x5a));

	begin("movdiri");
	di[0] = 0xeeeeeeeeeeeeeeeeULL;
	di[1] = 0;
	if (!sigsetjmp(env, 1)) {
		movdiri32((uint32_t *)&di[0], 0x12345678u);
		movdiri64(&di[1], 0x0123456789abcdefULL);
	}
	print_sig();
	printf(", \"m32\": %llu, \"m64\": %llu}", (unsigned long long)di[0],
	       (unsigned long long)di[1]);

	begin("enqcmd-no-pasid");
	memset(dst, 0xee, sizeof(dst));
	if (!sigsetjmp(env, 1))
		zf = enqcmd(dst + 64, src);
	print_sig();
	printf(", \"zf\": %d, \"untouched\": %d}", got_sig ? -1 : zf,
	       all_bytes(dst, sizeof(dst), 0xee));

	begin("enqcmds-user");
	memset(dst, 0xee, sizeof(dst));
	zf = -1;
	if (!sigsetjmp(env, 1))
		zf = enqcmds(dst + 64, src);
	print_sig();
	printf(", \"zf\": %d, \"untouched\": %d}", got_sig ? -1 : zf,
	       all_bytes(dst, sizeof(dst), 0xee));

	printf("]}\n");
	return 0;
}
