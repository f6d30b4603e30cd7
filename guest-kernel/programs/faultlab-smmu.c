// SPDX-License-Identifier: GPL-2.0
/* faultlab-arches: arm64 x86_64 */
/*
 * faultlab-smmu: drive the faultlab-dma engine through SVA so that its DMA
 * stalls in the SMMU on pages the process has not populated, and report what
 * happened as one JSON object (one line on stdout).
 *
 * usage: faultlab-smmu [-d DEV] [-t TIMEOUT_MS] CASE [ARGS]
 *   -d DEV         device node (default /dev/faultlab-dma)
 *   -t TIMEOUT_MS  timeout of each command (default 60000; `hold`: 500)
 * cases:
 *   untouched N    COPY N pages from a filled source into an anonymous
 *                  destination never touched by the CPU.
 *   dontneed N     two sub-cases, both with source and destination written
 *                  by the CPU first:
 *                    "dst": MADV_DONTNEED on the destination only, then COPY:
 *                           the destination must hold the source pattern;
 *                    "src": MADV_DONTNEED on the source only, then COPY: the
 *                           source reads back as zeros (anonymous memory
 *                           after DONTNEED), so the destination must be all
 *                           zeros.
 *   unmapped       three pages G0 H G1; G0 and G1 filled with 0xa5, H
 *                  unmapped (mmap then munmap); COPY 2 pages into H (the
 *                  second page would land in G1): the command must FAULT at
 *                  H with nothing written (bytes_done, G0 and G1 checked).
 *   readonly       COPY 1 page into a PROT_READ page with known contents:
 *                  must FAULT, the page must be unchanged.
 *   file N         source: a MAP_SHARED, PROT_READ mapping of an N-page file
 *                  on tmpfs (/tmp), written with write() and never touched
 *                  through the mapping; destination written by the CPU
 *                  first, so only source pages fault.
 *   many P N       P processes (fork), each opening the device (its own
 *                  PASID and channel) and copying N pages into fresh memory,
 *                  all released at the same moment.
 *   hold           for a stall that is never resumed: (1) COPY 1 page into
 *                  an untouched page with a short timeout: report what the
 *                  ioctl returned; (2) start another such COPY, then close()
 *                  the device and report how long close() took.
 *   storm MODE N P [HOGS]
 *                  the teardown race: N cycles of open, SUBMIT (no wait) a
 *                  COPY of P pages into an anonymous destination never
 *                  touched, then end the file, with HOGS (default 2) busy
 *                  loops running meanwhile. MODE says how the file ends:
 *                    close:        close() right after SUBMIT;
 *                    stalled-close: close() once the driver has reported a
 *                                  fault of this command to the IOMMU core
 *                                  (the iopf_reported counter moved), so the
 *                                  access is held or being resolved;
 *                    stalled-exit: a child process opens and submits, waits
 *                                  likewise, then exits without close():
 *                                  the mm goes (exit_mm) before the file is
 *                                  released (exit_files).
 *
 * Output fields (integers unless noted; addresses are integers too):
 *   case, page_size, timeout_ms; device (node); except for `many`: pci (PCI
 *   name), pasid, channel, nchan (of the file this process opened); pages
 *   run: one command's outcome:
 *     rc, errno, errno_name (str): what the ioctl returned
 *     state, reason (str: DONE/FAULT/..., NONE/ABORTED/...), state_code,
 *     reason_code, fault_write, flags (list of str: TIMED_OUT, INTERRUPTED,
 *     ABORTED, STUCK, NO_IRQ), bytes_done, fault_addr, stalls (the device's
 *     count for this command), result, elapsed_us (driver: submit to end),
 *     wall_us (the ioctl as the program saw it), len
 *   compare: {bytes, mismatches, first_mismatch (-1: none)}: the bytes the
 *     case checked against what they must hold
 *   counters: {before, after, delta}: the driver's sysfs counters
 *     (files in <pci device>/faultlab/) around the case
 *   untouched:  run, compare, src_compare (the source still intact)
 *   dontneed:   subcases: {dst: {run, compare, counters}, src: {run,
 *               compare, src_zero (the source read back by the CPU:
 *               mismatches against zeros), counters}}
 *   unmapped:   run, hole_addr, hole_still_unmapped (bool), guard (compare of
 *               G0+G1 with 0xa5)
 *   readonly:   run, target_addr, compare (the page against its contents)
 *   file:       run, compare, src_addr, fault_around_bytes (-1: unknown),
 *               fault_windows (aligned fault-around windows the source
 *               spans: the read faults expected, one per window)
 *   many:       processes, pages (per process),
 *               procs: [{index, pid, pasid, channel, open_error (str, "" when
 *               the open worked), rc, errno_name, state (NOT_RUN when the
 *               process did not get to run its command), reason, stalls,
 *               bytes_done, mismatches, elapsed_us}],
 *               total: {stalls, bytes, mismatches, failed}, wall_us,
 *               faults_per_s (total stalls / wall time)
 *   hold:       run (the timed-out command), close_us, second_submit_rc,
 *               second_submit_errno_name
 *   storm:      mode, cycles, pages, hogs, opened, submitted, ended (closed
 *               or exited with status 0), waited_for_fault (cycles whose
 *               fault report was seen before the end), failed (cycles with
 *               any error), errors: [{cycle, step (open, mmap, submit,
 *               close, fork, exit), errno_name or status}] (first 16),
 *               end_us_max, wall_us, counters
 * On a setup error the object has "error" (str) and the exit status is 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultlab_dma/faultlab_dma_uapi.h"
#include "faultlab-util.h"

#define PAGE 4096UL
#define GUARD_BYTE 0xa5
#define MAX_COUNTERS 32
#define MAX_PROCS 64

static const char *dev_path = "/dev/faultlab-dma";
static unsigned int timeout_ms;

/* -- helpers --------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The pattern of @seed: 8-byte words that depend on seed and offset. */
static void pattern(void *buf, size_t len, uint64_t seed)
{
	uint64_t *w = buf;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = mix64(seed * 0x100000001b3ULL + i) | 1;	/* never zero */
}

