// SPDX-License-Identifier: GPL-2.0-or-later
/* faultlab-arches: ppc64le */
/*
 * faultlab-nx-stress: NX-GZIP under load, from user space, on windows of
 * /dev/crypto/nx-gzip (COPY/PASTE, CRB/CSB/CPB of the selftests' nxu.h,
 * hardware-contract.md A.5). One JSON object on stdout per mode:
 *
 *   faults DIR NPROC NREQ   NPROC processes at once, each NREQ COMPRESS_FHT
 *                           requests whose source (a fresh MAP_PRIVATE
 *                           mapping of a file, not yet mapped in) and target
 *                           (fresh anonymous memory) are not present. On cc
 *                           250 the process touches the page at the CSB's
 *                           address (source, target, or its CSB/CPB page) and
 *                           resubmits. Counts faults; checks each
 *                           CPB CRC against the source; writes its source and
 *                           last output (raw DEFLATE) to DIR for the host.
 *   windows NMAX            opens up to NMAX windows (one fd each), pastes a
 *                           CRB whose target is not present on each without
 *                           waiting, then waits for every CSB; then opens one
 *                           more, pastes a faulting CRB and closes it at once
 *                           (a request in flight at close), timing close().
 *   stuck KIND WAIT         one window; KIND "complete": a CRB that completes,
 *                           KIND "fault": one whose target is not present.
 *                           Waits WAIT s for the CSB, prints the first line
 *                           {"csb": ...}, then closes the window and prints
 *                           {"close_seconds": ...} (used while the model
 *                           withholds the send credit).
 *   throughput DIR MB       compresses one 1 MiB chunk of generated text MB
 *                           times (COMPRESS_FHT, pages touched first); MB/s;
 *                           writes the chunk and the last output to DIR.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <asm/vas-api.h>

#include "nx-user.h"

#define REQ_LEN         65536
#define TP_CHUNK        (1 << 20)

struct win {
	int fd;
	void *map;
	void *paste;
};

static void die(const char *what)
{
	printf("{\"error\": \"%s: %s\"}\n", what, strerror(errno));
	exit(1);
}

static int win_open(struct win *w)
{
	struct vas_tx_win_open_attr attr = { .version = 1, .vas_id = 0 };

	w->fd = open("/dev/crypto/nx-gzip", O_RDWR);
	if (w->fd < 0)
		return -errno;
	if (ioctl(w->fd, VAS_TX_WIN_OPEN, &attr) < 0) {
		int err = -errno;

		close(w->fd);
		return err;
	}
	w->map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0);
	if (w->map == MAP_FAILED) {
		int err = -errno;

		close(w->fd);
		return err;
	}
	w->paste = (uint8_t *)w->map + PASTE_OFFSET;
	return 0;
}

static void win_close(struct win *w)
{
	munmap(w->map, 4096);
	close(w->fd);
}

static void build_crb(uint8_t *blk, const void *src, uint32_t slen, void *tgt,
		      uint32_t tlen)
{
	memset(blk, 0, 4096);
	put_be32(blk + 0x00, FC_COMPRESS_FHT);
	put_be64(blk + 0x08, (uint64_t)(uintptr_t)(blk + CSB_OFF));
	put_be32(blk + 0x14, slen);
	put_be64(blk + 0x18, (uint64_t)(uintptr_t)src);
	put_be32(blk + 0x24, tlen);
	put_be64(blk + 0x28, (uint64_t)(uintptr_t)tgt);
}

/* Paste until accepted; returns 0, or -1 when never accepted. */
static int paste_crb(uint8_t *blk, void *paste)
{
	memset(blk + CSB_OFF, 0, 16);
	for (int i = 0; i < 100000; i++) {
		unsigned int cr0 = copy_paste(blk, paste);

		if (cr0 == 2 || cr0 == 3)
			return 0;
		usleep(10);
	}
	return -1;
}

/* Wait for CSB.V; returns 1 when valid. */
static int wait_csb(const volatile uint8_t *csb, double secs)
{
	double t0 = now();

	while (!(csb[0] & 0x80)) {
		if (now() - t0 > secs)
			return 0;
		usleep(50);
	}
	__sync_synchronize();
	return 1;
}

