// SPDX-License-Identifier: GPL-2.0-or-later
/* faultlab-arches: x86_64 */
/*
 * faultlab-dsa: drive an Intel DSA 2.0 user work queue the way an
 * application does (open /dev/dsa/wqM.N, mmap its portal, submit 64-byte
 * descriptors with MOVDIR64B (dedicated WQ) or ENQCMD (shared WQ, retried
 * while ZF is set), poll the completion record) and report one case as one
 * JSON object (one line on stdout).
 *
 * usage: faultlab-dsa [-d DEV] [-t TIMEOUT_MS] [-b] [-H MS] CASE [ARGS]
 *   -d DEV         the WQ's character device (default /dev/dsa/wq0.0)
 *   -t TIMEOUT_MS  how long to poll one completion record (default 10000)
 *   -b             set the descriptor's block-on-fault flag (BOF, 0x2)
 *   -H MS          after the case, print its object and keep the WQ file
 *                  open (and the process alive) for MS milliseconds
 * cases:
 *   memmove N      MEMMOVE of N bytes between present pages: CR and data.
 *   cr-fault       MEMMOVE of one page whose CR lies in a page dropped with
 *                  MADV_DONTNEED before submission: the device cannot write
 *                  the CR, logs it in the event log, the driver writes it.
 *   cr-unwritable  the same with the CR in a PROT_READ page: the driver's
 *                  copy fails; the CR is never written.
 *   drain-cr-fault DRAIN with CRAV and RCR whose CR page was dropped with
 *                  MADV_DONTNEED before submission: with prs_disable=1 the
 *                  device logs it as 0x26 DRAIN_EVL, the driver writes it.
 *   batch WHICH    BATCH of 4 MEMMOVEs (one page each) with every CR
 *                  requested; WHICH: none (no CR page dropped), member
 *                  (member 1's CR page dropped), batch (the batch
 *                  descriptor's CR page dropped), both, member-ro (member
 *                  1's CR in a PROT_READ page: the driver cannot write it
 *                  and must turn the batch's status into BATCH_FAIL).
 *   partial WHERE [PAGES [INDEX]]
 *                  MEMMOVE of PAGES pages (default 4) with page INDEX
 *                  (default 2) of the source (WHERE=src) or destination
 *                  (WHERE=dst) dropped: without block-on-fault the device
 *                  stops there (status 0x03, |0x80 on a write); the program
 *                  writes the page (the source page with its pattern again)
 *                  and submits the rest, until the copy is complete.
 *   prs [PAGES]    MEMMOVE of PAGES pages (default 8) into a destination
 *                  dropped with MADV_DONTNEED (use -b on a WQ with
 *                  block_on_fault and PRS): one submission must complete it.
 *   flood N        N MEMMOVEs of 64 bytes, each CR in its own dropped page,
 *                  submitted back to back (dedicated: at most the WQ size in
 *                  flight): N CR faults through the event log.
 *
 * Output fields (integers unless noted):
 *   case (str), device (str), wq (str), mode (str), wq_size, pid,
 *   insn (str: movdir64b|enqcmd), file (str: fileY, "" if not found),
 *   file_pid (the pid attribute of this open file, -1 if unreadable),
 *   counters {before, after, delta} each {cr_faults, cr_fault_failures}
 *   (this open file's sysfs counters, -1 when unreadable),
 *   enqcmd_retries (ENQCMD submissions refused with ZF=1 over the case),
 *   signal (a signal taken while submitting: 0 none);
 *   a CR is {status, result, fault_info, bytes_completed, fault_addr,
 *   timed_out (0/1), wait_us}.
 *   memmove:       len, cr, dst_mismatches, counters
 *   cr-fault:      len, cr_addr, cr (as the program read it after the
 *                  status became non-zero), dst_mismatches, src_mismatches
 *   drain-cr-fault: cr_addr, cr, counters (read 200 ms after the CR came, so
 *                  that a late counter update shows)
 *   cr-unwritable: len, cr_addr, cr, cr_page_zero (0/1: the read-only page
 *                  still all zeros), dst_mismatches, failures_wait_us
 *   batch:         which (str), count, batch_cr, members [CR...],
 *                  dropped (list of str), dst_mismatches
 *   partial:       where (str), pages, index, len, expected_fault_addr,
 *                  submissions [{offset, len, cr}], completed (bytes),
 *                  dst_mismatches
 *   prs:           pages, len, cr, submissions, dst_mismatches
 *   flood:         n, completed (status 1), timed_out, other_status
 *                  (first unexpected status, 0 none), dst_mismatches,
 *                  wall_us, faults_per_s
 * On a setup error the object has "error" (str) and the exit status is 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "faultlab-util.h"
#include "x86-enqcmd.h"

#define PAGE 4096UL
#define NPAGES_MAX 256
#define BATCH_COUNT 4
#define FLOOD_MAX 4096
#define ENQCMD_TRIES 100000

/* include/uapi/linux/idxd.h */
#define OP_NOOP 0x00
#define OP_BATCH 0x01
#define OP_MEMMOVE 0x03
#define OP_DRAIN 0x02
#define FLAG_BOF 0x0002
#define FLAG_CRAV 0x0004
#define FLAG_RCR 0x0008
#define FLAG_CC 0x0100