struct cmp {
	uint64_t bytes;
	uint64_t mismatches;
	long long first;
};

static struct cmp compare(const void *got, const void *want, size_t len)
{
	const unsigned char *g = got, *w = want;
	struct cmp c = { .bytes = len, .first = -1 };
	size_t i;

	for (i = 0; i < len; i++) {
		if (g[i] != w[i]) {
			if (c.first < 0)
				c.first = (long long)i;
			c.mismatches++;
		}
	}
	return c;
}

static struct cmp compare_byte(const void *got, unsigned char want, size_t len)
{
	const unsigned char *g = got;
	struct cmp c = { .bytes = len, .first = -1 };
	size_t i;

	for (i = 0; i < len; i++) {
		if (g[i] != want) {
			if (c.first < 0)
				c.first = (long long)i;
			c.mismatches++;
		}
	}
	return c;
}

static void j_cmp(const char *k, struct cmp c)
{
	j_open(k, '{');
	j_u64("bytes", c.bytes);
	j_u64("mismatches", c.mismatches);
	j_int("first_mismatch", c.first);
	j_close();
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case EBUSY: return "EBUSY";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case ENODEV: return "ENODEV";
	case EPERM: return "EPERM";
	case EFAULT: return "EFAULT";
	case ENOSPC: return "ENOSPC";
	case ENOTTY: return "ENOTTY";
	default: return "other";
	}
}

static const char *state_name(unsigned int s)
{
	static const char *const names[] = {
		"IDLE", "RUNNING", "STALLED", "DONE", "FAULT", "MISMATCH", "BADCMD",
	};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "UNKNOWN";
}

static const char *reason_name(unsigned int r)
{
	static const char *const names[] = {
		"NONE", "NOSTALL", "ABORTED", "TERMINATED", "CANCELLED", "INJECTED",
		"BUS",
	};

	return r < sizeof(names) / sizeof(names[0]) ? names[r] : "UNKNOWN";
}

/* -- the device ------------------------------------------------------------ */

struct dev {
	int fd;
	struct faultlab_dma_info info;
};

