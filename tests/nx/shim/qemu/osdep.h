/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host-test shim for "qemu/osdep.h": just what the faultlab NX-GZIP engine
 * uses, mapped to libc (no glib), so that nx-gzip.c compiles with plain gcc.
 */
#ifndef FAULTLAB_SHIM_QEMU_OSDEP_H
#define FAULTLAB_SHIM_QEMU_OSDEP_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

static inline void *shim_check(void *p)
{
    if (!p) {
        abort();
    }
    return p;
}

#define g_malloc(n) shim_check(malloc((n) ? (n) : 1))
#define g_malloc0(n) shim_check(calloc(1, (n) ? (n) : 1))
#define g_realloc(p, n) shim_check(realloc((p), (n) ? (n) : 1))
#define g_free(p) free(p)
#define g_new(type, n) ((type *)g_malloc(sizeof(type) * (n)))
#define g_new0(type, n) ((type *)g_malloc0(sizeof(type) * (n)))

#endif