static void fill_text(uint8_t *p, size_t n, unsigned int seed)
{
	static const char * const words[] = { "faultlab ", "nx-gzip ", "powernv ", "vas ",
				       "fault ", "window ", "credit ", "paste\n" };
	size_t i = 0;

	while (i < n) {
		const char *w = words[(seed = seed * 1103515245 + 12345) >> 16 & 7];

		while (*w && i < n)
			p[i++] = *w++;
	}
}

static void *anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	if (fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

/* One process of "faults": prints its JSON object to fd 1 (its own file). */
static int faults_child(const char *dir, int idx, int nreq)
{
	char path[256];
	uint8_t *blk, *data, *tgt = NULL;
	const uint8_t *src = NULL;
	int fd, faults_src = 0, faults_tgt = 0, faults_blk = 0, faults_other = 0, bad_crc = 0;
	int bad_cc = 0, ok = 0, lost = 0;
	uint32_t tpbc = 0;
	struct win w;
	int err;

	err = win_open(&w);
	if (err) {
		printf("{\"index\": %d, \"error\": \"open window: %s\"}", idx, strerror(-err));
		return 1;
	}
	if (posix_memalign((void **)&blk, 65536, 65536))
		die("posix_memalign");
	memset(blk, 0, 65536);
	data = malloc(REQ_LEN);
	fill_text(data, REQ_LEN, idx + 1);
	snprintf(path, sizeof(path), "%s/src.%d", dir, idx);
	if (write_file(path, data, REQ_LEN))
		die("write source");
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open source");

	for (int r = 0; r < nreq; r++) {
		int tries;

		/* fresh mappings: no PTE for either buffer yet */
		src = mmap(NULL, REQ_LEN, PROT_READ, MAP_PRIVATE, fd, 0);
		if (src == MAP_FAILED)
			die("mmap source");
		tgt = anon(2 * REQ_LEN);
		for (tries = 0; tries < 64; tries++) {
			volatile uint8_t *csb = blk + CSB_OFF;
			uint64_t addr;

			build_crb(blk, src, REQ_LEN, tgt, 2 * REQ_LEN);
			if (paste_crb(blk, w.paste) || !wait_csb(csb, 20.0)) {
				lost++;
				break;
			}
			if (csb[2] != CC_FAULT)
				break;
			addr = get_be64(csb + 8);
			if (addr >= (uintptr_t)src && addr < (uintptr_t)src + REQ_LEN) {
				faults_src++;
				(void)*(volatile const uint8_t *)(uintptr_t)addr;
			} else if (addr >= (uintptr_t)tgt && addr < (uintptr_t)tgt + 2 * REQ_LEN) {
				faults_tgt++;
				*(volatile uint8_t *)(uintptr_t)addr = 0;
			} else if (addr >= (uintptr_t)blk && addr < (uintptr_t)blk + 65536) {
				/* CSB/CPB (present here, so only an injected fault) */
				faults_blk++;
				*(volatile uint8_t *)(uintptr_t)addr = blk[addr - (uintptr_t)blk];
			} else {
				faults_other++;
				break;
			}
		}
		if (blk[CSB_OFF] & 0x80) {
			uint8_t cc = blk[CSB_OFF + 2];
			uint32_t crc;

			memcpy(&crc, blk + CPB_OUT_CRC, sizeof(crc));
			if (cc != 0 && cc != 64) {
				bad_cc++;
			} else {
				ok++;
				if (crc != crc32_ieee(data, REQ_LEN))
					bad_crc++;
				tpbc = get_be32(blk + CSB_OFF + 4);
			}
		}
		if (r == nreq - 1 && tpbc && tpbc <= 2 * REQ_LEN) {
			snprintf(path, sizeof(path), "%s/out.%d", dir, idx);
			if (write_file(path, tgt, tpbc))
				die("write output");
		}
		munmap((void *)src, REQ_LEN);
		munmap(tgt, 2 * REQ_LEN);
	}
	close(fd);
	win_close(&w);
	printf("{\"index\": %d, \"requests\": %d, \"completed\": %d, \"faults_src\": %d, "
	       "\"faults_tgt\": %d, \"faults_blk\": %d, \"faults_other\": %d, \"bad_cc\": %d, \"bad_crc\": %d, "
	       "\"lost\": %d, \"last_tpbc\": %u}",
	       idx, nreq, ok, faults_src, faults_tgt, faults_blk, faults_other, bad_cc, bad_crc, lost, tpbc);
	return 0;
}

static int mode_faults(const char *dir, int nproc, int nreq)
{
	char path[256];
	double t0 = now(), t1;
	pid_t *pids = calloc(nproc, sizeof(*pids));

	for (int i = 0; i < nproc; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			snprintf(path, sizeof(path), "%s/result.%d", dir, i);
			if (!freopen(path, "w", stdout))
				_exit(2);
			int rc = faults_child(dir, i, nreq);

			fflush(stdout);
			_exit(rc);
		}
	}
	for (int i = 0; i < nproc; i++)
		waitpid(pids[i], NULL, 0);
	t1 = now();
	printf("{\"seconds\": %.6f, \"processes\": [", t1 - t0);
	for (int i = 0; i < nproc; i++) {
		char buf[1024];
		FILE *f;
		size_t n = 0;

		snprintf(path, sizeof(path), "%s/result.%d", dir, i);
		f = fopen(path, "r");
		if (f) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[n] = 0;
		printf("%s%s", i ? ", " : "", n ? buf : "{\"error\": \"no result\"}");
	}
	printf("]}\n");
	return 0;
}