static int dev_open(struct dev *d)
{
	d->fd = open(dev_path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	if (ioctl(d->fd, FAULTLAB_DMA_IOC_INFO, &d->info)) {
		int e = errno;

		close(d->fd);
		return -e;
	}
	return 0;
}

static void dev_open_or_fail(struct dev *d)
{
	int err = dev_open(d);

	if (err)
		fail("open %s: %s", dev_path, strerror(-err));
}

static void j_dev(const struct dev *d)
{
	j_str("device", dev_path);
	j_str("pci", d->info.device);
	j_int("pasid", d->info.pasid);
	j_int("channel", d->info.channel);
	j_int("nchan", d->info.nchan);
}

struct run {
	int rc;
	int err;
	uint64_t wall_us;
	struct faultlab_dma_run r;
};

static struct run dev_run(struct dev *d, unsigned int op, const void *src,
			  void *dst, size_t len, unsigned int tmo_ms)
{
	struct run res = { 0 };
	uint64_t t0;

	res.r.cmd.op = op;
	res.r.cmd.timeout_ms = tmo_ms;
	res.r.cmd.src = (uintptr_t)src;
	res.r.cmd.dst = (uintptr_t)dst;
	res.r.cmd.len = len;
	t0 = now_us();
	res.rc = ioctl(d->fd, FAULTLAB_DMA_IOC_RUN, &res.r);
	res.err = res.rc ? errno : 0;
	res.wall_us = now_us() - t0;
	return res;
}

static void j_run(const char *k, const struct run *res)
{
	const struct faultlab_dma_completion *c = &res->r.done;
	static const char *const flag_names[] = {
		"TIMED_OUT", "INTERRUPTED", "ABORTED", "STUCK", "NO_IRQ",
	};
	unsigned int i;

	j_open(k, '{');
	j_int("rc", res->rc);
	j_int("errno", res->err);
	j_str("errno_name", errno_name(res->err));
	j_str("state", state_name(c->state));
	j_int("state_code", c->state);
	j_str("reason", reason_name(c->reason));
	j_int("reason_code", c->reason);
	j_int("fault_write", c->fault_write);
	j_open("flags", '[');
	for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (c->flags & (1u << i))
			j_str(NULL, flag_names[i]);
	}
	j_close();
	j_u64("bytes_done", c->bytes_done);
	j_u64("fault_addr", c->fault_addr);
	j_u64("stalls", c->stalls);
	j_u64("result", c->result);
	j_u64("elapsed_us", c->elapsed_ns / 1000);
	j_u64("wall_us", res->wall_us);
	j_u64("len", res->r.cmd.len);
	j_close();
}

/* -- sysfs counters ------------------------------------------------------- */

struct counters {
	int n;
	char name[MAX_COUNTERS][32];
	long long val[MAX_COUNTERS];
};

static void counters_read(struct counters *c)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], buf[64];
	const char *base = strrchr(dev_path, '/');
	struct dirent *e;
	DIR *dp;

	c->n = 0;
	snprintf(dir, sizeof(dir), "/sys/class/misc/%s/device/faultlab",
		 base ? base + 1 : dev_path);
	dp = opendir(dir);
	if (!dp)
		fail("cannot read the driver's counters in %s: %s", dir, strerror(errno));
	while ((e = readdir(dp)) && c->n < MAX_COUNTERS) {
		char *end;
		long long v;
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(c->name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		errno = 0;
		v = strtoll(buf, &end, 10);
		if (errno || end == buf || (*end && *end != '\n'))
			continue;	/* not a plain decimal counter */
		memcpy(c->name[c->n], e->d_name, strlen(e->d_name) + 1);
		c->val[c->n++] = v;
	}
	closedir(dp);
}

static void j_counters(const struct counters *before, const struct counters *after)
{
	int i, j;

	j_open("counters", '{');
	j_open("before", '{');
	for (i = 0; i < before->n; i++)
		j_int(before->name[i], before->val[i]);
	j_close();
	j_open("after", '{');
	for (i = 0; i < after->n; i++)
		j_int(after->name[i], after->val[i]);
	j_close();
	j_open("delta", '{');
	for (i = 0; i < after->n; i++) {
		for (j = 0; j < before->n; j++) {
			if (!strcmp(after->name[i], before->name[j])) {
				j_int(after->name[i], after->val[i] - before->val[j]);
				break;
			}
		}
	}
	j_close();
	j_close();
}

/* -- cases ----------------------------------------------------------------- */

static unsigned long parse_count(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v == 0 || v > max)
		fail("bad %s '%s' (1..%lu)", what, s, max);
	return v;
}

