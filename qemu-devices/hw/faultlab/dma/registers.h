/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab-dma register layout (BAR0), as documented in
 * qemu-devices/docs/faultlab-dma.md.
 */
#ifndef HW_FAULTLAB_DMA_REGISTERS_H
#define HW_FAULTLAB_DMA_REGISTERS_H

#include "qemu/units.h"
#include "hw/registerfields.h"

#define FAULTLAB_DMA_ID_VALUE       0x00000001464c444dULL   /* "FLDM", v1 */
#define FAULTLAB_DMA_BAR_SIZE       0x1000
#define FAULTLAB_DMA_MAX_CHANNELS   16
#define FAULTLAB_DMA_MAX_LEN        (16 * MiB)
#define FAULTLAB_DMA_PAGE_SIZE      4096
#define FAULTLAB_DMA_MAX_PASID_BITS 20

/* Global registers */
REG64(ID, 0x000)
REG64(NCHAN, 0x008)
REG64(IRQ_STATUS, 0x010)
REG64(IRQ_MASK, 0x018)

/* Channel n occupies 0x100 + n * 0x80; offsets below are within a channel. */
#define FAULTLAB_DMA_CHAN_BASE      0x100
#define FAULTLAB_DMA_CHAN_STRIDE    0x80

REG64(CH_PASID, 0x00)
    FIELD(CH_PASID, PASID, 0, 20)
    FIELD(CH_PASID, PV, 63, 1)
REG64(CH_SRC, 0x08)
REG64(CH_DST, 0x10)
REG64(CH_LEN, 0x18)
REG64(CH_PATTERN, 0x20)
REG64(CH_CMD, 0x28)
    FIELD(CH_CMD, OP, 0, 8)
REG64(CH_STATUS, 0x30)
    FIELD(CH_STATUS, STATE, 0, 8)
    FIELD(CH_STATUS, REASON, 8, 8)
    FIELD(CH_STATUS, WRITE, 16, 1)
REG64(CH_BYTES_DONE, 0x38)
REG64(CH_FAULT_ADDR, 0x40)
REG64(CH_STALLS, 0x48)
REG64(CH_RESULT, 0x50)
REG64(CH_ABORT, 0x58)
    FIELD(CH_ABORT, ABORT, 0, 1)

#define FAULTLAB_DMA_PASID_MASK \
    (R_CH_PASID_PASID_MASK | R_CH_PASID_PV_MASK)

/* CMD opcodes */
enum {
    FAULTLAB_DMA_OP_NOP = 0,
    FAULTLAB_DMA_OP_COPY = 1,
    FAULTLAB_DMA_OP_FILL = 2,
    FAULTLAB_DMA_OP_COMPARE = 3,
};

/* STATUS.STATE */
enum {
    FAULTLAB_DMA_IDLE = 0,
    FAULTLAB_DMA_RUNNING = 1,
    FAULTLAB_DMA_STALLED = 2,
    FAULTLAB_DMA_DONE = 3,
    FAULTLAB_DMA_FAULT = 4,
    FAULTLAB_DMA_MISMATCH = 5,
    FAULTLAB_DMA_BADCMD = 6,
};

/* STATUS.REASON */
enum {
    FAULTLAB_DMA_REASON_NONE = 0,
    FAULTLAB_DMA_REASON_XLATE = 1,      /* translation fault without stall */
    FAULTLAB_DMA_REASON_ABORTED = 2,    /* stall answered with abort */
    FAULTLAB_DMA_REASON_TERMINATED = 3, /* stall terminated by the IOMMU */
    FAULTLAB_DMA_REASON_CANCELLED = 4,  /* ABORT register */
    FAULTLAB_DMA_REASON_INJECTED = 5,   /* x-inject-fault-next */
    FAULTLAB_DMA_REASON_BUS = 6,        /* error completion / master off */
};

#endif