struct dsa_desc {
	uint32_t pasid;
	uint32_t flags_opcode;	/* flags 0:23, opcode 24:31 */
	uint64_t completion_addr;
	uint64_t src;		/* or desc_list */
	uint64_t dst;
	uint32_t xfer_size;	/* or desc_count */
	uint16_t int_handle;
	uint16_t rsvd;
	uint8_t op_specific[24];
} __attribute__((aligned(64)));

struct dsa_cr {
	volatile uint8_t status;
	uint8_t result;
	uint8_t fault_info;
	uint8_t rsvd;
	uint32_t bytes_completed;	/* descs_completed for a batch */
	uint64_t fault_addr;
	uint8_t op_specific[16];
} __attribute__((aligned(32)));

_Static_assert(sizeof(struct dsa_desc) == 64, "descriptor is 64 bytes");
_Static_assert(sizeof(struct dsa_cr) == 32, "DSA CR is 32 bytes");

static const char *dev_path = "/dev/dsa/wq0.0";
static unsigned int timeout_ms = 10000;
static uint32_t desc_flags_extra;
static unsigned int hold_ms;
static char wq_name[64];
static bool shared;
static long wq_size = -1;
static void *portal;
static long enqcmd_retries;
static char file_dir[600];
static char file_name[256];

/* -- time, sysfs ------------------------------------------------------------ */

static void pause_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int read_str(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

/*
 * This open file's device: the idxd driver adds one "fileY" device under
 * the WQ's character device (named "dsa/wqM.N", so "dsa!wqM.N" in sysfs) for
 * every open, with the opener's pid in its "pid" attribute.
 */
static void find_file_dir(void)
{
	char dir[256], path[600];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/dsa/devices/%s/dsa!%s", wq_name, wq_name);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "file", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s/pid", dir, de->d_name);
		if (read_ll(path) == getpid()) {
			snprintf(file_dir, sizeof(file_dir), "%s/%s", dir, de->d_name);
			snprintf(file_name, sizeof(file_name), "%s", de->d_name);
			break;
		}
	}
	closedir(d);
}

struct counters {
	long long faults, failures;
};

static struct counters read_counters(void)
{
	struct counters c = { -1, -1 };
	char path[700];

	if (!file_dir[0])
		return c;
	snprintf(path, sizeof(path), "%s/cr_faults", file_dir);
	c.faults = read_ll(path);
	snprintf(path, sizeof(path), "%s/cr_fault_failures", file_dir);
	c.failures = read_ll(path);
	return c;
}

static void j_counters(const char *k, struct counters c)
{
	j_open(k, '{');
	j_int("cr_faults", c.faults);
	j_int("cr_fault_failures", c.failures);
	j_close();
}

static void j_counters_all(struct counters before, struct counters after)
{
	struct counters delta = { after.faults - before.faults,
				  after.failures - before.failures };

	j_open("counters", '{');
	j_counters("before", before);
	j_counters("after", after);
	j_counters("delta", delta);
	j_close();
}

/* -- submission --------------------------------------------------------------- */

