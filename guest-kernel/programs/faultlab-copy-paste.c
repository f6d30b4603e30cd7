// SPDX-License-Identifier: GPL-2.0-or-later
/* faultlab-arches: ppc64le */
/*
 * faultlab-copy-paste: the Copy-Paste Facility (Power ISA 3.0B Book II 4.4)
 * as user space sees it, one JSON object on stdout:
 *
 *   copy-unaligned     copy from an EA that is not 128-byte aligned: an
 *                      alignment interrupt, which Linux turns into SIGBUS
 *                      with si_addr = the EA;
 *   copy-unmapped      copy from an unmapped EA: a DSI, SIGSEGV at the EA;
 *   paste-unmapped     paste. to an unmapped EA: a DSI (store), SIGSEGV;
 *   paste-memory       copy then paste. to ordinary memory: CR0 = 0b0010
 *                      and the 128 bytes land there;
 *   paste-memory-so    the same with XER[SO] set: CR0 = 0b0011;
 *   paste-no-copy      cp_abort then paste. (a copy-paste sequence error):
 *                      CR0 = 0b0000, nothing stored;
 *   paste-window-no-copy  the same to an NX-GZIP window's paste address.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <asm/vas-api.h>

static sigjmp_buf env;
static volatile int got_sig;
static volatile uintptr_t got_addr;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_addr = (uintptr_t)si->si_addr;
	siglongjmp(env, 1);
}

static void do_copy(void *ea)
{
	__asm__ volatile(".long 0x7c20060c | (%0 << 11)" : : "b"(ea) : "memory");
}

static unsigned int do_paste(void *ea)
{
	uint32_t cr;

	__asm__ volatile(".long 0x7c20070d | (%1 << 11)\n\t"
					 "mfocrf %0, 0x80"
					 : "=r"(cr) : "b"(ea) : "memory", "cr0");
	return (cr >> 28) & 0xf;
}

static void do_cp_abort(void)
{
	__asm__ volatile(".long 0x7c00068c" : : : "memory");
}

static void set_so(int on)
{
	uint64_t xer;

	__asm__ volatile("mfxer %0" : "=r"(xer));
	xer = on ? (xer | (1ULL << 31)) : (xer & ~(1ULL << 31));
	__asm__ volatile("mtxer %0" : : "r"(xer));
}

static int first;

static void begin(const char *name)
{
	printf("%s{\"name\": \"%s\"", first++ ? ", " : "", name);
}

static void print_sig(void)
{
	printf(", \"signal\": %d, \"si_addr\": %llu", got_sig,
		   (unsigned long long)got_addr);
}

int main(void)
{
	static uint8_t src[256] __attribute__((aligned(128)));
	static uint8_t dst[256] __attribute__((aligned(128)));
	struct sigaction sa = { 0 };
	struct vas_tx_win_open_attr attr = { .version = 1, .vas_id = 0 };
	uint8_t *hole;
	unsigned int cr0;
	int fd;

	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	for (int i = 0; i < 256; i++)
		src[i] = (uint8_t)(i * 7 + 1);
	/* An address with nothing mapped: map two pages and unmap them. */
	hole = mmap(NULL, 2 * 65536, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED) {
		printf("{\"error\": \"mmap: %s\"}\n", strerror(errno));
		return 1;
	}
	munmap(hole, 2 * 65536);

	printf("{\"cases\": [");

	begin("copy-unaligned");
	got_sig = 0;
	if (!sigsetjmp(env, 1))
		do_copy(src + 8);
	print_sig();
	printf(", \"expected_addr\": %llu}", (unsigned long long)(uintptr_t)(src + 8));

	begin("copy-unmapped");
	got_sig = 0;
	if (!sigsetjmp(env, 1))
		do_copy(hole);
	print_sig();
	printf(", \"expected_addr\": %llu}", (unsigned long long)(uintptr_t)hole);

	begin("paste-unmapped");
	got_sig = 0;
	if (!sigsetjmp(env, 1)) {
		do_copy(src);
		do_paste(hole + 128);
	}
	print_sig();
	printf(", \"expected_addr\": %llu}", (unsigned long long)(uintptr_t)(hole + 128));

	begin("paste-memory");
	memset(dst, 0, sizeof(dst));
	set_so(0);
	do_copy(src);
	cr0 = do_paste(dst + 128);
	printf(", \"cr0\": %u, \"bytes_equal\": %d, \"before_untouched\": %d}", cr0,
		   !memcmp(dst + 128, src, 128), dst[0] == 0 && !memcmp(dst, dst + 1, 127));

	begin("paste-memory-so");
	memset(dst, 0, sizeof(dst));
	set_so(1);
	do_copy(src + 128);
	cr0 = do_paste(dst);
	set_so(0);
	printf(", \"cr0\": %u, \"bytes_equal\": %d}", cr0, !memcmp(dst, src + 128, 128));

	begin("paste-no-copy");
	memset(dst, 0, sizeof(dst));
	do_copy(src);
	do_cp_abort();
	cr0 = do_paste(dst);
	printf(", \"cr0\": %u, \"untouched\": %d}", cr0, dst[0] == 0 && !memcmp(dst, dst + 1, 127));

	begin("paste-window-no-copy");
	fd = open("/dev/crypto/nx-gzip", O_RDWR);
	if (fd >= 0 && ioctl(fd, VAS_TX_WIN_OPEN, &attr) == 0) {
		uint8_t *paste = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (paste != MAP_FAILED) {
			do_cp_abort();
			cr0 = do_paste(paste + 0x400);
			printf(", \"cr0\": %u}", cr0);
		} else {
			printf(", \"error\": \"mmap paste: %s\"}", strerror(errno));
		}
		close(fd);
	} else {
		printf(", \"error\": \"no nx-gzip window: %s\"}", strerror(errno));
	}

	printf("]}\n");
	return 0;
}
