/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replaces gzip_vas.c (and the bits of ../utils.c gzfht_test.c uses) so that
 * the unmodified gzfht_test.c and gunz_test.c run on the host against the
 * faultlab NX-GZIP engine: nxu_submit_job() hands the CRB to nx_gzip_run()
 * with effective addresses that are host pointers, instead of COPY/PASTE to
 * /dev/crypto/nx-gzip.
 *
 * NX_FAULT_EVERY=n makes every n-th job find the page of its first target
 * byte (odd injections) or first source byte (even ones) not present. The
 * engine then stops without a CSB and this file does what vas-fault.c does:
 * CSB flags 0x80, cc 250, ce 0x40, address = the fault address. The
 * selftests' own cc 250 handling resubmits. Counts go to stderr.
 * NX_MAX_LEN=n is passed to the engine as max_processed_len (gunz_test) and
 * is what read_sysfs_file() returns for req_max_processed_len (gzfht_test),
 * as on pseries.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "nxu.h"
#include "utils.h"

/* The engine's header, without QEMU's osdep.h in front of it. */
#include <stdbool.h>
#include "hw/faultlab/nx/nx-gzip.h"

static uint64_t absent_page = ~0ULL;
static long jobs, faults, injections;

static int absent(uint64_t ea, uint64_t len, uint64_t *fault_ea)
{
    uint64_t end = ea + len;

    if (absent_page != ~0ULL && ea < absent_page + 4096 && end > absent_page) {
        *fault_ea = ea > absent_page ? ea : absent_page;
        return 1;
    }
    return 0;
}

static int op_read(void *opaque, uint64_t ea, void *buf, uint64_t len,
                   uint64_t *fault_ea)
{
    if (absent(ea, len, fault_ea)) {
        return 1;
    }
    memcpy(buf, (void *)(uintptr_t)ea, len);
    return 0;
}

static int op_write(void *opaque, uint64_t ea, const void *buf, uint64_t len,
                    uint64_t *fault_ea)
{
    if (absent(ea, len, fault_ea)) {
        return 1;
    }
    memcpy((void *)(uintptr_t)ea, buf, len);
    return 0;
}

static const NXGzipMemOps ops = { op_read, op_write };

static uint64_t first_byte(const struct nx_dde_t *dde)
{
    const struct nx_dde_t *list;

    if (getpnn(dde, dde_count) == 0) {
        return getp64(dde, ddead);
    }
    list = (const struct nx_dde_t *)(uintptr_t)getp64(dde, ddead);
    return get64(list[0], ddead);
}

void *nx_function_begin(int function, int pri)
{
    static int handle;

    return &handle;
}

int nx_function_end(void *handle)
{
    fprintf(stderr, "engine_jobs=%ld engine_faults=%ld\n", jobs, faults);
    return 0;
}

int nxu_submit_job(struct nx_gzip_crb_cpb_t *cmdp, void *handle)
{
    static long every = -1;
    static uint64_t max_len;
    NXGzipResult r;
    uint8_t *csb;

    if (every < 0) {
        every = getenv("NX_FAULT_EVERY") ? atol(getenv("NX_FAULT_EVERY")) : 0;
        max_len = getenv("NX_MAX_LEN") ? strtoull(getenv("NX_MAX_LEN"), 0, 0)
                                       : 0;
    }
    jobs++;
    if (every && jobs % every == 0) {
        const struct nx_dde_t *dde = ++injections % 2 ? &cmdp->crb.target_dde
                                                      : &cmdp->crb.source_dde;

        absent_page = first_byte(dde) & ~4095ULL;
    }
    r = nx_gzip_run(&ops, NULL, (const uint8_t *)&cmdp->crb, max_len);
    absent_page = ~0ULL;        /* the program touches it before retrying */
    csb = (uint8_t *)(uintptr_t)r.csb_ea;
    if (r.status == NX_GZIP_FAULTED) {
        faults++;
        memset(csb + 1, 0, 15);
        csb[2] = NX_GZIP_CC_AT_FAULT;
        csb[3] = NX_GZIP_CE_TERMINATION;
        *(uint64_t *)(csb + 8) = htobe64(r.fault_ea);
        csb[0] = NX_GZIP_CSB_V;
    }
    return getnn(cmdp->crb.csb, csb_cc);
}

int nxu_touch_pages(void *buf, long buf_len, long page_len, int wr)
{
    return buf && buf_len > 0 ? 0 : -1;
}

void nxu_sigsegv_handler(int sig, siginfo_t *info, void *ctx)
{
}

int read_file_alloc(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;

    if (!f) {
        return -errno;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(n + 1);
    *len = fread(*buf, 1, n, f);
    fclose(f);
    return *len == (size_t)n ? 0 : -EIO;
}

int write_file(const char *path, const char *buf, size_t count)
{
    FILE *f = fopen(path, "wb");
    int rc;

    if (!f) {
        return -errno;
    }
    rc = fwrite(buf, 1, count, f) == count ? 0 : -EIO;
    fclose(f);
    return rc;
}

int read_sysfs_file(char *fpath, char *result, size_t result_size)
{
    const char *v = getenv("NX_MAX_LEN");

    if (!v || !strstr(fpath, "req_max_processed_len")) {
        return -ENOENT;
    }
    snprintf(result, result_size, "%s", v);
    return 0;
}