static sigjmp_buf sig_env;
static volatile int got_signal;
static volatile sig_atomic_t in_submit;

static void on_signal(int sig)
{
	if (!in_submit) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	got_signal = sig;
	siglongjmp(sig_env, 1);
}

static void submit(const struct dsa_desc *d)
{
	__asm__ volatile("sfence" ::: "memory");
	if (sigsetjmp(sig_env, 1)) {
		in_submit = 0;
		fail("signal %d while submitting with %s", got_signal,
		     shared ? "ENQCMD" : "MOVDIR64B");
	}
	in_submit = 1;
	if (!shared) {
		movdir64b(portal, d);
		in_submit = 0;
		return;
	}
	for (long i = 0; i < ENQCMD_TRIES; i++) {
		if (!enqcmd(portal, d)) {
			in_submit = 0;
			return;
		}
		enqcmd_retries++;
		__asm__ volatile("pause");
	}
	in_submit = 0;
	fail("ENQCMD refused (ZF=1) %d times in a row", ENQCMD_TRIES);
}

static void fill_desc(struct dsa_desc *d, uint8_t op, uint32_t flags, void *cr,
		      uint64_t src, uint64_t dst, uint32_t size)
{
	memset(d, 0, sizeof(*d));
	d->flags_opcode = (uint32_t)op << 24 | (flags & 0xffffff);
	d->completion_addr = (uint64_t)(uintptr_t)cr;
	d->src = src;
	d->dst = dst;
	d->xfer_size = size;
}

static uint32_t memmove_flags(void)
{
	return FLAG_CRAV | FLAG_RCR | FLAG_CC | desc_flags_extra;
}

struct cr_wait {
	bool timed_out;
	uint64_t wait_us;
};

static struct cr_wait wait_cr(struct dsa_cr *cr, unsigned int ms)
{
	uint64_t start = now_us(), limit = start + (uint64_t)ms * 1000;
	struct cr_wait w = { false, 0 };

	while (!cr->status) {
		if (now_us() >= limit) {
			w.timed_out = true;
			break;
		}
		pause_us(20);
	}
	__asm__ volatile("" ::: "memory");
	w.wait_us = now_us() - start;
	return w;
}

static void j_cr(const char *k, const struct dsa_cr *cr, struct cr_wait w)
{
	j_open(k, '{');
	j_int("status", cr->status);
	j_int("result", cr->result);
	j_int("fault_info", cr->fault_info);
	j_u64("bytes_completed", cr->bytes_completed);
	j_u64("fault_addr", cr->fault_addr);
	j_int("timed_out", w.timed_out);
	j_u64("wait_us", w.wait_us);
	j_close();
}

/* -- memory ------------------------------------------------------------------- */

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 12) + 0x11);
}

static void fill(uint8_t *p, size_t len, size_t base)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(base + i);
}

static long mismatches(const uint8_t *p, size_t len, size_t base)
{
	long n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] != pattern(base + i);
	return n;
}

static uint64_t addr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* -- cases -------------------------------------------------------------------- */

static void case_memmove(size_t len)
{
	uint8_t *src = map_anon(NPAGES_MAX * PAGE, PROT_READ | PROT_WRITE);
	uint8_t *dst = map_anon(NPAGES_MAX * PAGE, PROT_READ | PROT_WRITE);
	struct dsa_cr *cr = map_anon(PAGE, PROT_READ | PROT_WRITE);
	struct counters before;
	struct dsa_desc d;
	struct cr_wait w;

	if (!len || len > NPAGES_MAX * PAGE)
		fail("memmove: need 0 < N <= %lu", NPAGES_MAX * PAGE);
	fill(src, len, 0);
	memset(dst, 0, len);
	memset(cr, 0, PAGE);	/* present: no CR fault here */
	before = read_counters();
	fill_desc(&d, OP_MEMMOVE, memmove_flags(), cr, addr(src), addr(dst), len);
	submit(&d);
	w = wait_cr(cr, timeout_ms);
	j_int("len", len);
	j_cr("cr", cr, w);
	j_int("dst_mismatches", mismatches(dst, len, 0));
	j_counters_all(before, read_counters());
}