static void case_untouched(unsigned long n)
{
	size_t len = n * PAGE;
	struct counters before, after;
	struct dev d;
	struct run res;
	unsigned char *src, *dst, *want;

	dev_open_or_fail(&d);
	src = map_anon(len, PROT_READ | PROT_WRITE);
	dst = map_anon(len, PROT_READ | PROT_WRITE);
	want = malloc(len);
	if (!want)
		fail("malloc %zu", len);
	pattern(want, len, 1);
	memcpy(src, want, len);
	counters_read(&before);
	res = dev_run(&d, FAULTLAB_DMA_OP_COPY, src, dst, len, timeout_ms);
	counters_read(&after);
	j_dev(&d);
	j_int("pages", n);
	j_run("run", &res);
	j_cmp("compare", compare(dst, want, len));
	j_cmp("src_compare", compare(src, want, len));
	j_counters(&before, &after);
	close(d.fd);
}

static void dontneed_sub(struct dev *d, unsigned long n, bool on_src)
{
	size_t len = n * PAGE;
	struct counters before, after;
	unsigned char *src, *dst, *want, *zero;
	struct run res;

	src = map_anon(len, PROT_READ | PROT_WRITE);
	dst = map_anon(len, PROT_READ | PROT_WRITE);
	want = malloc(len);
	zero = calloc(1, len);
	if (!want || !zero)
		fail("malloc %zu", len);
	pattern(want, len, 2);
	memcpy(src, want, len);
	pattern(dst, len, 3);
	drop_pages(on_src ? src : dst, len);
	counters_read(&before);
	res = dev_run(d, FAULTLAB_DMA_OP_COPY, src, dst, len, timeout_ms);
	counters_read(&after);
	j_open(on_src ? "src" : "dst", '{');
	j_run("run", &res);
	j_cmp("compare", compare(dst, on_src ? zero : want, len));
	if (on_src)
		j_cmp("src_zero", compare(src, zero, len));
	j_counters(&before, &after);
	j_close();
	munmap(src, len);
	munmap(dst, len);
	free(want);
	free(zero);
}

static void case_dontneed(unsigned long n)
{
	struct dev d;

	dev_open_or_fail(&d);
	j_dev(&d);
	j_int("pages", n);
	j_open("subcases", '{');
	dontneed_sub(&d, n, false);
	dontneed_sub(&d, n, true);
	j_close();
	close(d.fd);
}

static void case_unmapped(void)
{
	struct counters before, after;
	unsigned char *region, *hole, *src;
	unsigned char guard[2 * PAGE];
	struct dev d;
	struct run res;
	bool still_unmapped;

	dev_open_or_fail(&d);
	src = map_anon(2 * PAGE, PROT_READ | PROT_WRITE);
	pattern(src, 2 * PAGE, 4);
	region = map_anon(3 * PAGE, PROT_READ | PROT_WRITE);
	memset(region, GUARD_BYTE, 3 * PAGE);
	hole = region + PAGE;
	counters_read(&before);	/* first: it allocates, the hole must stay one */
	if (munmap(hole, PAGE))
		fail("munmap: %s", strerror(errno));
	res = dev_run(&d, FAULTLAB_DMA_OP_COPY, src, hole, 2 * PAGE, timeout_ms);
	counters_read(&after);
	/* msync() on an unmapped range fails with ENOMEM. */
	still_unmapped = msync(hole, PAGE, MS_ASYNC) && errno == ENOMEM;
	memcpy(guard, region, PAGE);
	memcpy(guard + PAGE, region + 2 * PAGE, PAGE);
	j_dev(&d);
	j_run("run", &res);
	j_u64("hole_addr", (uintptr_t)hole);
	j_bool("hole_still_unmapped", still_unmapped);
	j_cmp("guard", compare_byte(guard, GUARD_BYTE, sizeof(guard)));
	j_counters(&before, &after);
	close(d.fd);
}

