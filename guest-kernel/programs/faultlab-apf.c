// SPDX-License-Identifier: GPL-2.0-or-later
/* faultlab-arches: ppc64le */
/*
 * faultlab-apf: a page for the pseries asynchronous page fault scenarios.
 *
 *   faultlab-apf user GOFILE
 *   faultlab-apf kernel
 *
 * Maps one page, fills it with a pattern, locks it and prints a JSON line
 *   {"stage": "ready", "pid": N, "va": N, "gpa": N, "page_size": N}
 * (gpa from /proc/self/pagemap) so the harness can expropriate it, then:
 *   user     waits until GOFILE exists and loads from the page in user mode
 *            (the expropriation DSI puts the task to sleep until the
 *            subvention);
 *   kernel   read()s 4 KiB from a file into the page every 10 ms until one
 *            read() is held for more than 500 ms (the kernel's copy_to_user
 *            took the DSI and waited in place) or 60 s passed. The guest's
 *            only vCPU waits in the kernel then, so the harness cannot use
 *            SSH to start the access: expropriating the page starts it.
 * Then it checks the whole page (and, for kernel, the bytes read) and prints
 *   {"stage": "done", "case": ..., "pattern_ok": bool, "bad_offset": N,
 *    "read": N, "touch_ms": N}
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define READ_LEN 4096

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + 0x5a);
}

static uint8_t file_byte(size_t i)
{
	return (uint8_t)(i * 13 + 0xa5);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long long gpa_of(void *va, long psize)
{
	uint64_t ent;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return -1;
	if (pread(fd, &ent, sizeof(ent),
		  (off_t)((uintptr_t)va / psize) * sizeof(ent)) != sizeof(ent)) {
		close(fd);
		return -1;
	}
	close(fd);
	if (!(ent & (1ULL << 63)))	/* not present */
		return -1;
	return (long long)(ent & ((1ULL << 55) - 1)) * psize;
}

int main(int argc, char **argv)
{
	long psize = sysconf(_SC_PAGESIZE);
	const char *mode, *go;
	char srcpath[64];
	volatile uint8_t *page;
	ssize_t got = -1;
	long bad = -1;
	double t0, t1;
	uint8_t sink;
	int fd = -1;

	if (!(argc == 3 && !strcmp(argv[1], "user")) &&
	    !(argc == 2 && !strcmp(argv[1], "kernel"))) {
		fprintf(stderr, "usage: %s user GOFILE | kernel\n", argv[0]);
		return 2;
	}
	mode = argv[1];
	go = argc == 3 ? argv[2] : NULL;
	if (!strcmp(mode, "kernel")) {
		uint8_t buf[READ_LEN];

		snprintf(srcpath, sizeof(srcpath), "/tmp/faultlab-apf-src.%d",
			 getpid());
		for (size_t i = 0; i < READ_LEN; i++)
			buf[i] = file_byte(i);
		fd = open(srcpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, buf, READ_LEN) != READ_LEN) {
			perror("source file");
			return 1;
		}
		/* page cache warm: the read() only copies */
		lseek(fd, 0, SEEK_SET);
		if (read(fd, buf, READ_LEN) != READ_LEN)
			return 1;
	}
	page = mmap(NULL, psize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (page == MAP_FAILED || mlock((void *)page, psize)) {
		perror("mmap/mlock");
		return 1;
	}
	for (long i = 0; i < psize; i++)
		page[i] = pattern(i);
	printf("{\"stage\": \"ready\", \"case\": \"%s\", \"pid\": %d, "
	       "\"va\": %lu, \"gpa\": %lld, \"page_size\": %ld}\n", mode,
	       getpid(), (unsigned long)(uintptr_t)page,
	       gpa_of((void *)page, psize), psize);
	fflush(stdout);

	if (go) {
		while (access(go, F_OK))
			usleep(10000);
		t0 = now_ms();
		sink = page[0];
		(void)sink;
		t1 = now_ms();
	} else {
		double start = now_ms();

		do {
			usleep(10000);
			lseek(fd, 0, SEEK_SET);
			t0 = now_ms();
			got = read(fd, (void *)page, READ_LEN);
			t1 = now_ms();
		} while (got == READ_LEN && t1 - t0 < 500 && t1 - start < 60000);
	}

	for (long i = 0; i < psize && bad < 0; i++) {
		uint8_t want = (!strcmp(mode, "kernel") && i < READ_LEN) ?
			       file_byte(i) : pattern(i);

		if (page[i] != want)
			bad = i;
	}
	if (fd >= 0) {
		close(fd);
		unlink(srcpath);
	}
	printf("{\"stage\": \"done\", \"case\": \"%s\", \"pattern_ok\": %s, "
	       "\"bad_offset\": %ld, \"read\": %zd, \"touch_ms\": %.1f}\n",
	       mode, bad < 0 ? "true" : "false", bad, got, t1 - t0);
	return bad < 0 ? 0 : 1;
}
