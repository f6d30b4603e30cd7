// SPDX-License-Identifier: GPL-2.0-or-later
/* faultlab-arches: ppc64le */
/*
 * faultlab-vas-credits: VAS windows across pseries DLPAR credit changes.
 *
 * Usage: faultlab-vas-credits N FIFO [qos]
 *
 * Opens up to N windows on /dev/crypto/nx-gzip (VAS_TX_WIN_OPEN, then mmap
 * of the paste address), in order, with default credits, or with QoS
 * credits (VAS_TX_WIN_FLAG_QOS_CREDIT) when the third argument is "qos",
 * and prints one JSON line with how many opened and the errno of the first
 * refusal. It then keeps the windows and
 * reads commands, one a line, from FIFO (opened read-write, so it never
 * sees end of file):
 *   paste  submit one COMPRESS_FHT CRB on every window with COPY/PASTE.
 *          A window the kernel closed for lost credits has its paste
 *          address unmapped; the paste faults and the kernel reports it
 *          not accepted (CR0 = 0b000x). The program then falls back to
 *          software (it computes the CRC32 of the source itself), as a
 *          library would. One JSON line: per window the CR0, the path taken
 *          ("nx" or "sw"), the CSB completion code and the CRC.
 *   quit   close everything and exit.
 * Output lines are flushed at once, so the harness can poll the file.
 *
 * Layouts: the CRB/CSB/CPB of the kernel selftests' nxu.h (big-endian),
 * as in faultlab-nx-fault.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define MAX_WINDOWS     64
#define SRC_LEN         4096
#define TGT_LEN         (2 * SRC_LEN)
#define PASTE_TRIES     10

static int fds[MAX_WINDOWS];
static uint8_t *pastes[MAX_WINDOWS];
static int nwin;
static uint8_t *blk, *src, *tgt;
static unsigned int round_no;

static void paste_all(void)
{
	volatile uint8_t *csb = blk + CSB_OFF;
	uint32_t sw_crc;

	round_no++;
	for (int i = 0; i < SRC_LEN; i++)
		src[i] = (uint8_t)(i * 7 + round_no);
	sw_crc = crc32_ieee(src, SRC_LEN);
	printf("{\"round\": %u, \"source_crc\": %u, \"windows\": [", round_no, sw_crc);
	for (int w = 0; w < nwin; w++) {
		unsigned int cr0 = 0, cc = 0, completed = 0;
		uint32_t crc = 0;
		int tries;
		double t0;

		memset(blk, 0, 4096);
		put_be32(blk + 0x00, FC_COMPRESS_FHT);
		put_be64(blk + 0x08, (uint64_t)(uintptr_t)(blk + CSB_OFF));
		put_be32(blk + 0x14, SRC_LEN);
		put_be64(blk + 0x18, (uint64_t)(uintptr_t)src);
		put_be32(blk + 0x24, TGT_LEN);
		put_be64(blk + 0x28, (uint64_t)(uintptr_t)tgt);
		for (tries = 1; tries <= PASTE_TRIES; tries++) {
			cr0 = copy_paste(blk, pastes[w]);
			if (cr0 == 2 || cr0 == 3)
				break;
			usleep(1000);
		}
		if (cr0 == 2 || cr0 == 3) {
			t0 = now();
			while (!(csb[0] & 0x80) && now() - t0 < 20.0)
				usleep(100);
			__sync_synchronize();
			completed = !!(csb[0] & 0x80);
			cc = csb[2];
			/* as faultlab-nx-fault reads it (the selftests' layout) */
			memcpy(&crc, blk + CPB_OUT_CRC, sizeof(crc));
		} else {
			tries = PASTE_TRIES;
			crc = crc32_ieee(src, SRC_LEN);   /* software fallback */
		}
		printf("%s{\"window\": %d, \"cr0\": %u, \"tries\": %d, \"path\": \"%s\", "
		       "\"completed\": %u, \"cc\": %u, \"crc\": %u}",
		       w ? ", " : "", w, cr0, tries,
		       (cr0 == 2 || cr0 == 3) ? "nx" : "sw", completed, cc, crc);
	}
	printf("]}\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int want, err = 0, qos;
	char line[64];
	FILE *cmd;
	int cfd;

	if (argc < 3 || argc > 4 || (want = atoi(argv[1])) <= 0 || want > MAX_WINDOWS) {
		printf("{\"error\": \"usage: faultlab-vas-credits N(1..%d) FIFO [qos]\"}\n",
		       MAX_WINDOWS);
		return 2;
	}
	qos = argc == 4 && !strcmp(argv[3], "qos");
	for (nwin = 0; nwin < want; nwin++) {
		struct vas_tx_win_open_attr attr = {
			.version = 1, .vas_id = 0,
			.flags = qos ? VAS_TX_WIN_FLAG_QOS_CREDIT : 0,
		};
		void *p;
		int fd = open("/dev/crypto/nx-gzip", O_RDWR);

		if (fd < 0) {
			err = errno;
			break;
		}
		if (ioctl(fd, VAS_TX_WIN_OPEN, &attr) < 0) {
			err = errno;
			close(fd);
			break;
		}
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			err = errno;
			close(fd);
			break;
		}
		fds[nwin] = fd;
		pastes[nwin] = (uint8_t *)p + PASTE_OFFSET;
	}
	if (posix_memalign((void **)&blk, 4096, 4096) ||
	    posix_memalign((void **)&src, 4096, SRC_LEN) ||
	    posix_memalign((void **)&tgt, 4096, TGT_LEN)) {
		printf("{\"error\": \"posix_memalign\"}\n");
		return 1;
	}
	memset(tgt, 0, TGT_LEN);
	printf("{\"requested\": %d, \"opened\": %d, \"errno\": %d}\n", want, nwin, err);
	fflush(stdout);

	cfd = open(argv[2], O_RDWR);
	cmd = cfd < 0 ? NULL : fdopen(cfd, "r");
	if (!cmd) {
		printf("{\"error\": \"open %s: %s\"}\n", argv[2], strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), cmd)) {
		if (!strncmp(line, "paste", 5))
			paste_all();
		else if (!strncmp(line, "quit", 4))
			break;
	}
	for (int w = 0; w < nwin; w++)
		close(fds[w]);
	printf("{\"closed\": %d}\n", nwin);
	fflush(stdout);
	return 0;
}