static void case_cr_fault(bool unwritable)
{
	uint8_t *src = map_anon(PAGE, PROT_READ | PROT_WRITE);
	uint8_t *dst = map_anon(PAGE, PROT_READ | PROT_WRITE);
	/* CR 0x40 into its page: the device must report the CR's own address. */
	uint8_t *crpage = map_anon(PAGE, unwritable ? PROT_READ : PROT_READ | PROT_WRITE);
	struct dsa_cr *cr = (struct dsa_cr *)(crpage + 0x40);
	struct counters before, after;
	struct dsa_desc d;
	struct cr_wait w;
	long zero = 1;

	fill(src, PAGE, 0);
	memset(dst, 0, PAGE);
	if (!unwritable) {
		memset(crpage, 0, PAGE);
		drop_pages(crpage, PAGE);
	}
	before = read_counters();
	fill_desc(&d, OP_MEMMOVE, memmove_flags(), cr, addr(src), addr(dst), PAGE);
	submit(&d);
	w = wait_cr(cr, unwritable ? 2000 : timeout_ms);
	j_int("len", PAGE);
	j_u64("cr_addr", addr(cr));
	j_cr("cr", cr, w);
	j_int("dst_mismatches", mismatches(dst, PAGE, 0));
	j_int("src_mismatches", mismatches(src, PAGE, 0));
	if (unwritable) {
		uint64_t start = now_us();

		/* The failure is counted after the driver's copy failed. */
		after = read_counters();
		while (after.failures == before.failures &&
		       now_us() - start < (uint64_t)timeout_ms * 1000) {
			pause_us(1000);
			after = read_counters();
		}
		j_u64("failures_wait_us", now_us() - start);
		/* Let a late (wrong) second event show in the counters. */
		pause_us(200000);
		for (size_t i = 0; i < PAGE; i++)
			if (crpage[i])
				zero = 0;
		j_int("cr_page_zero", zero);
	}
	after = read_counters();
	j_counters_all(before, after);
}

static void case_drain_cr_fault(void)
{
	/* CR 0x60 into its page: the entry must carry the CR's own address. */
	uint8_t *crpage = map_anon(PAGE, PROT_READ | PROT_WRITE);
	struct dsa_cr *cr = (struct dsa_cr *)(crpage + 0x60);
	struct counters before;
	struct dsa_desc d;
	struct cr_wait w;

	memset(crpage, 0, PAGE);
	drop_pages(crpage, PAGE);
	before = read_counters();
	fill_desc(&d, OP_DRAIN, FLAG_CRAV | FLAG_RCR | desc_flags_extra, cr,
		  0, 0, 0);
	submit(&d);
	w = wait_cr(cr, timeout_ms);
	j_u64("cr_addr", addr(cr));
	j_cr("cr", cr, w);
	pause_us(200000);
	j_counters_all(before, read_counters());
}

