/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host driver for the faultlab NX-GZIP engine (no QEMU): a flat "guest"
 * memory whose effective addresses are host pointers, pages that can be
 * made absent (the engine faults on them, as NX does on a page the kernel
 * has not populated), and the request sequences of the kernel selftests
 * (tools/testing/selftests/powerpc/nx-gzip gzfht_test.c / gunz_test.c)
 * re-implemented against it with the same CRB/CPB field writes, chunk sizes
 * and completion-code handling.
 *
 * Usage:
 *   nx_host_test gzfht IN OUT [chunk [evict_every]]
 *   nx_host_test gunz IN OUT [fifo_in fifo_out [evict_every]]
 *   nx_host_test deflate FC IN OUT [hist_bytes]   one raw-deflate request
 *   nx_host_test inflate IN OUT [target_len [fc]] one DECOMPRESS request
 *   nx_host_test cases                            fault / hostile-CRB cases
 * Results go to stdout as "key=value" lines. NX_MAX_LEN=n in the environment
 * is passed to the engine as max_processed_len; NX_MEM_MB sizes the guest
 * memory (256 MiB by default).
 */
#define _DEFAULT_SOURCE
#include <endian.h>
#include <stdarg.h>
#include <sys/mman.h>
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include <zlib.h>
#include "hw/faultlab/nx/nx-gzip.h"

/* ---- guest memory ---- */

#define PAGE 4096
enum { PG_PRESENT, PG_ABSENT, PG_INVALID };

static uint8_t *mem;
static uint64_t mem_size, mem_used;
static uint8_t *pg;                 /* page states */
static uint64_t max_len;            /* max_processed_len passed to the engine */
static long n_nx_faults, n_segv, n_jobs;

static uint64_t ea_of(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static void mem_init(uint64_t size)
{
    mem_size = size;
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
               -1, 0);
    pg = calloc(size / PAGE, 1);
    if (mem == MAP_FAILED || !pg) {
        abort();
    }
}

static void *galloc(uint64_t size, uint64_t align)
{
    uint64_t off = (mem_used + align - 1) & ~(align - 1);

    if (off + size > mem_size) {
        fprintf(stderr, "guest memory exhausted\n");
        exit(2);
    }
    mem_used = off + size;
    return mem + off;
}

static void set_pages(const void *p, uint64_t len, int state)
{
    uint64_t a = (uint64_t)((const uint8_t *)p - mem), i;

    for (i = a / PAGE; i <= (a + len - 1) / PAGE; i++) {
        pg[i] = state;
    }
}

/* First byte of [ea, ea+len) that the engine cannot access, or 0. */
static int mem_check(uint64_t ea, uint64_t len, uint64_t *fault_ea)
{
    uint64_t base = ea_of(mem), a;

    if (ea < base || ea - base >= mem_size || len > mem_size - (ea - base)) {
        *fault_ea = ea;     /* first byte is already outside */
        if (ea >= base && ea - base < mem_size) {
            *fault_ea = base + mem_size;
        }
        for (a = ea; ea >= base && a < base + mem_size && a < ea + len;
             a = (a & ~(uint64_t)(PAGE - 1)) + PAGE) {
            if (pg[(a - base) / PAGE] != PG_PRESENT) {
                *fault_ea = a;
                break;
            }
        }
        return 1;
    }
    for (a = ea; a < ea + len; a = (a & ~(uint64_t)(PAGE - 1)) + PAGE) {
        if (pg[(a - base) / PAGE] != PG_PRESENT) {
            *fault_ea = a;
            return 1;
        }
    }
    return 0;
}

static int op_read(void *opaque, uint64_t ea, void *buf, uint64_t len,
                   uint64_t *fault_ea)
{
    if (mem_check(ea, len, fault_ea)) {
        return 1;
    }
    memcpy(buf, (void *)(uintptr_t)ea, len);
    return 0;
}

static int op_write(void *opaque, uint64_t ea, const void *buf, uint64_t len,
                    uint64_t *fault_ea)
{
    if (mem_check(ea, len, fault_ea)) {
        return 1;
    }
    memcpy((void *)(uintptr_t)ea, buf, len);
    return 0;
}

static const NXGzipMemOps ops = { op_read, op_write };

/* ---- the request block as nxu.h lays it out (byte offsets) ---- */

#define CRB_FC          0x000
#define CRB_CSBADDR     0x008
#define CRB_SRC         0x010
#define CRB_TGT         0x020
#define CRB_STAMP       0x040
#define CSB             0x0f0
#define CPB             0x100
#define IN_ADLER        (CPB + 0x000)
#define IN_CRC          (CPB + 0x004)
#define IN_HISTLEN      (CPB + 0x008)
#define IN_SFBT         (CPB + 0x00c)
#define IN_DHT          (CPB + 0x010)
#define OUT_ADLER       (CPB + 0x180)
#define OUT_CRC         (CPB + 0x184)
#define OUT_TEBC        (CPB + 0x188)
#define OUT_SFBT        (CPB + 0x18c)
#define OUT_SPBC_COMP   (CPB + 0x190)
#define OUT_DHT         (CPB + 0x190)
#define OUT_SPBC_DECOMP (CPB + 0x2b0)
#define OUT_SPBC_COUNT  (CPB + 0x680)
#define CMD_SIZE        2048

/* putnn/getnn of nxu.h: a field of width w ending at IBM bit 'end'. */
static uint32_t getnn(uint8_t *c, int off, int end, int w)
{
    return (ldl_be_p(c + off) >> (31 - end)) & ((1u << w) - 1);
}

static void putnn(uint8_t *c, int off, int end, int w, uint32_t v)
{
    uint32_t m = ((1u << w) - 1) << (31 - end);

    stl_be_p(c + off, (ldl_be_p(c + off) & ~m) | ((v << (31 - end)) & m));
}

#define PUT_HISTLEN(c, v)   putnn(c, IN_HISTLEN, 11, 12, v)
#define PUT_SUBC(c, v)      putnn(c, IN_HISTLEN, 31, 3, v)
#define PUT_SFBT(c, v)      putnn(c, IN_SFBT, 15, 4, v)
#define PUT_REMBYTE(c, v)   putnn(c, IN_SFBT, 31, 16, v)
#define PUT_DHTLEN(c, v)    putnn(c, IN_SFBT, 31, 12, v)
#define GET_TEBC(c)         getnn(c, OUT_TEBC, 15, 3)
#define GET_SUBC(c)         getnn(c, OUT_TEBC, 31, 16)
#define GET_SFBT(c)         getnn(c, OUT_SFBT, 15, 4)
#define GET_REMBYTE(c)      getnn(c, OUT_SFBT, 31, 16)
#define GET_DHTLEN(c)       getnn(c, OUT_SFBT, 31, 12)
#define GET_CC(c)           (c)[CSB + 2]
#define GET_CE(c)           (c)[CSB + 3]
#define GET_TPBC(c)         ldl_be_p((c) + CSB + 4)

