/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab-dsa: BAR0 register layout of the Intel DSA 2.0 model, as the
 * Linux idxd driver (drivers/dma/idxd/registers.h) reads it. Bit positions
 * are little-endian, bit 0 first.
 */
#ifndef HW_FAULTLAB_DSA_REGISTERS_H
#define HW_FAULTLAB_DSA_REGISTERS_H

/* Fixed registers */
#define DSA_REG_VERSION         0x00
#define DSA_REG_GENCAP          0x10
#define DSA_REG_WQCAP           0x20
#define DSA_REG_GRPCAP          0x30
#define DSA_REG_ENGCAP          0x38
#define DSA_REG_OPCAP           0x40    /* 4 x 64 bits */
#define DSA_REG_TABLE_OFFSET    0x60    /* 2 x 64 bits */
#define DSA_REG_GENCFG          0x80
#define DSA_REG_GENCTRL         0x88
#define DSA_REG_GENSTS          0x90
#define DSA_REG_INTCAUSE        0x98
#define DSA_REG_CMD             0xa0
#define DSA_REG_CMDSTS          0xa8
#define DSA_REG_CMDCAP          0xb0
#define DSA_REG_SWERR           0xc0    /* 4 x 64 bits */
#define DSA_REG_EVLCFG          0xe0    /* 2 x 64 bits */
#define DSA_REG_EVLSTATUS       0xf0

/* Tables (TABLE_OFFSET fields are in units of 0x100) */
#define DSA_MSIXPERM_BASE       0x300   /* 8-byte stride, 32-bit entries */
#define DSA_GRPCFG_BASE         0x400   /* 64 bytes per group */
#define DSA_GRPCFG_SIZE         64
#define DSA_WQCFG_BASE          0x500   /* 64 bytes per WQ */
#define DSA_WQCFG_SIZE          64
#define DSA_MSIX_TABLE          0x2000
#define DSA_MSIX_PBA            0x3000
#define DSA_REGS_SIZE           0x2000  /* registers and tables */
#define DSA_BAR0_SIZE           0x10000

/* BAR2: WQ portals, 4 pages per WQ */
#define DSA_PORTAL_PAGE         0x1000
#define DSA_PORTAL_STRIDE       (4 * DSA_PORTAL_PAGE)

/* GENCAP */
#define DSA_GENCAP_BOF          (1ULL << 0)
#define DSA_GENCAP_OVERLAP_COPY (1ULL << 1)
#define DSA_GENCAP_CMD_CAP      (1ULL << 4)
#define DSA_GENCAP_EVL_SHIFT    13
#define DSA_GENCAP_XFER_SHIFT   16      /* 5 bits */
#define DSA_GENCAP_BATCH_SHIFT  21      /* 4 bits */
#define DSA_GENCAP_CONFIG_EN    (1ULL << 31)

/* WQCAP */
#define DSA_WQCAP_NUM_WQS_SHIFT 16
#define DSA_WQCAP_WQCFG_SHIFT   24
#define DSA_WQCAP_SHARED        (1ULL << 48)
#define DSA_WQCAP_DEDICATED     (1ULL << 49)
#define DSA_WQCAP_ATS           (1ULL << 50)
#define DSA_WQCAP_PRIORITY      (1ULL << 51)
#define DSA_WQCAP_OP_CONFIG     (1ULL << 54)
#define DSA_WQCAP_PRS           (1ULL << 55)

/* GENCFG, GENCTRL, GENSTS */
#define DSA_GENCFG_RDBUF_LIMIT  0xffu
#define DSA_GENCFG_USER_INT_EN  (1u << 12)
#define DSA_GENCFG_EVL_EN       (1u << 13)
#define DSA_GENCFG_MASK         (DSA_GENCFG_RDBUF_LIMIT | \
                                 DSA_GENCFG_USER_INT_EN | DSA_GENCFG_EVL_EN)
#define DSA_GENCTRL_SOFTERR_INT (1u << 0)
#define DSA_GENCTRL_HALT_INT    (1u << 1)
#define DSA_GENCTRL_EVL_INT     (1u << 2)
#define DSA_GENCTRL_MASK        0x7u
#define DSA_STATE_DISABLED      0
#define DSA_STATE_ENABLED       1
#define DSA_STATE_DRAIN         2
#define DSA_STATE_HALT          3

/* INTCAUSE (RW1C) */
#define DSA_INTC_ERR            0x01u
#define DSA_INTC_CMD            0x02u
#define DSA_INTC_OCCUPY         0x04u
#define DSA_INTC_PERFMON        0x08u
#define DSA_INTC_HALT           0x10u
#define DSA_INTC_EVL            0x20u
#define DSA_INTC_REVOKED        0x80000000u

/* CMD, CMDSTS */
#define DSA_CMD_OPERAND_MASK    0xfffffu
#define DSA_CMD_SHIFT           20
#define DSA_CMD_MASK            0x1fu
#define DSA_CMD_INT_REQ         (1u << 31)
#define DSA_CMDSTS_ACTIVE       (1u << 31)

