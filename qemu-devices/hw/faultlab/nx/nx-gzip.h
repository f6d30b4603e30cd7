/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab NX-GZIP engine: the POWER9 NX GZIP function, front-end neutral.
 *
 * The engine takes the 128-byte big-endian CRB a front end received (PowerNV
 * VAS paste, pseries hcall path), reads and writes guest memory only through
 * the front end's NXGzipMemOps (which translate effective addresses and
 * report faults), and either completes the request (target data, CPB output,
 * then the CSB with its valid byte written last) or stops at the first
 * translation fault without touching the CSB, so that the front end can
 * build the fault CRB (hardware-contract.md A.8).
 *
 * Layouts follow tools/testing/selftests/powerpc/nx-gzip/include/nxu.h
 * (the CPB sits right after the 16-byte CSB).
 */
#ifndef HW_FAULTLAB_NX_GZIP_H
#define HW_FAULTLAB_NX_GZIP_H

#define NX_GZIP_CRB_SIZE            128

/* Function codes (nxu.h, UM table 6-2); bit 0 selects the byte-count limit. */
#define NX_GZIP_FC_LIMIT_MASK       0x01
#define NX_GZIP_FC_COMPRESS_FHT     0x00
#define NX_GZIP_FC_COMPRESS_DHT     0x02
#define NX_GZIP_FC_COMPRESS_FHT_COUNT 0x04
#define NX_GZIP_FC_COMPRESS_DHT_COUNT 0x06
#define NX_GZIP_FC_COMPRESS_RESUME_FHT 0x08
#define NX_GZIP_FC_COMPRESS_RESUME_DHT 0x0a
#define NX_GZIP_FC_COMPRESS_RESUME_FHT_COUNT 0x0c
#define NX_GZIP_FC_COMPRESS_RESUME_DHT_COUNT 0x0e
#define NX_GZIP_FC_DECOMPRESS       0x10
#define NX_GZIP_FC_DECOMPRESS_SINGLE_BLK_N_SUSPEND 0x12
#define NX_GZIP_FC_DECOMPRESS_RESUME 0x14
#define NX_GZIP_FC_DECOMPRESS_RESUME_SINGLE_BLK_N_SUSPEND 0x16
#define NX_GZIP_FC_WRAP             0x1e

/*
 * CSB completion codes (nxu.h ERR_NX_*). What the engine reports (ce in
 * parentheses; TPBC is valid only with 0x20):
 *   0   all source processed (0x20)
 *   3   partial: decompression stopped at the end of the source or at
 *       max_processed_len, or after the final block with source left over
 *       (0xa0, resume state in the CPB); compression stopped at
 *       max_processed_len (0xa0, one complete block for spbc bytes);
 *       history longer than 32 KiB or than the source (0x40)
 *   13  target too small (0x40; nothing written, SPBC/TPBC invalid)
 *   17  function code not implemented (WRAP 0x1E, undefined codes) (0x40)
 *   30  DDE list entry that is itself indirect (this includes lists that
 *       loop back to an indirect DDE), or a buffer that wraps at 2^64 (0x40)
 *   33  indirect DDE byte count larger than its list (0x40)
 *   64  compression output larger than the input; output valid (0x20)
 *   66  Huffman code missing (decompress), or a literal without a code in
 *       the program's DHT (compress) (0x40)
 *   67  distance beyond history and output (0x40)
 *   68  malformed block header, stored length, or DHT (0x40)
 * The choice of code for each hostile case is the engine's: these numbers
 * come from nxu.h, not from checking the NX GZIP User's Manual's tables.
 */
#define NX_GZIP_CC_OK               0
#define NX_GZIP_CC_DATA_LENGTH      3
#define NX_GZIP_CC_TARGET_SPACE     13
#define NX_GZIP_CC_EXCESSIVE_DDE    14
#define NX_GZIP_CC_SUBFUNCTION      17
#define NX_GZIP_CC_INVALID_DDE      30
#define NX_GZIP_CC_DDE_OVERFLOW     33
#define NX_GZIP_CC_TPBC_GT_SPBC     64
#define NX_GZIP_CC_MISSING_CODE     66
#define NX_GZIP_CC_INVALID_DIST     67
#define NX_GZIP_CC_INVALID_DHT      68
#define NX_GZIP_CC_AT_FAULT         250

/* CSB flags byte and completion extension (crb.h). */
#define NX_GZIP_CSB_V               0x80
#define NX_GZIP_CE_PARTIAL          0x80
#define NX_GZIP_CE_TERMINATION      0x40
#define NX_GZIP_CE_TPBC_VALID       0x20

/* CRB csb_addr low bits. */
#define NX_GZIP_CSB_ADDR_MASK       (~0xfULL)
#define NX_GZIP_CRB_C               0x8
#define NX_GZIP_CRB_AT              0x2
#define NX_GZIP_CRB_M               0x1

