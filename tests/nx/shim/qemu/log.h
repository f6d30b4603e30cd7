/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host-test shim for "qemu/log.h": qemu_log_mask() prints to stderr. */
#ifndef FAULTLAB_SHIM_QEMU_LOG_H
#define FAULTLAB_SHIM_QEMU_LOG_H

#define LOG_GUEST_ERROR (1 << 11)
#define LOG_UNIMP       (1 << 10)

#define qemu_log_mask(mask, ...) \
    do { \
        (void)(mask); \
        fprintf(stderr, __VA_ARGS__); \
    } while (0)

#endif