static void dde_set(uint8_t *dde, int count, uint32_t len, uint64_t ea)
{
    memset(dde, 0, 16);
    dde[2] = count;
    stl_be_p(dde + 4, len);
    stq_be_p(dde + 8, ea);
}

/*
 * Submit like gzip_vas.c nxu_run_job(), with the kernel's fault handling
 * (vas-fault.c) modelled: a fault on a valid but absent page gives the CSB
 * cc=250 ce=0x40 with the address (the kernel's copy_to_user populates the
 * CSB page); a CSB on an invalid page is a SIGSEGV after which the program
 * touches the address and pastes again.
 */
static uint8_t csb_before[16];
static NXGzipResult last;

static int submit(uint8_t *cmd)
{
    int tries;

    for (tries = 0; tries < 5000; tries++) {
        uint64_t csb_ea = ldq_be_p(cmd + CRB_CSBADDR) & ~15ULL, fea;
        uint8_t *csb = (uint8_t *)(uintptr_t)csb_ea;

        memcpy(csb_before, cmd + CSB, 16);
        n_jobs++;
        last = nx_gzip_run(&ops, NULL, cmd, max_len);
        if (last.status == NX_GZIP_COMPLETED) {
            if (!(csb[0] & 0x80)) {
                printf("error=csb_not_valid\n");
                exit(1);
            }
            return csb[2];
        }
        n_nx_faults++;
        if (memcmp(csb_before, cmd + CSB, 16)) {
            printf("error=csb_written_on_fault\n");
            exit(1);
        }
        if (mem_check(csb_ea, 16, &fea)) {
            if (pg[(fea - ea_of(mem)) / PAGE] == PG_INVALID) {
                n_segv++;
                set_pages(csb, 16, PG_PRESENT);     /* touch si_addr */
                continue;
            }
            set_pages(csb, 16, PG_PRESENT);         /* copy_to_user */
        }
        memset(csb + 1, 0, 15);
        csb[2] = NX_GZIP_CC_AT_FAULT;
        csb[3] = NX_GZIP_CE_TERMINATION;
        stq_be_p(csb + 8, last.fault_ea);
        csb[0] = 0x80;
        return csb[2];
    }
    return -1;
}

static void touch(void *buf, long len)
{
    if (len > 0) {
        set_pages(buf, len, PG_PRESENT);
    }
}