static int mode_windows(int nmax)
{
	struct win *w = calloc(nmax + 1, sizeof(*w));
	uint8_t **blk = calloc(nmax + 1, sizeof(*blk));
	uint8_t *src = anon(REQ_LEN), *tgt, *blocks, *targets;
	int opened = 0, open_err = 0, pasted = 0, completed = 0, faulted = 0;
	int other = 0, err;
	double t0, t_open, t_fault, t_close, close_s;

	/* CRB/CSB/CPB in 4 KiB slices; one untouched 64 KiB target page each */
	blocks = anon((size_t)(nmax + 1) * 4096);
	targets = anon((size_t)(nmax + 1) * 65536);
	fill_text(src, REQ_LEN, 7);
	t0 = now();
	for (opened = 0; opened < nmax; opened++) {
		err = win_open(&w[opened]);
		if (err) {
			open_err = -err;
			break;
		}
	}
	t_open = now() - t0;
	/* a faulting CRB in flight on every window at once */
	t0 = now();
	for (int i = 0; i < opened; i++) {
		blk[i] = blocks + (size_t)i * 4096;
		build_crb(blk[i], src, REQ_LEN, targets + (size_t)i * 65536, 65536);
		if (!paste_crb(blk[i], w[i].paste))
			pasted++;
	}
	for (int i = 0; i < opened; i++) {
		volatile uint8_t *csb = blk[i] + CSB_OFF;

		if (!wait_csb(csb, 30.0))
			continue;
		if (csb[2] == CC_FAULT)
			faulted++;
		else if (csb[2] == 0 || csb[2] == 64)
			completed++;
		else
			other++;
	}
	t_fault = now() - t0;
	t0 = now();
	for (int i = 0; i < opened; i++)
		win_close(&w[i]);
	t_close = now() - t0;

	/* close with a request in flight: paste, then close at once */
	err = win_open(&w[nmax]);
	if (err) {
		printf("{\"error\": \"reopen: %s\"}\n", strerror(-err));
		return 1;
	}
	tgt = anon(2 * REQ_LEN);
	build_crb(blocks, src, REQ_LEN, tgt, 2 * REQ_LEN);
	err = paste_crb(blocks, w[nmax].paste);
	t0 = now();
	win_close(&w[nmax]);
	close_s = now() - t0;
	printf("{\"requested\": %d, \"opened\": %d, \"open_errno\": %d, \"open_error\": \"%s\", "
	       "\"pasted\": %d, \"faulted\": %d, \"completed\": %d, \"other\": %d, "
	       "\"inflight_pasted\": %d, \"inflight_close_seconds\": %.6f, "
	       "\"open_seconds\": %.6f, \"fault_seconds\": %.6f, \"close_seconds\": %.6f}\n",
	       nmax, opened, open_err, open_err ? strerror(open_err) : "", pasted, faulted,
	       completed, other, err == 0, close_s, t_open, t_fault, t_close);
	return 0;
}

