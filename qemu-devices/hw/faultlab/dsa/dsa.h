/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab-dsa: state of the Intel DSA 2.0 model (docs/dsa.md).
 */
#ifndef HW_FAULTLAB_DSA_H
#define HW_FAULTLAB_DSA_H

#include "hw/pci/pci_device.h"
#include "hw/faultlab/pasid-iommu.h"
#include "hw/faultlab/pci-pasid.h"
#include "qemu/timer.h"
#include "dsa-ops.h"
#include "registers.h"

#define TYPE_FAULTLAB_DSA "faultlab-dsa"
OBJECT_DECLARE_SIMPLE_TYPE(FaultlabDsaState, FAULTLAB_DSA)

#define DSA_NUM_WQS             8
#define DSA_NUM_GROUPS          4
#define DSA_NUM_ENGINES         4
#define DSA_TOTAL_WQ_SIZE       128
#define DSA_MSIX_VECTORS        (1 + DSA_NUM_WQS)
#define DSA_PASID_BITS          20
#define DSA_MAX_BATCH_SHIFT     10
#define DSA_MAX_XFER_SHIFT      31
#define DSA_PAGE_SIZE           4096

/* Where a work queue's descriptor in flight is. */
typedef enum DSAPhase {
    DSA_PH_IDLE,        /* nothing in flight */
    DSA_PH_LIST,        /* BATCH: reading the next member of the list */
    DSA_PH_RUN,         /* running the operation */
    DSA_PH_CR,          /* writing the completion record */
    DSA_PH_EVL,         /* writing an event log entry (or SWERR) */
    DSA_PH_NEXT,        /* the descriptor is complete: next member/job */
} DSAPhase;

/* One descriptor being processed: the queue's, or a batch member. */
typedef struct DSADesc {
    uint8_t d[DSA_DESC_SIZE];
    DSAOpState st;
    DSAOpResult r;
    uint8_t cr[DSA_CR_SIZE];
    uint8_t error;              /* EVL/SWERR error code to report */
    bool error_write;
    uint64_t error_addr;
} DSADesc;

typedef struct DSAJob {
    uint8_t phase;
    bool in_member;             /* the phases apply to @mem, not @top */
    uint32_t pasid;
    bool pasid_valid;
    bool priv;
    DSADesc top;                /* the descriptor taken from the queue */
    DSADesc mem;                /* BATCH: the member in flight */
    /* BATCH */
    uint32_t count;
    uint32_t idx;               /* the member being read or run */
    uint32_t failed;            /* members that did not succeed */
    bool fence_stop;            /* a member ended other than Success: a
                                   fenced member and those after it are
                                   abandoned */
    bool evl_used;              /* a member's CR went to the event log */
    uint8_t batch_id;
    /* Accesses */
    bool allow_prs;             /* a fault may become a page request */
    bool held;                  /* an access is held by the IOMMU */
    FaultlabPasidIommu *held_iommu;
    uint64_t held_addr;
    bool held_write;
    bool abort_valid;           /* the request for this page failed */
    uint64_t abort_page;
    bool faulted;               /* the last access faulted (not held) */
    uint64_t fault_addr;
    bool fault_write;
    bool evl_waiting;           /* counted once per wait for a slot */
} DSAJob;

typedef struct DSAWq {
    struct FaultlabDsaState *s;
    uint32_t index;
    uint32_t cfg[DSA_WQCFG_SIZE / 4];
    bool enabled;
    uint32_t head;
    uint32_t count;
    uint8_t ring[DSA_TOTAL_WQ_SIZE][DSA_DESC_SIZE];
    uint32_t ring_pasid[DSA_TOTAL_WQ_SIZE];     /* bit 31: valid, 30: priv */
    DSAJob job;
} DSAWq;

struct FaultlabDsaState {
    PCIDevice parent_obj;

    MemoryRegion bar0;
    MemoryRegion regs;
    MemoryRegion portals;
    QEMUBH *bh;

    /* Registers */
    uint32_t gencfg;
    uint32_t genctrl;
    uint32_t gensts;
    uint32_t intcause;
    uint32_t cmd;
    uint32_t cmdsts;
    uint64_t swerr[4];
    uint64_t evlcfg[2];
    uint32_t evl_head;
    uint32_t evl_tail;
    bool evl_int_pending;
    uint64_t grpcfg[DSA_NUM_GROUPS][DSA_GRPCFG_SIZE / 8];
    uint32_t msixperm[DSA_MSIX_VECTORS];
    DSAWq wq[DSA_NUM_WQS];
    uint8_t next_batch_id;
    uint32_t drain_cmd;         /* a drain command waiting (CMD value) */

    /* Properties */
    uint8_t pasid_bits;
    bool ats_pri;

    /* Injection knobs */
    bool inject_evl_full;
    uint32_t inject_cr_fail_next;
    uint32_t inject_swerr_overflow;

    /* Counters */
    uint64_t n_descriptors;
    uint64_t n_page_requests;
    uint64_t n_partial;
    uint64_t n_evl_entries;
    uint64_t n_evl_full_waits;
    uint64_t n_cr_faults;
    uint64_t n_swerr;
    uint64_t n_swerr_overflows;
    uint64_t n_portal_retries;
    uint64_t n_portal_drops;
    uint64_t n_batches;

    FaultlabPciPasid pci_pasid; /* PASID, ATS and PRI capabilities */
};

#endif