static void case_batch(const char *which)
{
	bool drop_member = !strcmp(which, "member") || !strcmp(which, "both");
	bool drop_batch = !strcmp(which, "batch") || !strcmp(which, "both");
	bool ro_member = !strcmp(which, "member-ro");
	uint8_t *src = map_anon(BATCH_COUNT * PAGE, PROT_READ | PROT_WRITE);
	uint8_t *dst = map_anon(BATCH_COUNT * PAGE, PROT_READ | PROT_WRITE);
	struct dsa_desc *list = map_anon(PAGE, PROT_READ | PROT_WRITE);
	uint8_t *crs = map_anon(PAGE, PROT_READ | PROT_WRITE);
	uint8_t *member_page = map_anon(PAGE, ro_member ? PROT_READ : PROT_READ | PROT_WRITE);
	uint8_t *batch_page = map_anon(PAGE, PROT_READ | PROT_WRITE);
	struct dsa_cr *member_cr[BATCH_COUNT];
	struct dsa_cr *bcr = (struct dsa_cr *)(batch_page + 0x20);
	struct counters before, after;
	struct cr_wait w, mw[BATCH_COUNT];
	struct dsa_desc d;

	if (!drop_member && !drop_batch && !ro_member && strcmp(which, "none"))
		fail("batch: WHICH is none, member, batch, both or member-ro (got %s)", which);
	fill(src, BATCH_COUNT * PAGE, 0);
	memset(dst, 0, BATCH_COUNT * PAGE);
	memset(crs, 0, PAGE);
	if (!ro_member)
		memset(member_page, 0, PAGE);
	memset(batch_page, 0, PAGE);
	for (int i = 0; i < BATCH_COUNT; i++) {
		member_cr[i] = i == 1 ? (struct dsa_cr *)(member_page + 0x60) :
					(struct dsa_cr *)(crs + i * 32);
		fill_desc(&list[i], OP_MEMMOVE, memmove_flags(), member_cr[i],
			  addr(src + i * PAGE), addr(dst + i * PAGE), PAGE);
	}
	if (drop_member)
		drop_pages(member_page, PAGE);
	if (drop_batch)
		drop_pages(batch_page, PAGE);
	before = read_counters();
	fill_desc(&d, OP_BATCH, FLAG_CRAV | FLAG_RCR | desc_flags_extra, bcr,
		  addr(list), 0, BATCH_COUNT);
	submit(&d);
	w = wait_cr(bcr, timeout_ms);
	for (int i = 0; i < BATCH_COUNT; i++)
		mw[i] = wait_cr(member_cr[i], w.timed_out || (ro_member && i == 1) ? 1 : 1000);
	if (ro_member) {
		uint64_t t0 = now_us();

		/* The failed copy is counted after the batch CR is written. */
		after = read_counters();
		while (after.failures == before.failures && now_us() - t0 < 2000000) {
			pause_us(1000);
			after = read_counters();
		}
	}
	after = read_counters();
	j_str("which", which);
	j_int("count", BATCH_COUNT);
	j_open("dropped", '[');
	if (drop_member) {
		key(NULL);
		emit("\"member1\"");
	}
	if (drop_batch) {
		key(NULL);
		emit("\"batch\"");
	}
	if (ro_member) {
		key(NULL);
		emit("\"member1-readonly\"");
	}
	j_close();
	j_u64("batch_cr_addr", addr(bcr));
	j_cr("batch_cr", bcr, w);
	j_open("members", '[');
	for (int i = 0; i < BATCH_COUNT; i++)
		j_cr(NULL, member_cr[i], mw[i]);
	j_close();
	j_int("dst_mismatches", mismatches(dst, BATCH_COUNT * PAGE, 0));
	j_counters_all(before, after);
}

static void case_partial(const char *where, size_t pages, size_t index)
{
	bool on_src = !strcmp(where, "src");
	uint8_t *src, *dst, *hole;
	struct dsa_cr *cr = map_anon(PAGE, PROT_READ | PROT_WRITE);
	size_t len = pages * PAGE, done = 0;
	struct counters before, after;
	int n = 0;

	if (!on_src && strcmp(where, "dst"))
		fail("partial: WHERE is src or dst (got %s)", where);
	if (!pages || pages > NPAGES_MAX || index >= pages)
		fail("partial: need 0 < PAGES <= %d and INDEX < PAGES", NPAGES_MAX);
	src = map_anon(pages * PAGE, PROT_READ | PROT_WRITE);
	dst = map_anon(pages * PAGE, PROT_READ | PROT_WRITE);
	fill(src, len, 0);
	memset(dst, 0, len);
	hole = (on_src ? src : dst) + index * PAGE;
	drop_pages(hole, PAGE);
	before = read_counters();
	j_str("where", where);
	j_int("pages", pages);
	j_int("index", index);
	j_int("len", len);
	j_u64("expected_fault_addr", addr(hole));
	j_open("submissions", '[');
	while (done < len && n < 2 * (int)pages + 2) {
		struct dsa_desc d;
		struct cr_wait w;

		memset(cr, 0, sizeof(*cr));
		fill_desc(&d, OP_MEMMOVE, memmove_flags(), cr, addr(src + done),
			  addr(dst + done), len - done);
		submit(&d);
		w = wait_cr(cr, timeout_ms);
		j_open(NULL, '{');
		j_int("offset", done);
		j_int("len", len - done);
		j_cr("cr", cr, w);
		j_close();
		n++;
		if (w.timed_out)
			break;
		if (cr->status == 1) {
			done = len;
			break;
		}
		if ((cr->status & 0x7f) != 0x03)
			break;
		/* Partial completion: make the page present, submit the rest. */
		if (cr->bytes_completed > len - done)
			break;
		done += cr->bytes_completed;
		{
			uintptr_t fa = (uintptr_t)cr->fault_addr & ~(PAGE - 1);
			uint8_t *base = (cr->status & 0x80) ? dst : src;

			if (fa < (uintptr_t)base || fa >= (uintptr_t)base + len)
				break;
			if (cr->status & 0x80)
				*(volatile uint8_t *)fa = 0;
			else
				fill((uint8_t *)fa, PAGE, fa - (uintptr_t)src);
		}
	}
	j_close();
	after = read_counters();
	j_int("completed", done);
	j_int("dst_mismatches", mismatches(dst, len, 0));
	j_counters_all(before, after);
}