static void case_readonly(void)
{
	struct counters before, after;
	unsigned char *page, *src, *want;
	volatile unsigned char sink;
	struct dev d;
	struct run res;

	dev_open_or_fail(&d);
	src = map_anon(PAGE, PROT_READ | PROT_WRITE);
	pattern(src, PAGE, 5);
	want = malloc(PAGE);
	if (!want)
		fail("malloc");
	pattern(want, PAGE, 6);
	page = map_anon(PAGE, PROT_READ | PROT_WRITE);
	memcpy(page, want, PAGE);
	if (mprotect(page, PAGE, PROT_READ))
		fail("mprotect: %s", strerror(errno));
	sink = page[0];		/* mapped, readable: a write is a permission fault */
	(void)sink;
	counters_read(&before);
	res = dev_run(&d, FAULTLAB_DMA_OP_COPY, src, page, PAGE, timeout_ms);
	counters_read(&after);
	j_dev(&d);
	j_run("run", &res);
	j_u64("target_addr", (uintptr_t)page);
	j_cmp("compare", compare(page, want, PAGE));
	j_counters(&before, &after);
	close(d.fd);
}

static void case_file(unsigned long n)
{
	size_t len = n * PAGE, off;
	char path[] = "/tmp/faultlab-smmu-XXXXXX";
	struct counters before, after;
	unsigned char *src, *dst, *want;
	long long fab;
	long long windows = -1;
	struct dev d;
	struct run res;
	int fd;

	dev_open_or_fail(&d);
	want = malloc(len);
	if (!want)
		fail("malloc %zu", len);
	pattern(want, len, 7);
	fd = mkstemp(path);
	if (fd < 0)
		fail("mkstemp: %s", strerror(errno));
	unlink(path);
	for (off = 0; off < len;) {
		ssize_t w = write(fd, want + off, len - off);

		if (w <= 0)
			fail("write: %s", strerror(errno));
		off += (size_t)w;
	}
	src = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (src == MAP_FAILED)
		fail("mmap file: %s", strerror(errno));
	dst = map_anon(len, PROT_READ | PROT_WRITE);
	memset(dst, 0, len);
	fab = read_ll("/sys/kernel/debug/fault_around_bytes");
	if (fab >= (long long)PAGE && !(fab & (fab - 1))) {
		uintptr_t s = (uintptr_t)src;

		windows = (long long)((s + len - 1) / (uintptr_t)fab - s / (uintptr_t)fab + 1);
	}
	counters_read(&before);
	res = dev_run(&d, FAULTLAB_DMA_OP_COPY, src, dst, len, timeout_ms);
	counters_read(&after);
	j_dev(&d);
	j_int("pages", n);
	j_run("run", &res);
	j_cmp("compare", compare(dst, want, len));
	j_u64("src_addr", (uintptr_t)src);
	j_int("fault_around_bytes", fab);
	j_int("fault_windows", windows);
	j_counters(&before, &after);
	close(fd);
	close(d.fd);
}

struct proc_result {
	pid_t pid;
	int open_err;
	int pasid;
	int channel;
	struct run run;
	uint64_t mismatches;
	bool finished;
};

static void many_child(unsigned int idx, unsigned long n, int go_fd, int ready_fd,
		       struct proc_result *pr)
{
	size_t len = n * PAGE;
	unsigned char *src, *dst;
	struct dev d;
	char c = 'r';
	int err;

	err = dev_open(&d);
	if (err) {
		pr->open_err = -err;
		if (write(ready_fd, &c, 1) != 1)
			_exit(3);
		_exit(1);
	}
	pr->pasid = d.info.pasid;
	pr->channel = d.info.channel;
	src = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED) {
		pr->open_err = ENOMEM;
		if (write(ready_fd, &c, 1) != 1)
			_exit(3);
		_exit(1);
	}
	pattern(src, len, 100 + idx);
	if (write(ready_fd, &c, 1) != 1)
		_exit(3);
	/* so that the parent sees EOF, not a hang, if a sibling dies early */
	close(ready_fd);
	/* Released when the parent closes the write end: read() returns 0. */
	if (read(go_fd, &c, 1) < 0)
		_exit(3);
	pr->run = dev_run(&d, FAULTLAB_DMA_OP_COPY, src, dst, len, timeout_ms);
	/* The source pattern is recomputed into src's place after comparing. */
	{
		unsigned char *want = malloc(len);

		if (!want)
			_exit(3);
		pattern(want, len, 100 + idx);
		pr->mismatches = compare(dst, want, len).mismatches;
		free(want);
	}
	pr->finished = true;
	close(d.fd);
	_exit(0);
}

