/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab DSA: the operation engine.
 *
 * Executes one DSA work descriptor (not BATCH, not DRAIN: those are the
 * device's business) against memory reached through an accessor that may
 * fail with a page fault. An operation is restartable: after a fault the
 * engine reports how far it got, and the device either writes a partial
 * completion (no block-on-fault) or, once the fault has been resolved
 * (page request answered), runs the descriptor again from @st->done with
 * the carried state.
 *
 * Layouts follow Linux's include/uapi/linux/idxd.h (struct dsa_hw_desc,
 * struct dsa_completion_record), little-endian.
 */
#ifndef HW_FAULTLAB_DSA_OPS_H
#define HW_FAULTLAB_DSA_OPS_H

#include <stdbool.h>
#include <stdint.h>

#define DSA_DESC_SIZE           64
#define DSA_CR_SIZE             32

/* Opcodes (descriptor dword 1 bits 24:31) */
#define DSA_OPCODE_NOOP         0x00
#define DSA_OPCODE_BATCH        0x01
#define DSA_OPCODE_DRAIN        0x02
#define DSA_OPCODE_MEMMOVE      0x03
#define DSA_OPCODE_MEMFILL      0x04
#define DSA_OPCODE_COMPARE      0x05
#define DSA_OPCODE_COMPVAL      0x06
#define DSA_OPCODE_CR_DELTA     0x07
#define DSA_OPCODE_AP_DELTA     0x08
#define DSA_OPCODE_DUALCAST     0x09
#define DSA_OPCODE_CRCGEN       0x10
#define DSA_OPCODE_COPY_CRC     0x11
#define DSA_OPCODE_DIF_CHECK    0x12
#define DSA_OPCODE_DIF_INS      0x13
#define DSA_OPCODE_DIF_STRP     0x14
#define DSA_OPCODE_DIF_UPDT     0x15
#define DSA_OPCODE_CFLUSH       0x20

/* Descriptor flags (dword 1 bits 0:23) */
#define DSA_FLAG_FENCE          0x0001
#define DSA_FLAG_BOF            0x0002
#define DSA_FLAG_CRAV           0x0004
#define DSA_FLAG_RCR            0x0008
#define DSA_FLAG_RCI            0x0010
#define DSA_FLAG_CRSTS          0x0020
#define DSA_FLAG_CR             0x0080
#define DSA_FLAG_CC             0x0100
#define DSA_FLAG_ADDR1_TCS      0x0200
#define DSA_FLAG_ADDR2_TCS      0x0400
#define DSA_FLAG_ADDR3_TCS      0x0800
#define DSA_FLAG_CR_TCS         0x1000
#define DSA_FLAG_STORD          0x2000
#define DSA_FLAG_DRDBK          0x4000
#define DSA_FLAG_DSTS           0x8000

/* Completion status codes (CR byte 0 bits 0:6; bit 7 = fault on write) */
#define DSA_COMP_NONE           0x00
#define DSA_COMP_SUCCESS        0x01
#define DSA_COMP_SUCCESS_PRED   0x02
#define DSA_COMP_PAGE_FAULT_NOBOF 0x03
#define DSA_COMP_PAGE_FAULT_IR  0x04
#define DSA_COMP_BATCH_FAIL     0x05
#define DSA_COMP_BATCH_PAGE_FAULT 0x06
#define DSA_COMP_DR_OFFSET_NOINC 0x07
#define DSA_COMP_DR_OFFSET_ERANGE 0x08
#define DSA_COMP_DIF_ERR        0x09
#define DSA_COMP_BAD_OPCODE     0x10
#define DSA_COMP_INVALID_FLAGS  0x11
#define DSA_COMP_NOZERO_RESERVE 0x12
#define DSA_COMP_XFER_ERANGE    0x13
#define DSA_COMP_DESC_CNT_ERANGE 0x14
#define DSA_COMP_DR_ERANGE      0x15
#define DSA_COMP_OVERLAP_BUFFERS 0x16
#define DSA_COMP_DCAST_ERR      0x17
#define DSA_COMP_DESCLIST_ALIGN 0x18
#define DSA_COMP_INT_HANDLE_INVAL 0x19
#define DSA_COMP_CRA_XLAT       0x1a
#define DSA_COMP_CRA_ALIGN      0x1b
#define DSA_COMP_ADDR_ALIGN     0x1c
#define DSA_COMP_PRIV_BAD       0x1d
#define DSA_COMP_TRAFFIC_CLASS_CONF 0x1e
#define DSA_COMP_PFAULT_RDBA    0x1f
#define DSA_COMP_HW_ERR1        0x20
#define DSA_COMP_HW_ERR_DRB     0x21
#define DSA_COMP_TRANSLATION_FAIL 0x22
#define DSA_COMP_DRAIN_EVL      0x26
#define DSA_COMP_BATCH_EVL_ERR  0x27
#define DSA_COMP_STATUS_WRITE   0x80