static void case_prs(size_t pages)
{
	uint8_t *src, *dst;
	struct dsa_cr *cr = map_anon(PAGE, PROT_READ | PROT_WRITE);
	struct counters before, after;
	struct dsa_desc d;
	struct cr_wait w;
	size_t len = pages * PAGE;

	if (!pages || pages > NPAGES_MAX)
		fail("prs: need 0 < PAGES <= %d", NPAGES_MAX);
	src = map_anon(pages * PAGE, PROT_READ | PROT_WRITE);
	dst = map_anon(pages * PAGE, PROT_READ | PROT_WRITE);
	fill(src, len, 0);
	memset(dst, 0, len);
	drop_pages(dst, len);
	memset(cr, 0, sizeof(*cr));
	before = read_counters();
	fill_desc(&d, OP_MEMMOVE, memmove_flags(), cr, addr(src), addr(dst), len);
	submit(&d);
	w = wait_cr(cr, timeout_ms);
	after = read_counters();
	j_int("pages", pages);
	j_int("len", len);
	j_cr("cr", cr, w);
	j_int("submissions", 1);
	j_int("dst_mismatches", mismatches(dst, len, 0));
	j_counters_all(before, after);
}

/* Flood CR i: in page i, at a different 32-byte slot of each page. */
static struct dsa_cr *flood_cr(uint8_t *crpages, long i)
{
	return (struct dsa_cr *)(crpages + i * PAGE + (i % 128) * 32);
}

static void case_flood(long n)
{
	uint8_t *src, *dst, *crpages;
	struct counters before, after;
	long completed = 0, timed_out = 0, other = 0, in_flight;
	long window = shared || wq_size <= 0 ? n : wq_size;
	uint64_t start, wall;
	long next = 0, waited = 0;

	if (n <= 0 || n > FLOOD_MAX)
		fail("flood: need 0 < N <= %d", FLOOD_MAX);
	src = map_anon(n * 64, PROT_READ | PROT_WRITE);
	dst = map_anon(n * 64, PROT_READ | PROT_WRITE);
	crpages = map_anon(n * PAGE, PROT_READ | PROT_WRITE);
	fill(src, n * 64, 0);
	memset(dst, 0, n * 64);
	memset(crpages, 0, n * PAGE);
	drop_pages(crpages, n * PAGE);
	before = read_counters();
	start = now_us();
	while (waited < n) {
		in_flight = next - waited;
		while (next < n && in_flight < window) {
			struct dsa_desc d;

			fill_desc(&d, OP_MEMMOVE, memmove_flags(), flood_cr(crpages, next),
				  addr(src + next * 64), addr(dst + next * 64), 64);
			submit(&d);
			next++;
			in_flight++;
		}
		{
			struct dsa_cr *cr = flood_cr(crpages, waited);
			struct cr_wait w = wait_cr(cr, timeout_ms);

			if (w.timed_out)
				timed_out++;
			else if (cr->status == 1)
				completed++;
			else if (!other)
				other = cr->status;
			waited++;
		}
	}
	wall = now_us() - start;
	after = read_counters();
	j_int("n", n);
	j_int("window", window);
	j_int("completed", completed);
	j_int("timed_out", timed_out);
	j_int("other_status", other);
	j_int("dst_mismatches", mismatches(dst, n * 64, 0));
	j_u64("wall_us", wall);
	j_u64("faults_per_s", wall ? (uint64_t)completed * 1000000 / wall : 0);
	j_counters_all(before, after);
}