static void *read_file(const char *name, size_t *len)
{
    FILE *f = fopen(name, "rb");
    uint8_t *b;
    long n;

    if (!f) {
        perror(name);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc(n + 1);
    if (fread(b, 1, n, f) != (size_t)n) {
        exit(2);
    }
    fclose(f);
    *len = n;
    return b;
}

static void write_file(const char *name, const void *b, size_t n)
{
    FILE *f = fopen(name, "wb");

    if (!f || fwrite(b, 1, n, f) != n) {
        perror(name);
        exit(2);
    }
    fclose(f);
}

/* Make the first page of each buffer absent every n-th job (a page-out). */
static long evict_every, evict_count;

static void maybe_evict(void *a, void *b)
{
    if (evict_every && ++evict_count % evict_every == 0) {
        set_pages(a, 1, PG_ABSENT);
        set_pages(b, 1, PG_ABSENT);
    }
}

/* ---- gzfht_test.c compress_file(), same sequence ---- */

static int append_sync_flush(uint8_t *buf, int tebc, int final)
{
    uint64_t flush;
    int shift = tebc & 7;

    if (tebc > 0) {
        buf = buf - 1;
        *buf = *buf & (uint8_t)((1 << tebc) - 1);
    } else {
        *buf = 0;
    }
    flush = ((0x1ULL & final) << shift) | *buf;
    shift = shift + 3;
    shift = (shift <= 8) ? 8 : 16;
    flush |= (0xFFFF0000ULL) << shift;
    shift = shift + 32;
    while (shift > 0) {
        *buf++ = (uint8_t)(flush & 0xff);
        flush >>= 8;
        shift -= 8;
    }
    return ((tebc > 5) || (tebc == 0)) ? 5 : 4;
}

static int cmd_gzfht(const char *in, const char *out, uint32_t chunk)
{
    size_t len0;
    uint8_t *file = read_file(in, &len0);
    uint8_t *cmd = galloc(CMD_SIZE, CMD_SIZE);
    uint8_t *inbuf = galloc(len0 + 1, 64);
    uint64_t inlen = len0, outlen = 2 * len0 + 1024, dsttotlen, srctotlen = 0;
    uint8_t *outbuf = galloc(outlen, 64), *srcbuf, *dstbuf;
    uint32_t crc = 0, spbc, tpbc, tebc, srclen, dstlen, flushlen;
    int cc, fault_tries = 500, num_hdr = 10;

    memcpy(inbuf, file, len0);
    set_pages(inbuf, len0 + 1, PG_ABSENT);      /* read from the page cache */
    set_pages(outbuf, outlen, PG_ABSENT);
    touch(outbuf, outlen);
    memcpy(outbuf, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03", num_hdr);
    dstbuf = outbuf + num_hdr;
    outlen -= num_hdr;
    dsttotlen = num_hdr;
    srcbuf = inbuf;
    memset(cmd, 0, 128);
    stl_be_p(cmd + IN_CRC, 0);
    while (inlen > 0) {
        srclen = MIN(chunk, inlen);
        dstlen = MIN(2 * srclen, outlen);
        touch(cmd, CMD_SIZE);
        touch(srcbuf, srclen);
        touch(dstbuf, dstlen);
        maybe_evict(srcbuf + srclen - 1, dstbuf);

        /* compress_fht_sample() */
        stl_be_p(cmd + CRB_FC, 0);
        putnn(cmd, CRB_FC, 31, 8, NX_GZIP_FC_COMPRESS_RESUME_FHT);
        PUT_HISTLEN(cmd, 0);
        memset(cmd + CSB, 0, 16);
        stl_be_p(cmd + OUT_SPBC_COMP, 0);
        stq_be_p(cmd + CRB_CSBADDR, ea_of(cmd + CSB) & ~15ULL);
        dde_set(cmd + CRB_SRC, 0, srclen, ea_of(srcbuf));
        dde_set(cmd + CRB_TGT, 0, dstlen, ea_of(dstbuf));
        cc = submit(cmd);

        if (cc != 0 && cc != 64 && cc != 250) {
            printf("gzfht_error=nx error: cc= %d\n", cc);
            return 1;
        }
        if (cc == 250) {
            if (--fault_tries > 0) {
                continue;
            }
            printf("gzfht_error=too many faults\n");
            return 1;
        }
        fault_tries = 500;
        inlen -= srclen;
        srcbuf += srclen;
        srctotlen += srclen;
        spbc = ldl_be_p(cmd + OUT_SPBC_COMP);
        if (spbc != srclen) {
            printf("gzfht_error=spbc %u != srclen %u\n", spbc, srclen);
            return 1;
        }
        tpbc = GET_TPBC(cmd);
        tebc = GET_TEBC(cmd);
        if (inlen > 0) {
            dstbuf[0] &= 0xfe;
            dstbuf += tpbc;
            dsttotlen += tpbc;
            outlen -= tpbc;
            flushlen = append_sync_flush(dstbuf, tebc, 0);
            dsttotlen += flushlen;
            outlen -= flushlen;
            dstbuf += flushlen;
        } else {
            dstbuf[0] |= 0x01;
            dstbuf += tpbc;
            dsttotlen += tpbc;
            outlen -= tpbc;
        }
        crc = be32toh(*(uint32_t *)(cmd + OUT_CRC));    /* get32() */
        *(uint32_t *)(cmd + IN_CRC) = htobe32(crc);      /* put32() */
        crc = be32toh(crc);
    }
    memcpy(dstbuf, &crc, 4);
    memcpy(dstbuf + 4, &srctotlen, 4);
    dsttotlen += 8;
    write_file(out, outbuf, dsttotlen);
    printf("gzfht_ok=1\ncompressed=%" PRIu64 "\ncrc32=%08x\n", dsttotlen, crc);
    return 0;
}

/* ---- gunz_test.c decompress_file(), same state machine ---- */

static uint32_t append_dde(uint8_t *ddl, void *addr, uint32_t len)
{
    uint32_t ddecnt = ddl[2], bytes = ldl_be_p(ddl + 4);

    if (addr == NULL && len == 0) {
        dde_set(ddl, 0, 0, 0);
        return 0;
    }
    if (ddecnt == 0 && bytes == 0) {
        stl_be_p(ddl + 4, len);
        stq_be_p(ddl + 8, ea_of(addr));
    } else if (ddecnt == 0) {
        memcpy(ddl + 16, ddl, 16);
        dde_set(ddl + 32, 0, len, ea_of(addr));
        ddl[2] = 2;
        stl_be_p(ddl + 4, bytes + len);
        stq_be_p(ddl + 8, ea_of(ddl + 16));
        bytes += len;
    } else {
        ++ddecnt;
        dde_set(ddl + 16 * ddecnt, 0, len, ea_of(addr));
        ddl[2] = ddecnt;
        bytes += len;
        stl_be_p(ddl + 4, bytes);
    }
    return bytes;
}

static void touch_dde(uint8_t *ddl, long buf_sz)
{
    int n = ddl[2], i;
    long total = 0;

    if (n == 0) {
        long l = ldl_be_p(ddl + 4);

        touch((void *)(uintptr_t)ldq_be_p(ddl + 8), buf_sz ? MIN(l, buf_sz) : l);
        return;
    }
    if (!buf_sz) {
        buf_sz = ldl_be_p(ddl + 4);
    }
    for (i = 0; i < n; i++) {
        uint8_t *e = (uint8_t *)(uintptr_t)ldq_be_p(ddl + 8) + 16 * i;
        long l = ldl_be_p(e + 4);

        total += l;
        if (total > buf_sz) {
            touch((void *)(uintptr_t)ldq_be_p(e + 8), MIN(l, total - buf_sz));
            break;
        }
        touch((void *)(uintptr_t)ldq_be_p(e + 8), l);
    }
}

#define used_first(cur, used, len)  (((cur) + (used)) <= (len) ? (used) : (len) - (cur))
#define used_last(cur, used, len)   (((cur) + (used)) <= (len) ? 0 : ((used) + (cur)) - (len))
#define free_first(cur, used, len)  (((cur) + (used)) <= (len) ? (len) - ((cur) + (used)) : 0)
#define free_last(cur, used, len)   (((cur) + (used)) <= (len) ? (cur) : (len) - (used))

static long cnt_cc3, cnt_cc13, cnt_cc0, cnt_resume, cnt_hist_wrap;
static long sfbt_seen[16];

static int cmd_gunz(const char *in, const char *out, int fifo_in_len,
                    int fifo_out_len)
{
    const int page_sz = 1 << 16, line_sz = 1 << 7, window_max = 1 << 15;
    size_t flen, fpos = 10, opos = 0;
    uint8_t *file = read_file(in, &flen);
    uint8_t *obuf = malloc(1 << 28);
    uint8_t *fifo_in = galloc(fifo_in_len + page_sz, line_sz);
    uint8_t *fifo_out = galloc(fifo_out_len + page_sz + line_sz, line_sz);
    uint8_t *cmd = galloc(CMD_SIZE, CMD_SIZE);
    uint8_t *ddl_in = galloc(16 * 6, 128), *ddl_out = galloc(16 * 6, 128);
    int used_in = 0, cur_in = 0, used_out = 0, cur_out = 0, read_sz, n;
    int first_free, last_free, first_used, last_used, first_offset, last_offset;
    int free_space, source_sz, source_sz_estimate, target_sz_estimate;
    int sfbt = 0, subc = 0, spbc, tpbc = 0, nx_ce, fc, resuming = 0;
    int history_len = 0, is_final = 0, is_eof = 0, cc, pgfault_retries;
    uint64_t last_comp_ratio = 0, total_out = 0;

    if (flen < 10 || file[0] != 0x1f || file[1] != 0x8b || file[2] != 8 ||
        (file[3] & 0xe4)) {
        printf("gunz_error=header\n");
        return 1;
    }
    if (file[3] & 0x8) {                    /* FNAME */
        while (fpos < flen && file[fpos++]) {
            ;
        }
    }
    if (file[3] & 0x2) {                    /* FHCRC */
        fpos += 2;
    }
    fifo_out += line_sz;
    touch(fifo_out, fifo_out_len);
    memset(cmd, 0, 128);
    memset(cmd + CPB, 0xa5, CMD_SIZE - CPB);    /* uninitialized stack */

read_state:
    if (is_eof) {
        goto write_state;
    }
    cur_in = (used_in == 0) ? 0 : cur_in;
    free_space = MAX(0, fifo_in_len - used_in - line_sz);
    first_free = free_first(cur_in, used_in, fifo_in_len);
    last_free = free_last(cur_in, used_in, fifo_in_len);
    first_offset = cur_in + used_in;
    last_offset = used_last(cur_in, used_in, fifo_in_len);
    read_sz = MIN(free_space, first_free);
    if (read_sz > 0) {
        n = MIN((size_t)read_sz, flen - fpos);
        memcpy(fifo_in + first_offset, file + fpos, n);
        fpos += n;
        used_in += n;
        free_space -= n;
        if (n != read_sz) {
            is_eof = 1;
            goto write_state;
        }
    }
    if (last_free > 0) {
        read_sz = MIN(free_space, last_free);
        if (read_sz > 0) {
            n = MIN((size_t)read_sz, flen - fpos);
            memcpy(fifo_in + last_offset, file + fpos, n);
            fpos += n;
            used_in += n;
            free_space -= n;
            if (n != read_sz) {
                is_eof = 1;
                goto write_state;
            }
        }
    }

write_state:
    if (used_out == 0) {
        goto decomp_state;
    }
    first_used = used_first(cur_out, used_out, fifo_out_len);
    last_used = used_last(cur_out, used_out, fifo_out_len);
    if (first_used > 0) {
        memcpy(obuf + opos, fifo_out + cur_out, first_used);
        opos += first_used;
        used_out -= first_used;
        cur_out = (cur_out + first_used) % fifo_out_len;
    }
    if (last_used > 0) {
        memcpy(obuf + opos, fifo_out, last_used);
        opos += last_used;
        used_out -= last_used;
        cur_out = (cur_out + last_used) % fifo_out_len;
    }

decomp_state:
    if (is_final) {
        goto finish_state;
    }
    append_dde(ddl_in, NULL, 0);
    append_dde(ddl_out, NULL, 0);
    if (resuming) {
        fc = NX_GZIP_FC_DECOMPRESS_RESUME;
        memcpy(cmd + IN_CRC, cmd + OUT_CRC, 4);
        memcpy(cmd + IN_ADLER, cmd + OUT_ADLER, 4);
        history_len = (history_len + 15) / 16;
        PUT_HISTLEN(cmd, history_len);
        history_len *= 16;
        if (history_len > 0) {
            cnt_resume++;
            if (cur_out >= history_len) {
                append_dde(ddl_in, fifo_out + (cur_out - history_len),
                           history_len);
            } else {
                cnt_hist_wrap++;
                append_dde(ddl_in, fifo_out + (fifo_out_len + cur_out) -
                           history_len, history_len - cur_out);
                append_dde(ddl_in, fifo_out, cur_out);
            }
        }
    } else {
        fc = NX_GZIP_FC_DECOMPRESS;
        history_len = 0;
        stl_be_p(cmd + IN_HISTLEN, 0);
        total_out = 0;
        stl_be_p(cmd + IN_CRC, 0);
        stl_be_p(cmd + IN_ADLER, 1);
        stl_be_p(cmd + OUT_CRC, 0);
        stl_be_p(cmd + OUT_ADLER, 1);
        last_comp_ratio = 100;
    }
    stl_be_p(cmd + CRB_FC, 0);
    putnn(cmd, CRB_FC, 31, 8, fc);

    first_used = used_first(cur_in, used_in, fifo_in_len);
    last_used = used_last(cur_in, used_in, fifo_in_len);
    if (first_used > 0) {
        append_dde(ddl_in, fifo_in + cur_in, first_used);
    }
    if (last_used > 0) {
        append_dde(ddl_in, fifo_in, last_used);
    }
    first_free = free_first(cur_out, used_out, fifo_out_len);
    last_free = free_last(cur_out, used_out, fifo_out_len);
    int target_max = MAX(0, fifo_out_len - used_out - (1 << 16));

    first_free = MIN(target_max, first_free);
    if (first_free > 0) {
        first_offset = cur_out + used_out;
        append_dde(ddl_out, fifo_out + first_offset, first_free);
    }
    if (last_free > 0) {
        last_free = MIN(target_max - first_free, last_free);
        if (last_free > 0) {
            last_offset = used_last(cur_out, used_out, fifo_out_len);
            append_dde(ddl_out, fifo_out + last_offset, last_free);
        }
    }
    source_sz = ldl_be_p(ddl_in + 4);
    if (!(source_sz > history_len)) {
        printf("gunz_error=assert source_sz > history_len\n");
        return 1;
    }
    source_sz -= history_len;
    source_sz_estimate = ((uint64_t)target_max * last_comp_ratio * 3UL) / 4000;
    if (source_sz_estimate < source_sz) {
        source_sz = source_sz_estimate;
        target_sz_estimate = target_max;
    } else {
        target_sz_estimate = ((uint64_t)source_sz * 1000UL) /
                             (last_comp_ratio + 1);
        target_sz_estimate = MIN(2 * target_sz_estimate, target_max);
    }
    source_sz += history_len;
    pgfault_retries = 500;

restart_nx:
    stl_be_p(ddl_in + 4, source_sz);
    touch(cmd, CMD_SIZE);
    touch_dde(ddl_in, 0);
    touch_dde(ddl_out, target_sz_estimate);
    maybe_evict(fifo_in + cur_in, fifo_out + (cur_out + used_out) % fifo_out_len);

    /* nx_submit_job() */
    memset(cmd + CSB, 0, 16);
    memcpy(cmd + CRB_SRC, ddl_in, 16);
    memcpy(cmd + CRB_TGT, ddl_out, 16);
    stq_be_p(cmd + CRB_CSBADDR, ea_of(cmd + CSB) & ~15ULL);
    stl_be_p(cmd + OUT_SPBC_COMP, 0);
    stl_be_p(cmd + OUT_SPBC_COUNT, 0);
    stl_be_p(cmd + OUT_SPBC_DECOMP, 0);
    stl_be_p(cmd + OUT_CRC, 0);
    stl_be_p(cmd + OUT_ADLER, 1);
    cc = submit(cmd);

    switch (cc) {
    case NX_GZIP_CC_AT_FAULT:
        if (pgfault_retries == 500) {
            --pgfault_retries;
            goto restart_nx;
        } else if (pgfault_retries > 0) {
            if (source_sz > page_sz) {
                source_sz = MAX(source_sz / 2, page_sz);
            }
            --pgfault_retries;
            goto restart_nx;
        }
        printf("gunz_error=too many page fault retries\n");
        return 1;
    case NX_GZIP_CC_DATA_LENGTH:
        nx_ce = GET_CE(cmd) >> 5;
        if (!(nx_ce & 2) && (nx_ce & 4)) {
            sfbt = GET_SFBT(cmd);
            subc = GET_SUBC(cmd);
            spbc = ldl_be_p(cmd + OUT_SPBC_DECOMP);
            tpbc = GET_TPBC(cmd);
            if (!(target_max >= tpbc)) {
                printf("gunz_error=assert target_max >= tpbc\n");
                return 1;
            }
            cnt_cc3++;
            goto ok_cc3;
        }
        printf("gunz_error=history length error cc= %d\n", cc);
        return 1;
    case NX_GZIP_CC_TARGET_SPACE:
        cnt_cc13++;
        source_sz = ((source_sz - history_len + 2) / 2) + history_len;
        goto restart_nx;
    case NX_GZIP_CC_OK:
        cnt_cc0++;
        spbc = ldl_be_p(cmd + OUT_SPBC_DECOMP);
        tpbc = GET_TPBC(cmd);
        if (!(spbc >= history_len)) {
            printf("gunz_error=assert spbc >= history_len\n");
            return 1;
        }
        source_sz = spbc - history_len;
        goto offsets_state;
    default:
        printf("gunz_error=error: cc= %d\n", cc);
        return 1;
    }

ok_cc3:
    sfbt_seen[sfbt & 15]++;
    if (!(spbc > history_len)) {
        printf("gunz_error=assert spbc > history_len\n");
        return 1;
    }
    source_sz = spbc - history_len;
    switch (sfbt) {
        int dhtlen;

    case 0x0:
        source_sz = source_sz - subc / 8;
        is_final = 1;
        break;
    case 0x8:
    case 0x9:
        source_sz = source_sz - ((subc + 7) / 8);
        stl_be_p(cmd + IN_HISTLEN, 0);
        stl_be_p(cmd + IN_SFBT, 0);
        PUT_SUBC(cmd, subc % 8);
        PUT_SFBT(cmd, sfbt);
        PUT_REMBYTE(cmd, GET_REMBYTE(cmd));
        break;
    case 0xA:
    case 0xB:
        source_sz = source_sz - ((subc + 7) / 8);
        stl_be_p(cmd + IN_HISTLEN, 0);
        stl_be_p(cmd + IN_SFBT, 0);
        PUT_SUBC(cmd, subc % 8);
        PUT_SFBT(cmd, sfbt);
        break;
    case 0xC:
    case 0xD:
        source_sz = source_sz - ((subc + 7) / 8);
        stl_be_p(cmd + IN_HISTLEN, 0);
        stl_be_p(cmd + IN_SFBT, 0);
        PUT_SUBC(cmd, subc % 8);
        PUT_SFBT(cmd, sfbt);
        dhtlen = GET_DHTLEN(cmd);
        PUT_DHTLEN(cmd, dhtlen);
        if (!(dhtlen >= 42)) {
            printf("gunz_error=assert dhtlen >= 42\n");
            return 1;
        }
        dhtlen = (dhtlen + 127) / 128;
        while (dhtlen > 0) {
            --dhtlen;
            memcpy(cmd + IN_DHT + 16 * dhtlen, cmd + OUT_DHT + 16 * dhtlen, 16);
        }
        break;
    case 0xE:
    case 0xF:
        source_sz = source_sz - ((subc + 7) / 8);
        stl_be_p(cmd + IN_HISTLEN, 0);
        stl_be_p(cmd + IN_SFBT, 0);
        PUT_SUBC(cmd, subc % 8);
        PUT_SFBT(cmd, sfbt);
        if (is_eof && (source_sz == 0)) {
            is_final = 1;
        }
    }

offsets_state:
    used_in -= source_sz;
    cur_in = (cur_in + source_sz) % fifo_in_len;
    used_out += tpbc;
    if (used_out > fifo_out_len) {
        printf("gunz_error=assert used_out <= fifo_out_len\n");
        return 1;
    }
    total_out += tpbc;
    history_len = (total_out > window_max) ? window_max : total_out;
    last_comp_ratio = (1000UL * ((uint64_t)source_sz + 1)) /
                      ((uint64_t)tpbc + 1);
    last_comp_ratio = MAX(MIN(1000UL, last_comp_ratio), 1);
    resuming = 1;

finish_state:
    if (is_final) {
        if (used_out) {
            goto write_state;
        } else if (used_in < 8) {
            printf("gunz_error=checksum missing\n");
            return 1;
        } else {
            unsigned char tail[8];
            uint32_t cksum, isize, raw;
            int i;

            for (i = 0; i < 8; i++) {
                tail[i] = fifo_in[(cur_in + i) % fifo_in_len];
            }
            cksum = tail[0] | tail[1] << 8 | tail[2] << 16 |
                    (uint32_t)tail[3] << 24;
            isize = tail[4] | tail[5] << 8 | tail[6] << 16 |
                    (uint32_t)tail[7] << 24;
            memcpy(&raw, cmd + OUT_CRC, 4);     /* cmdp->cpb.out_crc */
            printf("computed_checksum=%08x\nstored_checksum=%08x\n", raw, cksum);
            write_file(out, obuf, opos);
            printf("cc3=%ld\ncc13=%ld\ncc0=%ld\nresumes=%ld\nhist_wraps=%ld\n",
                   cnt_cc3, cnt_cc13, cnt_cc0, cnt_resume, cnt_hist_wrap);
            for (i = 0; i < 16; i++) {
                if (sfbt_seen[i]) {
                    printf("sfbt_%x=%ld\n", i, sfbt_seen[i]);
                }
            }
            if (cksum == raw && isize == (uint32_t)total_out) {
                printf("gunz_ok=1\n");
                return 0;
            }
            printf("gunz_error=checksum mismatch\n");
            return 1;
        }
    }
    goto read_state;
}

/* ---- single requests ---- */

static int cmd_deflate(int fc, const char *in, const char *out, uint32_t hist)
{
    size_t len;
    uint8_t *data = read_file(in, &len);
    uint8_t *cmd = galloc(CMD_SIZE, CMD_SIZE);
    uint8_t *src = galloc(len + 1, 16), *dst = galloc(2 * len + 1024, 16);
    int cc, i;

    memcpy(src, data, len);
    memset(cmd, 0, CMD_SIZE);
    putnn(cmd, CRB_FC, 31, 8, fc);
    PUT_HISTLEN(cmd, hist / 16);
    stl_be_p(cmd + IN_ADLER, 1);
    stq_be_p(cmd + CRB_CSBADDR, ea_of(cmd + CSB));
    dde_set(cmd + CRB_SRC, 0, len, ea_of(src));
    dde_set(cmd + CRB_TGT, 0, 2 * len + 1024, ea_of(dst));
    if (fc & 2) {
        /*
         * A table of our own (not zlib's): literal/length lengths close to
         * the fixed code (280 and 281 get 7 bits so that the 286 codes form
         * a complete set, as zlib's inflate demands), distance codes 0-1 of 4 bits and 2-29 of 5 bits, sent
         * as plain code-length symbols with every code-length code 4 or 5
         * bits long. Written as a deflate dynamic block header.
         */
        uint8_t lens[318], cl[19];
        static const uint8_t ord[19] = { 16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                         11, 4, 12, 3, 13, 2, 14, 1, 15 };
        uint8_t *t = cmd + IN_DHT;
        uint32_t nb = 0, codes[19], next[6] = { 0 }, c = 0, cnt[6] = { 0 };
        int b;

#define PUTB(v, n) do { for (b = 0; b < (n); b++, nb++) \
        t[nb >> 3] |= (((v) >> b) & 1) << (nb & 7); } while (0)
        for (i = 0; i < 288; i++) {
            lens[i] = i < 144 ? 8 : i < 256 ? 9 : i < 282 ? 7 : 8;
        }
        for (i = 0; i < 30; i++) {
            lens[286 + i] = i < 2 ? 4 : 5;
        }
        for (i = 0; i < 19; i++) {
            cl[i] = i < 13 ? 4 : 5;
            cnt[cl[i]]++;
        }
        for (b = 1; b < 6; b++) {
            c = (c + cnt[b - 1]) << 1;
            next[b] = c;
        }
        cnt[0] = 0;
        for (i = 0; i < 19; i++) {
            uint32_t v = next[cl[i]]++, r = 0, k;

            for (k = 0; k < cl[i]; k++) {
                r |= ((v >> k) & 1) << (cl[i] - 1 - k);
            }
            codes[i] = r;
        }
        memset(t, 0, 288);
        PUTB(1u | (2u << 1), 3);        /* BFINAL 1 (the engine clears it) */
        PUTB(286 - 257, 5);
        PUTB(30 - 1, 5);
        PUTB(19 - 4, 4);
        for (i = 0; i < 19; i++) {
            PUTB(cl[ord[i]], 3);
        }
        for (i = 0; i < 316; i++) {
            int l = i < 286 ? lens[i] : lens[i];

            PUTB(codes[l], cl[l]);
        }
        PUT_DHTLEN(cmd, nb);
        printf("dhtlen=%u\n", nb);
#undef PUTB
    }
    cc = submit(cmd);
    printf("cc=%d\nce=0x%02x\ntpbc=%u\ntebc=%u\nspbc=%u\n", cc, GET_CE(cmd),
           GET_TPBC(cmd), GET_TEBC(cmd),
           ldl_be_p(cmd + ((fc & 4) ? OUT_SPBC_COUNT : OUT_SPBC_COMP)));
    printf("crc32=%08x\nadler32=%08x\n", ldl_le_p(cmd + OUT_CRC),
           ldl_be_p(cmd + OUT_ADLER));
    if (fc & 4) {
        uint64_t sum = 0;

        for (i = 0; i < 256; i++) {
            sum += ldl_be_p(cmd + OUT_SPBC_COMP + 4 * i);
        }
        printf("lz_literals=%" PRIu64 "\nlz_eob=%u\n", sum,
               ldl_be_p(cmd + OUT_SPBC_COMP + 4 * 256));
    }
    if (cc == 0 || cc == 64) {
        /* one block: mark it final and close the last byte */
        dst[0] |= 1;
        write_file(out, dst, GET_TPBC(cmd));
    }
    return 0;
}

static int cmd_inflate(const char *in, const char *out, uint64_t tlen, int fc)
{
    size_t len;
    uint8_t *data = read_file(in, &len);
    uint8_t *cmd = galloc(CMD_SIZE, CMD_SIZE);
    uint8_t *src = galloc(len + 1, 16);
    uint8_t *dst = galloc(tlen, 16);
    int cc;

    memcpy(src, data, len);
    memset(cmd, 0, 128);
    memset(cmd + CPB, 0xa5, CMD_SIZE - CPB);
    putnn(cmd, CRB_FC, 31, 8, fc);
    stq_be_p(cmd + CRB_CSBADDR, ea_of(cmd + CSB));
    dde_set(cmd + CRB_SRC, 0, len, ea_of(src));
    dde_set(cmd + CRB_TGT, 0, tlen, ea_of(dst));
    cc = submit(cmd);
    printf("cc=%d\nce=0x%02x\ntpbc=%u\nspbc=%u\nsfbt=%u\nsubc=%u\n"
           "crc32=%08x\nadler32=%08x\n", cc, GET_CE(cmd), GET_TPBC(cmd),
           ldl_be_p(cmd + OUT_SPBC_DECOMP), GET_SFBT(cmd), GET_SUBC(cmd),
           ldl_le_p(cmd + OUT_CRC), ldl_be_p(cmd + OUT_ADLER));
    if (cc == 0 || cc == 3) {
        write_file(out, dst, GET_TPBC(cmd));
    }
    return 0;
}

int main(int argc, char **argv);
int run_cases(void);

int main(int argc, char **argv)
{
    mem_init((getenv("NX_MEM_MB") ? strtoull(getenv("NX_MEM_MB"), NULL, 0) : 256)
             << 20);
    if (getenv("NX_MAX_LEN")) {
        max_len = strtoull(getenv("NX_MAX_LEN"), NULL, 0);
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "gzfht")) {
        uint32_t chunk = argc > 4 ? strtoul(argv[4], NULL, 0) : 1 << 22;

        evict_every = argc > 5 ? atol(argv[5]) : 0;
        return cmd_gzfht(argv[2], argv[3], chunk) ||
               printf("jobs=%ld\nnx_faults=%ld\n", n_jobs, n_nx_faults) < 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "gunz")) {
        int fi = argc > 5 ? atoi(argv[4]) : 1 << 24;
        int fo = argc > 5 ? atoi(argv[5]) : 1 << 24;
        int rc;

        evict_every = argc > 6 ? atol(argv[6]) : 0;
        rc = cmd_gunz(argv[2], argv[3], fi, fo);
        printf("jobs=%ld\nnx_faults=%ld\n", n_jobs, n_nx_faults);
        return rc;
    }
    if (argc >= 5 && !strcmp(argv[1], "deflate")) {
        return cmd_deflate(strtol(argv[2], NULL, 0), argv[3], argv[4],
                           argc > 5 ? atoi(argv[5]) : 0);
    }
    if (argc >= 4 && !strcmp(argv[1], "inflate")) {
        return cmd_inflate(argv[2], argv[3],
                           argc > 4 ? strtoull(argv[4], NULL, 0) : 64 << 20,
                           argc > 5 ? strtol(argv[5], NULL, 0) :
                           NX_GZIP_FC_DECOMPRESS);
    }
    if (argc >= 2 && !strcmp(argv[1], "cases")) {
        return run_cases();
    }
    fprintf(stderr, "usage: see the comment at the top of nx_host_test.c\n");
    return 2;
}