/*
 * Memory as the engine sees it: I/O virtual addresses of the descriptor's
 * PASID. Each call stays within one 4 KiB page. A call returns false when
 * the page cannot be accessed (translation fault, or held by a page request);
 * the device's accessor remembers which, the engine only stops there.
 */
typedef struct DSAMemAccess {
    bool (*read)(void *opaque, uint64_t addr, void *buf, uint32_t len);
    bool (*write)(void *opaque, uint64_t addr, const void *buf, uint32_t len);
    void *opaque;
} DSAMemAccess;

/* What carries over from one run of a descriptor to the next. */
typedef struct DSAOpState {
    uint32_t done;              /* bytes completed (0 for a fresh descriptor;
                                   DIF: source bytes of whole blocks) */
    uint32_t crc;               /* CRC accumulated over the first @done bytes */
    uint32_t delta_bytes;       /* CR_DELTA: delta record bytes written */
} DSAOpState;

/* The completion the engine asks the device to write (fields of the CR). */
typedef struct DSAOpResult {
    uint8_t status;             /* DSA_COMP_*, | DSA_COMP_STATUS_WRITE on a
                                   write fault */
    uint8_t result;             /* CR byte 1 (compare: 0 equal, 1 differs;
                                   DIF: dif_status) */
    bool faulted;               /* stopped at a page it could not access */
    bool fault_write;
    uint64_t fault_addr;        /* CR +8: the address that faulted, or for
                                   a compare difference the offset */
    uint32_t bytes_completed;   /* CR +4 */
    uint64_t op_specific;       /* CR +16: crc_val, delta_rec_size,
                                   invalid_flags, DIF source tags */
    uint64_t op_specific2;      /* CR +24: DIF destination tags */
} DSAOpResult;

/*
 * Limits the device applies to the descriptor (from GENCAP/WQCFG).
 */
typedef struct DSAOpLimits {
    uint32_t max_xfer_size;     /* bytes; larger xfer_size: XFER_ERANGE */
    uint64_t opcap[4];          /* supported opcodes: others BAD_OPCODE */
    uint64_t gencap;            /* GENCAP: bit 1 overlap_copy (else an
                                   overlapping MEMMOVE is OVERLAP_BUFFERS),
                                   bit 8 dest_readback (else the DRDBK
                                   flag is an invalid flag) */
} DSAOpLimits;

/*
 * Check the descriptor's opcode, flags, sizes and alignment without touching
 * memory. Returns DSA_COMP_NONE when it may run, or the error status with
 * @r filled (invalid_flags in op_specific where the spec puts them).
 */
uint8_t dsa_op_validate(const uint8_t desc[DSA_DESC_SIZE],
                        const DSAOpLimits *lim, DSAOpResult *r);

/*
 * Run the operation from @st->done. On return @r holds the completion: a
 * final status, or (r->faulted) the fault address, direction and bytes done,
 * with @st updated so a later call resumes there. Never reads or writes
 * outside the descriptor's buffers.
 */
void dsa_op_run(const uint8_t desc[DSA_DESC_SIZE], DSAOpState *st,
                const DSAMemAccess *mem, DSAOpResult *r);

/* Descriptor field accessors (little-endian). */
static inline uint32_t dsa_desc_pasid(const uint8_t *d)
{
    return (d[0] | d[1] << 8 | (uint32_t)d[2] << 16) & 0xfffff;
}

static inline bool dsa_desc_priv(const uint8_t *d)
{
    return d[3] & 0x80;
}

static inline uint32_t dsa_desc_flags(const uint8_t *d)
{
    return d[4] | d[5] << 8 | (uint32_t)d[6] << 16;
}

static inline uint8_t dsa_desc_opcode(const uint8_t *d)
{
    return d[7];
}

uint64_t dsa_desc_u64(const uint8_t *d, unsigned off);
uint32_t dsa_desc_u32(const uint8_t *d, unsigned off);

#define DSA_DESC_COMPLETION_ADDR 8
#define DSA_DESC_SRC            16
#define DSA_DESC_DST            24
#define DSA_DESC_XFER_SIZE      32
#define DSA_DESC_INT_HANDLE     36
#define DSA_DESC_OP_SPECIFIC    40

/* Build the 32-byte completion record of @r (status byte included). */
void dsa_cr_encode(const DSAOpResult *r, uint8_t cr[DSA_CR_SIZE]);

#endif
