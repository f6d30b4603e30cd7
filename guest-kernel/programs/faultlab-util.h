/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab: what the guest programs that report one case as one JSON object
 * (faultlab-smmu, faultlab-dsa) share: the one-line JSON writer, fail(), the
 * monotonic clock in microseconds, reading a number from sysfs, and
 * anonymous memory.
 *
 * JSON: j_open(NULL, '{') opens the top-level object; j_open(KEY, '{' or
 * '[') opens a member (KEY NULL inside an array), j_close() closes the
 * innermost one; flush_json() closes what is still open and prints the
 * object as one line on stdout. fail() prints the message on stderr and the
 * object so far with an "error" member, and exits with status 1.
 *
 * Each program is one translation unit that includes this header once,
 * after its system headers, with _GNU_SOURCE defined before them.
 */
#ifndef FAULTLAB_UTIL_H
#define FAULTLAB_UTIL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include (program_invocation_short_name)"
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* -- JSON output (one line) ---------------------------------------------- */

#define J_MAX_DEPTH 64

static char out[1 << 20];
static size_t out_len;
static bool need_comma[J_MAX_DEPTH];
static char closer[J_MAX_DEPTH];
static int depth;

static inline void __attribute__((format(printf, 1, 2)))
emit(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + out_len, sizeof(out) - out_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_len += (size_t)n < sizeof(out) - out_len ? (size_t)n :
			   sizeof(out) - out_len - 1;
}

/* The separator and, in an object, the member's name. */
static inline void key(const char *k)
{
	if (need_comma[depth])
		emit(",");
	need_comma[depth] = true;
	if (k)
		emit("\"%s\":", k);
}

/* Open an object (@c '{') or an array (@c '['). */
static inline void j_open(const char *k, char c)
{
	key(k);
	emit("%c", c);
	need_comma[++depth] = false;
	closer[depth] = c == '{' ? '}' : ']';
}

static inline void j_close(void)
{
	if (depth <= 0)
		return;
	emit("%c", closer[depth]);
	depth--;
}

static inline void j_int(const char *k, long long v)
{
	key(k);
	emit("%lld", v);
}

static inline void j_u64(const char *k, uint64_t v)
{
	key(k);
	emit("%" PRIu64, v);
}

static inline void j_bool(const char *k, bool v)
{
	key(k);
	emit(v ? "true" : "false");
}

static inline void j_str(const char *k, const char *s)
{
	key(k);
	emit("\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			emit("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			emit("\\u%04x", *s);
		else
			emit("%c", *s);
	}
	emit("\"");
}

static inline void flush_json(void)
{
	while (depth > 0)
		j_close();
	fwrite(out, 1, out_len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static inline void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
	while (depth > 1)
		j_close();
	if (depth == 0)
		j_open(NULL, '{');
	j_str("error", msg);
	flush_json();
	exit(1);
}

/* -- time, sysfs, memory --------------------------------------------------- */

static inline uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The number in the file at @path (a sysfs attribute), -1 if unreadable. */
static inline long long read_ll(const char *path)
{
	char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtoll(buf, NULL, 0);
}

/* Private anonymous memory of @len bytes (rounded up to pages). */
static inline void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fail("mmap %zu bytes: %s", len, strerror(errno));
	return p;
}

/* Drop the pages of [@p, @p + @len): the next access faults them in again. */
static inline void drop_pages(void *p, size_t len)
{
	if (madvise(p, len, MADV_DONTNEED))
		fail("madvise(MADV_DONTNEED): %s", strerror(errno));
}

#endif