/* -- main --------------------------------------------------------------------- */

static void setup(void)
{
	char path[512], mode[32];
	const char *base = strrchr(dev_path, '/');
	struct sigaction sa;
	int fd;

	snprintf(wq_name, sizeof(wq_name), "%s", base ? base + 1 : dev_path);
	snprintf(path, sizeof(path), "/sys/bus/dsa/devices/%s/mode", wq_name);
	if (read_str(path, mode, sizeof(mode)))
		fail("cannot read %s: %s", path, strerror(errno));
	shared = !strcmp(mode, "shared");
	snprintf(path, sizeof(path), "/sys/bus/dsa/devices/%s/size", wq_name);
	wq_size = read_ll(path);
	fd = open(dev_path, O_RDWR);
	if (fd < 0)
		fail("open %s: %s", dev_path, strerror(errno));
	portal = mmap(NULL, PAGE, PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (portal == MAP_FAILED)
		fail("mmap of the %s portal: %s", dev_path, strerror(errno));
	find_file_dir();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: faultlab-dsa [-d DEV] [-t TIMEOUT_MS] [-b] [-H MS] CASE [ARGS]\n"
		"cases: memmove N | cr-fault | cr-unwritable | drain-cr-fault\n"
		"       | batch none|member|batch|both|member-ro\n"
		"       | partial src|dst [PAGES [INDEX]] | prs [PAGES] | flood N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *c;
	char path[700];
	int opt;

	while ((opt = getopt(argc, argv, "d:t:bH:")) != -1) {
		switch (opt) {
		case 'd':
			dev_path = optarg;
			break;
		case 't':
			timeout_ms = strtoul(optarg, NULL, 0);
			break;
		case 'b':
			desc_flags_extra |= FLAG_BOF;
			break;
		case 'H':
			hold_ms = strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	c = argv[optind];
	j_open(NULL, '{');
	j_str("case", c);
	j_str("device", dev_path);
	j_int("timeout_ms", timeout_ms);
	j_int("bof_flag", !!desc_flags_extra);
	setup();
	j_str("wq", wq_name);
	j_str("mode", shared ? "shared" : "dedicated");
	j_int("wq_size", wq_size);
	j_int("pid", getpid());
	j_str("insn", shared ? "enqcmd" : "movdir64b");
	j_str("file", file_name);
	snprintf(path, sizeof(path), "%s/pid", file_dir);
	j_int("file_pid", file_dir[0] ? read_ll(path) : -1);

	if (!strcmp(c, "memmove") && optind + 1 < argc)
		case_memmove(strtoul(argv[optind + 1], NULL, 0));
	else if (!strcmp(c, "cr-fault"))
		case_cr_fault(false);
	else if (!strcmp(c, "cr-unwritable"))
		case_cr_fault(true);
	else if (!strcmp(c, "drain-cr-fault"))
		case_drain_cr_fault();
	else if (!strcmp(c, "batch") && optind + 1 < argc)
		case_batch(argv[optind + 1]);
	else if (!strcmp(c, "partial") && optind + 1 < argc)
		case_partial(argv[optind + 1],
			     optind + 2 < argc ? strtoul(argv[optind + 2], NULL, 0) : 4,
			     optind + 3 < argc ? strtoul(argv[optind + 3], NULL, 0) : 2);
	else if (!strcmp(c, "prs"))
		case_prs(optind + 1 < argc ? strtoul(argv[optind + 1], NULL, 0) : 8);
	else if (!strcmp(c, "flood") && optind + 1 < argc)
		case_flood(strtol(argv[optind + 1], NULL, 0));
	else
		fail("unknown case or missing argument: %s", c);
	j_int("enqcmd_retries", enqcmd_retries);
	j_int("signal", got_signal);
	flush_json();
	if (hold_ms)
		pause_us((long)hold_ms * 1000);
	return 0;
}