static void case_many(unsigned long procs, unsigned long n)
{
	struct counters before, after;
	struct proc_result *pr;
	uint64_t t0, wall, stalls = 0, bytes = 0, mism = 0;
	unsigned long i, failed = 0;
	int go[2], ready[2];
	char c;

	pr = mmap(NULL, sizeof(*pr) * procs, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pr == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	memset(pr, 0, sizeof(*pr) * procs);
	if (pipe(go) || pipe(ready))
		fail("pipe: %s", strerror(errno));
	counters_read(&before);
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			fail("fork: %s", strerror(errno));
		if (!pid) {
			close(go[1]);
			close(ready[0]);
			many_child(i, n, go[0], ready[1], &pr[i]);
		}
		pr[i].pid = pid;
	}
	close(go[0]);
	close(ready[1]);
	for (i = 0; i < procs; i++) {
		if (read(ready[0], &c, 1) != 1)
			break;	/* a child died before it was ready */
	}
	t0 = now_us();
	close(go[1]);
	for (i = 0; i < procs; i++) {
		int status;

		while (waitpid(pr[i].pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	wall = now_us() - t0;
	counters_read(&after);

	j_str("device", dev_path);
	j_int("processes", procs);
	j_int("pages", n);
	j_open("procs", '[');
	for (i = 0; i < procs; i++) {
		const struct faultlab_dma_completion *cd = &pr[i].run.r.done;
		bool ok = pr[i].finished && !pr[i].open_err && !pr[i].run.rc;

		j_open(NULL, '{');
		j_int("index", i);
		j_int("pid", pr[i].pid);
		j_int("pasid", pr[i].pasid);
		j_int("channel", pr[i].channel);
		j_str("open_error", pr[i].open_err ? strerror(pr[i].open_err) : "");
		j_int("rc", pr[i].run.rc);
		j_str("errno_name", errno_name(pr[i].run.err));
		j_str("state", pr[i].finished ? state_name(cd->state) : "NOT_RUN");
		j_str("reason", reason_name(cd->reason));
		j_u64("stalls", cd->stalls);
		j_u64("bytes_done", cd->bytes_done);
		j_u64("mismatches", pr[i].mismatches);
		j_u64("elapsed_us", cd->elapsed_ns / 1000);
		j_close();
		stalls += cd->stalls;
		bytes += cd->bytes_done;
		mism += pr[i].mismatches;
		failed += !ok;
	}
	j_close();
	j_open("total", '{');
	j_u64("stalls", stalls);
	j_u64("bytes", bytes);
	j_u64("mismatches", mism);
	j_int("failed", failed);
	j_close();
	j_u64("wall_us", wall);
	j_int("faults_per_s", wall ? (long long)(stalls * 1000000u / wall) : 0);
	j_counters(&before, &after);
}

static void case_hold(void)
{
	struct counters before, after;
	unsigned char *src, *dst1, *dst2;
	struct faultlab_dma_cmd cmd = { 0 };
	struct dev d;
	struct run res;
	uint64_t t0, close_us;
	int rc2, err2;

	dev_open_or_fail(&d);
	src = map_anon(PAGE, PROT_READ | PROT_WRITE);
	pattern(src, PAGE, 8);
	dst1 = map_anon(PAGE, PROT_READ | PROT_WRITE);
	dst2 = map_anon(PAGE, PROT_READ | PROT_WRITE);
	counters_read(&before);
	res = dev_run(&d, FAULTLAB_DMA_OP_COPY, src, dst1, PAGE, timeout_ms);

	cmd.op = FAULTLAB_DMA_OP_COPY;
	cmd.src = (uintptr_t)src;
	cmd.dst = (uintptr_t)dst2;
	cmd.len = PAGE;
	cmd.timeout_ms = timeout_ms;
	rc2 = ioctl(d.fd, FAULTLAB_DMA_IOC_SUBMIT, &cmd);
	err2 = rc2 ? errno : 0;
	usleep(200 * 1000);	/* let the access reach the stall */
	t0 = now_us();
	close(d.fd);
	close_us = now_us() - t0;
	counters_read(&after);
	j_dev(&d);
	j_run("run", &res);
	j_int("second_submit_rc", rc2);
	j_str("second_submit_errno_name", errno_name(err2));
	j_u64("close_us", close_us);
	j_counters(&before, &after);
}

/* -- storm: open / submit / end, many times ------------------------------- */

#define STORM_ERRORS 16
#define STORM_FAULT_WAIT_US 2000000

enum storm_mode { STORM_CLOSE, STORM_STALLED_CLOSE, STORM_STALLED_EXIT };

struct storm_err {
	unsigned long cycle;
	const char *step;
	int err;		/* errno, or the exit status for "exit" */
};

struct storm {
	enum storm_mode mode;
	unsigned long pages;
	unsigned long opened, submitted, ended, waited, failed, nerr;
	uint64_t end_us_max;
	struct storm_err errs[STORM_ERRORS];
	char reported_path[PATH_MAX];
};

/* Wait (bounded) until the driver's iopf_reported counter passes @from. */
static bool storm_wait_fault(const struct storm *st, long long from)
{
	uint64_t t0 = now_us();

	while (now_us() - t0 < STORM_FAULT_WAIT_US) {
		if (read_ll(st->reported_path) > from)
			return true;
		usleep(100);
	}
	return false;
}

/*
 * One cycle in this process: open, map, submit, (wait for a fault report),
 * end. Returns the step that failed or NULL; *err its errno.
 */
static const char *storm_one(struct storm *st, bool wait_fault, bool do_close,
			     int *err, bool *waited, uint64_t *end_us)
{
	size_t len = st->pages * PAGE;
	struct faultlab_dma_cmd cmd = { 0 };
	unsigned char *src, *dst;
	long long before = 0;
	uint64_t t0;
	int fd, rc;

	*waited = false;
	fd = open(dev_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return "open";
	}
	src = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED) {
		*err = errno;
		close(fd);
		return "mmap";
	}
	memset(src, 0x5a, len);
	cmd.op = FAULTLAB_DMA_OP_COPY;
	cmd.src = (uintptr_t)src;
	cmd.dst = (uintptr_t)dst;
	cmd.len = len;
	cmd.timeout_ms = timeout_ms;
	if (wait_fault)
		before = read_ll(st->reported_path);
	rc = ioctl(fd, FAULTLAB_DMA_IOC_SUBMIT, &cmd);
	if (rc) {
		*err = errno;
		close(fd);
		return "submit";
	}
	st->submitted++;
	if (wait_fault)
		*waited = storm_wait_fault(st, before);
	if (!do_close) {
		st->waited += *waited;	/* the parent waits for this child */
		_exit(0);	/* the mm goes first (exit_mm), then the file */
	}
	t0 = now_us();
	rc = close(fd);
	*end_us = now_us() - t0;
	munmap(src, len);
	munmap(dst, len);
	if (rc) {
		*err = errno;
		return "close";
	}
	return NULL;
}

static void storm_error(struct storm *st, unsigned long cycle, const char *step, int err)
{
	st->failed++;
	if (st->nerr < STORM_ERRORS)
		st->errs[st->nerr++] = (struct storm_err){ cycle, step, err };
}

static void case_storm(const char *mode, unsigned long cycles, unsigned long pages,
		       unsigned long hogs)
{
	const char *base = strrchr(dev_path, '/');
	struct counters before, after;
	struct storm *st;
	pid_t hog[8];
	uint64_t t0, wall;
	unsigned long i;

	/* Shared, so that a child's submit and wait are counted too. */
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	memset(st, 0, sizeof(*st));
	if (!strcmp(mode, "close"))
		st->mode = STORM_CLOSE;
	else if (!strcmp(mode, "stalled-close"))
		st->mode = STORM_STALLED_CLOSE;
	else if (!strcmp(mode, "stalled-exit"))
		st->mode = STORM_STALLED_EXIT;
	else
		fail("bad storm mode '%s' (close, stalled-close, stalled-exit)", mode);
	st->pages = pages;
	snprintf(st->reported_path, sizeof(st->reported_path),
		 "/sys/class/misc/%s/device/faultlab/iopf_reported",
		 base ? base + 1 : dev_path);
	if (read_ll(st->reported_path) < 0)
		fail("cannot read %s", st->reported_path);

	for (i = 0; i < hogs; i++) {
		hog[i] = fork();
		if (hog[i] < 0)
			fail("fork: %s", strerror(errno));
		if (!hog[i]) {
			for (;;)
				__asm__ volatile("" ::: "memory");
		}
	}
	counters_read(&before);
	t0 = now_us();
	for (i = 0; i < cycles; i++) {
		const char *step;
		uint64_t end_us = 0;
		bool waited = false;
		int err = 0;

		if (st->mode != STORM_STALLED_EXIT) {
			step = storm_one(st, st->mode == STORM_STALLED_CLOSE, true, &err,
					 &waited, &end_us);
			if (!step || strcmp(step, "open"))
				st->opened++;
		} else {
			pid_t pid = fork();
			int status;

			if (pid < 0) {
				storm_error(st, i, "fork", errno);
				continue;
			}
			if (!pid) {
				step = storm_one(st, true, false, &err, &waited, &end_us);
				/* storm_one exits 0 itself when it got to the end */
				_exit(100 + (step && !strcmp(step, "open")));
			}
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			step = NULL;
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				step = "exit";
				err = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			}
			if (!step || err != 101)
				st->opened++;
		}
		if (step) {
			storm_error(st, i, step, err);
			continue;
		}
		st->ended++;
		st->waited += waited;
		if (end_us > st->end_us_max)
			st->end_us_max = end_us;
	}
	wall = now_us() - t0;
	for (i = 0; i < hogs; i++) {
		kill(hog[i], SIGKILL);
		while (waitpid(hog[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	counters_read(&after);

	j_str("device", dev_path);
	j_str("mode", mode);
	j_int("cycles", cycles);
	j_int("pages", pages);
	j_int("hogs", hogs);
	j_int("opened", st->opened);
	j_int("submitted", st->submitted);
	j_int("ended", st->ended);
	j_int("waited_for_fault", st->waited);
	j_int("failed", st->failed);
	j_open("errors", '[');
	for (i = 0; i < st->nerr; i++) {
		j_open(NULL, '{');
		j_int("cycle", st->errs[i].cycle);
		j_str("step", st->errs[i].step);
		if (!strcmp(st->errs[i].step, "exit"))
			j_int("status", st->errs[i].err);
		else
			j_str("errno_name", errno_name(st->errs[i].err));
		j_close();
	}
	j_close();
	j_u64("end_us_max", st->end_us_max);
	j_u64("wall_us", wall);
	j_counters(&before, &after);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: faultlab-smmu [-d DEV] [-t TIMEOUT_MS] CASE [ARGS]\n"
		"cases: untouched N | dontneed N | unmapped | readonly | file N |\n"
		"       many P N | hold | storm close|stalled-close|stalled-exit N P [HOGS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *name;
	int opt;

	while ((opt = getopt(argc, argv, "d:t:")) != -1) {
		switch (opt) {
		case 'd':
			dev_path = optarg;
			break;
		case 't':
			timeout_ms = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	name = argv[optind];
	argc -= optind;
	argv += optind;
	if (!timeout_ms)
		timeout_ms = strcmp(name, "hold") ? 60000 : 500;

	j_open(NULL, '{');
	j_str("case", name);
	j_int("page_size", PAGE);
	j_int("timeout_ms", timeout_ms);
	if (!strcmp(name, "untouched") && argc == 2)
		case_untouched(parse_count(argv[1], "page count", 4096));
	else if (!strcmp(name, "dontneed") && argc == 2)
		case_dontneed(parse_count(argv[1], "page count", 4096));
	else if (!strcmp(name, "unmapped") && argc == 1)
		case_unmapped();
	else if (!strcmp(name, "readonly") && argc == 1)
		case_readonly();
	else if (!strcmp(name, "file") && argc == 2)
		case_file(parse_count(argv[1], "page count", 4096));
	else if (!strcmp(name, "many") && argc == 3)
		case_many(parse_count(argv[1], "process count", MAX_PROCS),
			  parse_count(argv[2], "page count", 4096));
	else if (!strcmp(name, "hold") && argc == 1)
		case_hold();
	else if (!strcmp(name, "storm") && (argc == 4 || argc == 5))
		case_storm(argv[1], parse_count(argv[2], "cycle count", 100000),
			   parse_count(argv[3], "page count", 4096),
			   argc == 5 ? strtoul(argv[4], NULL, 0) % 9 : 2);
	else
		usage();
	j_close();
	flush_json();
	return 0;
}
