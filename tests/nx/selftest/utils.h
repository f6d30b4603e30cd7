/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stands in for tools/testing/selftests/powerpc/include/utils.h when the
 * unmodified nx-gzip selftests are compiled on the host (that header needs
 * powerpc-only headers). Only what gzfht_test.c uses.
 */
#ifndef FAULTLAB_SELFTEST_UTILS_H
#define FAULTLAB_SELFTEST_UTILS_H

#include <stddef.h>

int read_file_alloc(const char *path, char **buf, size_t *len);
int write_file(const char *path, const char *buf, size_t count);
int read_sysfs_file(char *fpath, char *result, size_t result_size);

#endif