/* ---- fault and hostile-CRB cases ---- */

static void kv(const char *name, const char *fmt, ...)
{
    va_list ap;

    printf("%s.", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* A compress request over src/dst with the CSB/CPB of cmd; run it once. */
static NXGzipResult run_once(uint8_t *cmd, int fc, void *src, uint32_t slen,
                             void *dst, uint32_t dlen)
{
    memset(cmd, 0, 128);
    memset(cmd + CSB, 0, 16);
    putnn(cmd, CRB_FC, 31, 8, fc);
    stq_be_p(cmd + CRB_CSBADDR, ea_of(cmd + CSB));
    dde_set(cmd + CRB_SRC, 0, slen, ea_of(src));
    dde_set(cmd + CRB_TGT, 0, dlen, ea_of(dst));
    return nx_gzip_run(&ops, NULL, cmd, max_len);
}

static int inflate_check(const uint8_t *z, uint32_t zlen, const uint8_t *orig,
                         uint32_t olen)
{
    z_stream s = { 0 };
    uint8_t *o = malloc(olen + 16);
    int ok;

    inflateInit2(&s, -15);
    s.next_in = (uint8_t *)z;
    s.avail_in = zlen;
    s.next_out = o;
    s.avail_out = olen + 16;
    inflate(&s, Z_FINISH);
    ok = s.total_out == olen && !memcmp(o, orig, olen);
    inflateEnd(&s);
    free(o);
    return ok;
}

static void fault_case(const char *name, uint8_t *cmd, uint8_t *src,
                       uint8_t *dst, uint32_t n, void *absent, uint64_t alen,
                       uint64_t expect_ea)
{
    NXGzipResult r;
    uint8_t before[16];

    memset(cmd + CSB, 0, 16);
    memcpy(before, cmd + CSB, 16);
    set_pages(absent, alen, PG_ABSENT);
    r = run_once(cmd, NX_GZIP_FC_COMPRESS_FHT, src, n, dst, 2 * n);
    kv(name, "status=%s", r.status == NX_GZIP_FAULTED ? "faulted" : "completed");
    kv(name, "fault_ea_delta=%lld", (long long)(r.fault_ea - expect_ea));
    kv(name, "fault_write=%d", r.fault_write);
    kv(name, "csb_untouched=%d", !memcmp(before, cmd + CSB, 16));
    set_pages(absent, alen, PG_PRESENT);    /* touch, resubmit */
    r = run_once(cmd, NX_GZIP_FC_COMPRESS_FHT, src, n, dst, 2 * n);
    kv(name, "retry_status=%s",
       r.status == NX_GZIP_FAULTED ? "faulted" : "completed");
    kv(name, "retry_cc=%d", cmd[CSB + 2]);
    kv(name, "retry_v=0x%02x", cmd[CSB]);
    kv(name, "retry_roundtrip=%d",
       inflate_check(dst, GET_TPBC(cmd), src, n) &&
       ldl_be_p(cmd + OUT_SPBC_COMP) == n);
}

int run_cases(void)
{
    uint8_t *cmd = galloc(CMD_SIZE, CMD_SIZE);
    uint32_t n = 5 * PAGE + 123, i;
    uint8_t *src = galloc(n, PAGE), *dst = galloc(2 * n + PAGE, PAGE);
    uint8_t *list = galloc(PAGE, PAGE);
    NXGzipResult r;

    for (i = 0; i < n; i++) {
        src[i] = "the quick brown fox jumps over the lazy dog"[i % 43] ^
                 (uint8_t)(i / 1000);
    }
    /* faults on a source page, a target page, the CSB and the CPB */
    fault_case("src_fault", cmd, src, dst, n, src + 3 * PAGE + 10, 1,
               ea_of(src + 3 * PAGE));
    fault_case("dst_fault", cmd, src, dst, n, dst, 1, ea_of(dst));
    {
        /*
         * A request block straddling two pages: CRB and CSB at the end of
         * one page, the CPB at the start of the next, so that each can be
         * absent on its own.
         */
        uint8_t *c2 = galloc(2 * PAGE, PAGE) + PAGE - CPB;

        fault_case("csb_fault", c2, src, dst, n, c2 + CSB, 16, ea_of(c2 + CSB));
        fault_case("cpb_fault", c2, src, dst, n, c2 + CPB, 1, ea_of(c2 + CPB));
        /* CPB output (qw24 onwards) on a page of its own */
        c2 = galloc(2 * PAGE, PAGE) + PAGE - CPB - 0x180;
        fault_case("cpb_out_fault", c2, src, dst, n, c2 + OUT_ADLER, 1,
                   ea_of(c2 + OUT_ADLER));
    }

    /* an indirect source list whose page is absent */
    dde_set(list, 0, 1000, ea_of(src));
    dde_set(list + 16, 0, n - 1000, ea_of(src + 1000));
    set_pages(list, 1, PG_ABSENT);
    memset(cmd, 0, 128);
    memset(cmd + CSB, 0, 16);
    stq_be_p(cmd + CRB_CSBADDR, ea_of(cmd + CSB));
    dde_set(cmd + CRB_SRC, 2, n, ea_of(list));
    dde_set(cmd + CRB_TGT, 0, 2 * n, ea_of(dst));
    r = nx_gzip_run(&ops, NULL, cmd, 0);
    kv("list_fault", "status=%s", r.status == NX_GZIP_FAULTED ? "faulted" : "completed");
    kv("list_fault", "fault_ea_delta=%lld", (long long)(r.fault_ea - ea_of(list)));
    kv("list_fault", "csb_v=0x%02x", cmd[CSB]);
    set_pages(list, 1, PG_PRESENT);
    r = nx_gzip_run(&ops, NULL, cmd, 0);
    kv("list_fault", "retry_cc=%d", cmd[CSB + 2]);
    kv("list_fault", "retry_roundtrip=%d", inflate_check(dst, GET_TPBC(cmd), src, n));

    /* hostile CRBs */
#define HOSTILE(name, setup) do { \
        memset(cmd, 0, 128); \
        memset(cmd + CSB, 0, 16); \
        stq_be_p(cmd + CRB_CSBADDR, ea_of(cmd + CSB)); \
        dde_set(cmd + CRB_SRC, 0, n, ea_of(src)); \
        dde_set(cmd + CRB_TGT, 0, 2 * n, ea_of(dst)); \
        setup; \
        r = nx_gzip_run(&ops, NULL, cmd, max_len); \
        kv(name, "status=%s", r.status == NX_GZIP_FAULTED ? "faulted" : "completed"); \
        kv(name, "cc=%d", cmd[CSB + 2]); \
        kv(name, "ce=0x%02x", cmd[CSB + 3]); \
        kv(name, "v=0x%02x", cmd[CSB]); \
        kv(name, "fault_ea=0x%llx", (unsigned long long)r.fault_ea); \
        kv(name, "fault_off=0x%llx", \
           (unsigned long long)(r.fault_ea - ea_of(mem))); \
    } while (0)

    HOSTILE("bad_fc_1e", cmd[3] = 0x1e);
    HOSTILE("bad_fc_ff", cmd[3] = 0xff);
    HOSTILE("bad_fc_18", cmd[3] = 0x18);
    /* indirect DDE pointing at itself (the CRB's own source DDE) */
    HOSTILE("self_loop", dde_set(cmd + CRB_SRC, 1, n, ea_of(cmd + CRB_SRC)));
    /* list entry pointing back at the list (two-entry loop) */
    HOSTILE("list_loop", (dde_set(list, 2, n, ea_of(list)),
                          dde_set(list + 16, 0, n, ea_of(src)),
                          dde_set(cmd + CRB_SRC, 2, n, ea_of(list))));
    /* 255 entries of 1 byte but a byte count of n: list too short */
    HOSTILE("short_list", ({
        for (i = 0; i < 255; i++) {
            dde_set(list + 16 * i, 0, 1, ea_of(src + i));
        }
        dde_set(cmd + CRB_SRC, 255, n, ea_of(list));
    }));
    /* 255 entries covering everything: accepted */
    HOSTILE("max_list", ({
        for (i = 0; i < 255; i++) {
            dde_set(list + 16 * i, 0, i < 254 ? 16 : n - 254 * 16,
                    ea_of(src + 16 * i));
        }
        dde_set(cmd + CRB_SRC, 255, n, ea_of(list));
    }));
    kv("max_list", "roundtrip=%d", inflate_check(dst, GET_TPBC(cmd), src, n));
    /* huge byte counts: direct source of 4 GiB - 1 past guest memory */
    /* 4 GiB - 1 from 8 KiB before the end of guest memory */
    HOSTILE("huge_src", dde_set(cmd + CRB_SRC, 0, 0xffffffffu,
                                ea_of(mem + mem_size - 2 * PAGE)));
    kv("huge_src", "mem_size=0x%llx", (unsigned long long)mem_size);
    HOSTILE("wrap_src", dde_set(cmd + CRB_SRC, 0, 0x1000, ~0ULL - 0x10));
    HOSTILE("huge_list_entry", (dde_set(list, 0, 0xffffffffu, ea_of(src)),
                                dde_set(cmd + CRB_SRC, 1, n, ea_of(list))));
    /* target too small for the compressed data */
    HOSTILE("tiny_target", dde_set(cmd + CRB_TGT, 0, 10, ea_of(dst)));
    HOSTILE("zero_target", dde_set(cmd + CRB_TGT, 0, 0, ea_of(dst)));
    /* history longer than 32 KiB, and longer than the source */
    HOSTILE("hist_too_long", (cmd[3] = NX_GZIP_FC_COMPRESS_RESUME_FHT,
                              PUT_HISTLEN(cmd, 2049)));
    HOSTILE("hist_past_src", (cmd[3] = NX_GZIP_FC_COMPRESS_RESUME_FHT,
                              PUT_HISTLEN(cmd, (n + 32) / 16)));
    PUT_HISTLEN(cmd, 0);
    /* a DHT that is not a dynamic header */
    HOSTILE("bad_dht", (cmd[3] = NX_GZIP_FC_COMPRESS_DHT,
                        memset(cmd + IN_DHT, 0xff, 288), PUT_DHTLEN(cmd, 300)));
    /* garbage to decompress */
    HOSTILE("garbage_inflate", (cmd[3] = NX_GZIP_FC_DECOMPRESS,
                                memset(cmd + IN_SFBT, 0, 4)));
    {
        /* a stored block with a bad length complement, and BTYPE 3 */
        static uint8_t bad1[] = { 0x00, 0x05, 0x00, 0x00, 0x00, 'a' };
        static uint8_t bad2[] = { 0x07, 0x00 };
        uint8_t *b = galloc(16, 16);

        memcpy(b, bad1, sizeof(bad1));
        HOSTILE("bad_stored", (cmd[3] = NX_GZIP_FC_DECOMPRESS,
                               dde_set(cmd + CRB_SRC, 0, sizeof(bad1), ea_of(b))));
        b = galloc(16, 16);
        memcpy(b, bad2, sizeof(bad2));
        HOSTILE("btype3", (cmd[3] = NX_GZIP_FC_DECOMPRESS,
                           dde_set(cmd + CRB_SRC, 0, sizeof(bad2), ea_of(b))));
    }
    {
        /* a distance before the start of the output (fixed block) */
        uint8_t *b = galloc(16, 16);

        /* BFINAL 1, BTYPE 01, length code 257 (0000001), dist code 0 */
        memset(b, 0, 16);
        b[0] = 0x03;    /* bits: 1,1,0 then code 257 = 0000001 (MSB first) */
        b[1] = 0x02;
        HOSTILE("far_distance", (cmd[3] = NX_GZIP_FC_DECOMPRESS,
                                 dde_set(cmd + CRB_SRC, 0, 3, ea_of(b))));
    }
    {
        /* fixed block with literal/length symbol 286 (code 11000110) */
        uint8_t *b = galloc(16, 16);

        memset(b, 0, 16);
        b[0] = 0x1b;
        b[1] = 0x03;
        HOSTILE("sym286", (cmd[3] = NX_GZIP_FC_DECOMPRESS,
                           dde_set(cmd + CRB_SRC, 0, 2, ea_of(b))));
    }
    /* CSB pointing outside guest memory: a write fault at that address */
    HOSTILE("csb_outside", stq_be_p(cmd + CRB_CSBADDR, 0x10));
    /* max_processed_len smaller than the source */
    max_len = 4096;
    HOSTILE("limit_compress", (void)0);
    kv("limit_compress", "spbc=%u", ldl_be_p(cmd + OUT_SPBC_COMP));
    kv("limit_compress", "roundtrip=%d",
       inflate_check(dst, GET_TPBC(cmd), src, 4096));
    max_len = 0;
    printf("cases_done=1\n");
    return 0;
}