/* CPB layout, offsets from the CPB (= CSB address + 16). */
#define NX_GZIP_CPB_OFFSET          0x10
#define NX_GZIP_CPB_IN_ADLER        0x000
#define NX_GZIP_CPB_IN_CRC          0x004
#define NX_GZIP_CPB_IN_HISTLEN      0x008   /* histlen bits 0:11, subc 29:31 */
#define NX_GZIP_CPB_IN_SFBT         0x00c   /* sfbt 12:15, rembytecnt/dhtlen */
#define NX_GZIP_CPB_IN_DHT          0x010
#define NX_GZIP_CPB_IN_SIZE         0x130
#define NX_GZIP_CPB_OUT_ADLER       0x180
#define NX_GZIP_CPB_OUT_CRC         0x184
#define NX_GZIP_CPB_OUT_TEBC        0x188   /* tebc bits 13:15, subc 16:31 */
#define NX_GZIP_CPB_OUT_SFBT        0x18c   /* sfbt 12:15, rembytecnt/dhtlen */
#define NX_GZIP_CPB_OUT_SPBC_COMP   0x190
#define NX_GZIP_CPB_OUT_DHT         0x190
#define NX_GZIP_CPB_OUT_LZCOUNT     0x190
#define NX_GZIP_CPB_OUT_SPBC_DECOMP 0x2b0
#define NX_GZIP_CPB_OUT_SPBC_COUNT  0x680

#define NX_GZIP_DHT_MAX_BYTES       288
#define NX_GZIP_LZCOUNTS            (286 + 30)

/*
 * Engine limits. A DDE count is one byte, so an indirect list holds at most
 * 255 entries; lists are one level deep. History is at most 32 KiB.
 * The host buffers are bounded by NX_GZIP_MAX_BYTES whatever the guest asks.
 */
#define NX_GZIP_MAX_DDE_COUNT       255
#define NX_GZIP_MAX_HIST_QW         2048
#define NX_GZIP_MAX_BYTES           (256u * 1024 * 1024)

/*
 * Guest memory access. Return 0 on success; on a translation fault return
 * non-zero and store the exact effective address that could not be
 * translated in *fault_ea (the first faulting byte).
 */
typedef struct NXGzipMemOps {
    int (*read)(void *opaque, uint64_t ea, void *buf, uint64_t len,
                uint64_t *fault_ea);
    int (*write)(void *opaque, uint64_t ea, const void *buf, uint64_t len,
                 uint64_t *fault_ea);
} NXGzipMemOps;

typedef enum NXGzipStatus {
    NX_GZIP_COMPLETED,      /* CSB written with cc/ce/tpbc below */
    NX_GZIP_FAULTED,        /* CSB not written; see fault_ea */
} NXGzipStatus;

typedef struct NXGzipResult {
    NXGzipStatus status;
    uint8_t fc;             /* function code from the CCW */
    uint8_t cc;             /* completion code written to the CSB */
    uint8_t ce;             /* completion extension written to the CSB */
    uint32_t tpbc;          /* CSB count */
    uint32_t spbc;          /* source bytes processed, history included */
    uint64_t csb_ea;        /* csb_addr with the low 4 bits cleared */
    bool at;                /* CRB AT bit (real addresses requested) */
    bool ccb_valid;         /* CRB C bit: the front end handles the CCB */
    uint8_t ccb_cm;
    uint64_t ccb_value;
    uint64_t ccb_addr;
    /* valid when status == NX_GZIP_FAULTED */
    uint64_t fault_ea;
    bool fault_write;
} NXGzipResult;

/*
 * Run one CRB. max_processed_len limits the source bytes (history excluded)
 * one request may process; 0 means no limit beyond NX_GZIP_MAX_BYTES.
 *
 * Access order: CPB input (CSB + 16, 0x130 bytes), indirect DDE lists,
 * source (history first), then target data, CPB output, and the CSB (bytes
 * 1..15, then byte 0). The first access that faults ends the request; the
 * target may then hold partial data, the CSB is untouched, and running the
 * same CRB again after the page is made present redoes the whole request.
 *
 * Left to the front end: the fault CRB (A.8), credits, the CCB (C bit;
 * reported in the result, never written here), and what the AT bit means
 * (reported; the engine passes every address to the mem ops unchanged).
 * The engine keeps no state between calls and has no globals, so front
 * ends may run it from any thread.
 */
NXGzipResult nx_gzip_run(const NXGzipMemOps *ops, void *opaque,
                         const uint8_t crb[NX_GZIP_CRB_SIZE],
                         uint64_t max_processed_len);

#endif /* HW_FAULTLAB_NX_GZIP_H */
