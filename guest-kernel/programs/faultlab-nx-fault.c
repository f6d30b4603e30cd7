// SPDX-License-Identifier: GPL-2.0-or-later
/* faultlab-arches: ppc64le */
/*
 * faultlab-nx-fault: NX-GZIP translation faults seen from user space.
 *
 * Opens a window on /dev/crypto/nx-gzip, maps its paste address and submits
 * one COMPRESS_FHT CRB (direct source and target DDEs) with COPY/PASTE for
 * each case:
 *   src-absent  the source is a fresh anonymous mapping never touched;
 *   tgt-absent  the target is.
 * NX cannot translate the untouched page, so the kernel's fault handling
 * (PowerNV: the fault FIFO; pseries: the window's fault interrupt and
 * H_GET_NX_FAULT) must write the CSB with cc 250 (CSB_CC_FAULT_ADDRESS),
 * ce 0x40 and the exact fault address. The program then touches the page
 * and resubmits the same CRB, which must complete (cc 0 or 64) with the
 * CRC of the source in the CPB. A third case, csb-readonly, makes the page
 * holding the CSB and CPB read-only: NX faults on the CPB output, the
 * kernel cannot write the CSB either and must send SIGSEGV with si_addr =
 * the CSB address; the program makes the page writable again and
 * resubmits. One JSON object on stdout.
 *
 * Layouts: the CRB/CSB/CPB of the kernel selftests' nxu.h (all big-endian),
 * hardware-contract.md A.5.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <asm/vas-api.h>

#include "nx-user.h"

#define SRC_LEN         65536
#define TGT_LEN         (2 * SRC_LEN)

static volatile int got_sig, got_code;
static volatile uintptr_t got_addr;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_code = si->si_code;
	got_addr = (uintptr_t)si->si_addr;
	got_sig = sig;
}

struct submit {
	unsigned int cr0;       /* CR0 of the accepted paste, or of the last refusal */
	int pastes;         /* pastes until one was accepted */
	int completed;      /* CSB valid seen */
	unsigned int cc, ce;
	uint32_t tpbc;
	uint64_t addr;
};

static struct submit submit(uint8_t *blk, void *paste)
{
	volatile uint8_t *csb = blk + CSB_OFF;
	struct submit s = { 0 };
	double t0;

	memset((void *)csb, 0, 16);
	for (s.pastes = 1; s.pastes <= 100000; s.pastes++) {
		s.cr0 = copy_paste(blk, paste);
		if (s.cr0 == 2 || s.cr0 == 3)
			break;
		usleep(10);
	}
	if (s.cr0 != 2 && s.cr0 != 3)
		return s;
	t0 = now();
	while (!(csb[0] & 0x80) && now() - t0 < 20.0)
		usleep(100);
	__sync_synchronize();
	s.completed = !!(csb[0] & 0x80);
	s.cc = csb[2];
	s.ce = csb[3];
	s.tpbc = get_be32(csb + 4);
	s.addr = get_be64(csb + 8);
	return s;
}

static void build_crb(uint8_t *blk, uint8_t *src, uint8_t *tgt)
{
	memset(blk, 0, 4096);
	put_be32(blk + 0x00, FC_COMPRESS_FHT);
	put_be64(blk + 0x08, (uint64_t)(uintptr_t)(blk + CSB_OFF));
	put_be32(blk + 0x14, SRC_LEN);                      /* source DDE */
	put_be64(blk + 0x18, (uint64_t)(uintptr_t)src);
	put_be32(blk + 0x24, TGT_LEN);                      /* target DDE */
	put_be64(blk + 0x28, (uint64_t)(uintptr_t)tgt);
}

static void print_submit(const char *key, const struct submit *s)
{
	printf("\"%s\": {\"cr0\": %u, \"pastes\": %d, \"completed\": %d, \"cc\": %u, "
		   "\"ce\": %u, \"tpbc\": %u, \"addr\": %llu}",
		   key, s->cr0, s->pastes, s->completed, s->cc, s->ce, s->tpbc,
		   (unsigned long long)s->addr);
}

static void *fresh(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("{\"error\": \"mmap: %s\"}\n", strerror(errno));
		exit(1);
	}
	return p;
}

static void fill(uint8_t *p, size_t n)
{
	static const char line[] = "faultlab nx fault test line 0123456789\n";

	for (size_t i = 0; i < n; i++)
		p[i] = line[i % (sizeof(line) - 1)];
}