static int mode_stuck(const char *kind, double wait)
{
	uint8_t *blk = anon(65536), *src = anon(REQ_LEN), *tgt = anon(2 * REQ_LEN);
	volatile uint8_t *csb = blk + CSB_OFF;
	struct win w;
	int err, valid;
	double t0, close_s;

	fill_text(src, REQ_LEN, 3);
	if (strcmp(kind, "fault"))
		memset(tgt, 0, 2 * REQ_LEN);
	err = win_open(&w);
	if (err) {
		printf("{\"error\": \"open window: %s\"}\n", strerror(-err));
		return 1;
	}
	build_crb(blk, src, REQ_LEN, tgt, 2 * REQ_LEN);
	err = paste_crb(blk, w.paste);
	valid = err ? 0 : wait_csb(csb, wait);
	printf("{\"pid\": %d, \"pasted\": %d, \"csb_valid\": %d, \"cc\": %u, \"addr\": %llu, "
	       "\"target\": %llu}\n", getpid(), err == 0, valid, csb[2],
	       (unsigned long long)get_be64(csb + 8), (unsigned long long)(uintptr_t)tgt);
	fflush(stdout);
	t0 = now();
	win_close(&w);
	close_s = now() - t0;
	printf("{\"close_seconds\": %.6f}\n", close_s);
	return 0;
}

static int mode_throughput(const char *dir, int mb)
{
	size_t len = (size_t)mb << 20;
	uint8_t *in = anon(TP_CHUNK), *out = anon(2 * TP_CHUNK), *blk = anon(65536);
	volatile uint8_t *csb = blk + CSB_OFF;
	char path[256];
	double t0, secs;
	uint64_t out_bytes = 0;
	int bad = 0;
	uint32_t tpbc = 0;
	struct win w;
	int err;

	fill_text(in, TP_CHUNK, 11);
	memset(out, 0, 2 * TP_CHUNK);
	err = win_open(&w);
	if (err) {
		printf("{\"error\": \"open window: %s\"}\n", strerror(-err));
		return 1;
	}
	t0 = now();
	for (size_t off = 0; off < len; off += TP_CHUNK) {
		build_crb(blk, in, TP_CHUNK, out, 2 * TP_CHUNK);
		if (paste_crb(blk, w.paste) || !wait_csb(csb, 60.0) ||
		    (csb[2] != 0 && csb[2] != 64)) {
			bad++;
			continue;
		}
		tpbc = get_be32(csb + 4);
		out_bytes += tpbc;
	}
	secs = now() - t0;
	win_close(&w);
	snprintf(path, sizeof(path), "%s/tp.in", dir);
	if (write_file(path, in, TP_CHUNK))
		die("write input");
	snprintf(path, sizeof(path), "%s/tp.out", dir);
	if (write_file(path, out, tpbc <= 2 * TP_CHUNK ? tpbc : 0))
		die("write output");
	printf("{\"bytes\": %zu, \"requests\": %d, \"bad\": %d, \"seconds\": %.6f, "
	       "\"out_bytes\": %llu, \"mb_per_s\": %.3f}\n", len, mb, bad, secs,
	       (unsigned long long)out_bytes, len / secs / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "faults"))
		return mode_faults(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "windows"))
		return mode_windows(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "stuck"))
		return mode_stuck(argv[2], atof(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "throughput"))
		return mode_throughput(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: %s faults DIR NPROC NREQ | windows NMAX | "
		"stuck complete|fault WAIT | throughput DIR MB\n", argv[0]);
	return 2;
}