enum {
    DSA_CMD_ENABLE_DEVICE = 1,
    DSA_CMD_DISABLE_DEVICE,
    DSA_CMD_DRAIN_ALL,
    DSA_CMD_ABORT_ALL,
    DSA_CMD_RESET_DEVICE,
    DSA_CMD_ENABLE_WQ,
    DSA_CMD_DISABLE_WQ,
    DSA_CMD_DRAIN_WQ,
    DSA_CMD_ABORT_WQ,
    DSA_CMD_RESET_WQ,
    DSA_CMD_DRAIN_PASID,
    DSA_CMD_ABORT_PASID,
    DSA_CMD_REQUEST_INT_HANDLE,
    DSA_CMD_RELEASE_INT_HANDLE,
};

/* CMDSTS error codes */
#define DSA_CMDSTS_SUCCESS          0x00
#define DSA_CMDSTS_INVAL_CMD        0x01
#define DSA_CMDSTS_INVAL_WQIDX      0x02
#define DSA_CMDSTS_HW_ERR           0x03
#define DSA_CMDSTS_DEV_ENABLED      0x10
#define DSA_CMDSTS_CONFIG           0x11
#define DSA_CMDSTS_BUSMASTER_EN     0x12
#define DSA_CMDSTS_PASID_INVAL      0x13
#define DSA_CMDSTS_WQ_SIZE_ERANGE   0x14
#define DSA_CMDSTS_DEV_NOTEN        0x20
#define DSA_CMDSTS_WQ_ENABLED       0x21
#define DSA_CMDSTS_WQ_SIZE          0x22
#define DSA_CMDSTS_WQ_PRIOR         0x23
#define DSA_CMDSTS_WQ_MODE          0x24
#define DSA_CMDSTS_BOF_EN           0x25
#define DSA_CMDSTS_PASID_EN         0x26
#define DSA_CMDSTS_MAX_BATCH_SIZE   0x27
#define DSA_CMDSTS_MAX_XFER_SIZE    0x28
#define DSA_CMDSTS_DIS_DEV_EN       0x31
#define DSA_CMDSTS_DEV_NOT_EN       0x32

/* SWERR qword 0 */
#define DSA_SWERR_VALID         (1ULL << 0)
#define DSA_SWERR_OVERFLOW      (1ULL << 1)
#define DSA_SWERR_DESC_VALID    (1ULL << 2)
#define DSA_SWERR_WQ_IDX_VALID  (1ULL << 3)
#define DSA_SWERR_BATCH         (1ULL << 4)
#define DSA_SWERR_FAULT_RW      (1ULL << 5)
#define DSA_SWERR_PRIV          (1ULL << 6)
#define DSA_SWERR_ERROR_SHIFT   8
#define DSA_SWERR_WQ_SHIFT      16
#define DSA_SWERR_OP_SHIFT      32
#define DSA_SWERR_PASID_SHIFT   40

/* Model-defined SWERR/EVL error codes for errors without a descriptor CR */
#define DSA_ERR_WQ_DISABLED     0xf0    /* portal write to a disabled WQ */
#define DSA_ERR_WQ_FULL         0xf1    /* MOVDIR64B to a full dedicated WQ */
#define DSA_ERR_WQ_MODE         0xf2    /* wrong instruction for the mode */

/* EVLCFG, EVLSTATUS */
#define DSA_EVLCFG_PASID_EN     (1ULL << 0)
#define DSA_EVLCFG_BASE_MASK    (~0xfffULL)
#define DSA_EVLSTATUS_HEAD_MASK 0xffffULL
#define DSA_EVLSTATUS_TAIL_SHIFT 32
#define DSA_EVLSTATUS_INT_PENDING (1ULL << 62)
#define DSA_EVL_ENTRY_SIZE      64

/* WQCFG dword 2 */
#define DSA_WQCFG2_MODE_DED     (1u << 0)
#define DSA_WQCFG2_BOF          (1u << 1)
#define DSA_WQCFG2_ATS_DISABLE  (1u << 2)
#define DSA_WQCFG2_PRS_DISABLE  (1u << 3)
#define DSA_WQCFG2_PRIO_SHIFT   4
#define DSA_WQCFG2_PASID_SHIFT  8
#define DSA_WQCFG2_PASID_MASK   0xfffffu
#define DSA_WQCFG2_PASID_EN     (1u << 28)
#define DSA_WQCFG2_PRIV         (1u << 29)
#define DSA_WQCFG2_MASK         0x3fffffffu
/* WQCFG dword 3 */
#define DSA_WQCFG3_XFER_MASK    0x1fu
#define DSA_WQCFG3_BATCH_SHIFT  5
#define DSA_WQCFG3_BATCH_MASK   0xfu
#define DSA_WQCFG3_MASK         0x1ffu
/* WQCFG dword 6 (read-only) */
#define DSA_WQCFG6_STATE_SHIFT  30

/* MSIXPERM */
#define DSA_MSIXPERM_MASK       0xfffff00cu

#endif