static void csb_readonly(void *paste)
{
	struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO };
	uint8_t *blk = fresh(65536), *src = fresh(SRC_LEN), *tgt = fresh(TGT_LEN);
	unsigned int cr0 = 0;
	int pastes;
	struct submit r;
	uint8_t flags;
	double t0;

	sigaction(SIGSEGV, &sa, NULL);
	fill(src, SRC_LEN);
	memset(tgt, 0, TGT_LEN);
	build_crb(blk, src, tgt);
	mprotect(blk, 65536, PROT_READ);
	for (pastes = 1; pastes <= 100000; pastes++) {
		cr0 = copy_paste(blk, paste);
		if (cr0 == 2 || cr0 == 3)
			break;
		usleep(10);
	}
	t0 = now();
	while (!got_sig && !(blk[CSB_OFF] & 0x80) && now() - t0 < 20.0)
		usleep(100);
	flags = blk[CSB_OFF];
	mprotect(blk, 65536, PROT_READ | PROT_WRITE);
	signal(SIGSEGV, SIG_DFL);
	r = submit(blk, paste);
	printf(", {\"name\": \"csb-readonly\", \"cr0\": %u, \"pastes\": %d, "
	       "\"signal\": %d, \"si_code\": %d, \"si_addr\": %llu, "
	       "\"csb_addr\": %llu, \"csb_flags\": %u, ",
	       cr0, pastes, got_sig, got_code, (unsigned long long)got_addr,
	       (unsigned long long)(uintptr_t)(blk + CSB_OFF), flags);
	print_submit("retry", &r);
	printf("}");
}

int main(void)
{
	struct vas_tx_win_open_attr attr = { .version = 1, .vas_id = 0 };
	uint8_t *blk, *src, *tgt;
	void *paste;
	int fd;

	fd = open("/dev/crypto/nx-gzip", O_RDWR);
	if (fd < 0) {
		printf("{\"error\": \"open /dev/crypto/nx-gzip: %s\"}\n", strerror(errno));
		return 1;
	}
	if (ioctl(fd, VAS_TX_WIN_OPEN, &attr) < 0) {
		printf("{\"error\": \"VAS_TX_WIN_OPEN: %s\"}\n", strerror(errno));
		return 1;
	}
	paste = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (paste == MAP_FAILED) {
		printf("{\"error\": \"mmap paste: %s\"}\n", strerror(errno));
		return 1;
	}
	paste = (uint8_t *)paste + PASTE_OFFSET;
	if (posix_memalign((void **)&blk, 4096, 4096)) {
		printf("{\"error\": \"posix_memalign\"}\n");
		return 1;
	}

	printf("{\"cases\": [");
	for (int c = 0; c < 2; c++) {
		const char *name = c == 0 ? "src-absent" : "tgt-absent";
		struct submit f, r;
		uint64_t expect;
		uint32_t crc, cpb_crc;

		src = fresh(SRC_LEN);
		tgt = fresh(TGT_LEN);
		if (c == 0) {
			memset(tgt, 0, TGT_LEN);    /* target present, source not */
			expect = (uintptr_t)src;
		} else {
			fill(src, SRC_LEN);         /* source present, target not */
			expect = (uintptr_t)tgt;
		}
		build_crb(blk, src, tgt);
		f = submit(blk, paste);

		/* Touch what faulted, as gzip_vas.c's users do, and resubmit. */
		if (c == 0)
			fill(src, SRC_LEN);
		else
			memset(tgt, 0, TGT_LEN);
		crc = crc32_ieee(src, SRC_LEN);
		build_crb(blk, src, tgt);
		r = submit(blk, paste);

		printf("%s{\"name\": \"%s\", \"expected_addr\": %llu, ", c ? ", " : "", name,
			   (unsigned long long)expect);
		print_submit("fault", &f);
		printf(", ");
		print_submit("retry", &r);
		/* out_crc is read as gunz_test.c reads cmdp->cpb.out_crc: natively. */
		memcpy(&cpb_crc, blk + CPB_OUT_CRC, sizeof(cpb_crc));
		printf(", \"source_crc\": %u, \"cpb_crc\": %u}", crc, cpb_crc);
		munmap(src, SRC_LEN);
		munmap(tgt, TGT_LEN);
	}
	csb_readonly(paste);
	printf("]}\n");
	close(fd);
	return 0;
}
