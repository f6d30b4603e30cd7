/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab PASID IOMMU: translations that may wait for the operating system.
 *
 * A device that tags its DMA with a PASID (PCIe) or SubstreamID (Arm) and
 * whose faults the OS resolves (Arm SMMUv3 stall model, PCIe PRI) cannot use
 * a plain address_space_rw(): the IOMMU has to hold the access until software
 * answers, and QEMU's IOMMUMemoryRegion translate() is synchronous. An IOMMU
 * memory region whose IOMMU can do this implements TYPE_FAULTLAB_PASID_IOMMU.
 * The device asks it to translate one access (one page at most) and gets:
 *
 *  - FAULTLAB_XLATE_OK: req->translated, req->addr_mask, req->perm and
 *    req->target_as are set; the device performs the access there;
 *  - FAULTLAB_XLATE_FAULT: the access is aborted now (no stall possible,
 *    stall not enabled, stall limit reached, bad configuration...); the
 *    IOMMU has recorded whatever event its architecture records;
 *  - FAULTLAB_XLATE_PENDING: the IOMMU holds the access (a stall, a page
 *    request) and reported it to software. It calls req->resume(opaque, how)
 *    later, exactly once, from the main loop with the BQL held, unless the
 *    device called forget() first. RETRY means: translate the same access
 *    again (it may fault again); ABORT and TERMINATED end it with an error.
 *
 * A device that does not find the interface on its address space's root
 * region (no IOMMU, or an IOMMU without it) does plain DMA without a PASID.
 */
#ifndef HW_FAULTLAB_PASID_IOMMU_H
#define HW_FAULTLAB_PASID_IOMMU_H

#include "qom/object.h"
#include "exec/hwaddr.h"
#include "exec/memory.h"

#define TYPE_FAULTLAB_PASID_IOMMU "faultlab-pasid-iommu"

typedef struct FaultlabPasidIommu FaultlabPasidIommu;
typedef struct FaultlabPasidIommuClass FaultlabPasidIommuClass;
DECLARE_CLASS_CHECKERS(FaultlabPasidIommuClass, FAULTLAB_PASID_IOMMU,
                       TYPE_FAULTLAB_PASID_IOMMU)
#define FAULTLAB_PASID_IOMMU(obj) \
    INTERFACE_CHECK(FaultlabPasidIommu, (obj), TYPE_FAULTLAB_PASID_IOMMU)

typedef enum FaultlabXlateStatus {
    FAULTLAB_XLATE_OK,
    FAULTLAB_XLATE_FAULT,
    FAULTLAB_XLATE_PENDING,
} FaultlabXlateStatus;

typedef enum FaultlabResume {
    FAULTLAB_RESUME_RETRY,      /* software fixed the fault: translate again */
    FAULTLAB_RESUME_ABORT,      /* software answered abort/invalid */
    FAULTLAB_RESUME_TERMINATED, /* the hold ended without an answer (stall
                                   terminated, IOMMU disabled or reset) */
} FaultlabResume;

typedef void FaultlabResumeFn(void *opaque, FaultlabResume how);

typedef struct FaultlabXlateReq {
    /* In */
    hwaddr addr;                /* input (I/O virtual) address */
    bool is_write;
    bool priv;                  /* privileged (PnU) */
    bool exec;                  /* instruction fetch (InD) */
    bool pasid_valid;
    uint32_t pasid;             /* PASID / SubstreamID when pasid_valid */
    FaultlabResumeFn *resume;   /* called for FAULTLAB_XLATE_PENDING */
    void *opaque;               /* passed to resume(); also the forget() key */
    /* Out, for FAULTLAB_XLATE_OK */
    AddressSpace *target_as;
    hwaddr translated;          /* output address of req->addr */
    hwaddr addr_mask;           /* bytes valid from translated: up to
                                   (translated | addr_mask) inclusive */
    IOMMUAccessFlags perm;
    /* Out, for FAULTLAB_XLATE_FAULT and PENDING: IOMMU-specific reason */
    uint32_t fault_reason;
} FaultlabXlateReq;

struct FaultlabPasidIommuClass {
    InterfaceClass parent_class;
    /* Called with the BQL held. */
    FaultlabXlateStatus (*translate)(FaultlabPasidIommu *iommu,
                                     FaultlabXlateReq *req);
    /*
     * The device withdraws the accesses it left pending with this @opaque
     * (device reset, command cancelled, channel torn down). The IOMMU
     * releases them: it does not call resume() for them, they no longer
     * count against its limit of outstanding holds, and a later software
     * answer for them is treated like an answer for an access that is not
     * held (ignored, as the architecture says).
     */
    void (*forget)(FaultlabPasidIommu *iommu, void *opaque);
    /*
     * True when a held access ends only through the IOMMU (Arm SMMUv3 stall
     * model, IHI0070 3.12.2: CMD_RESUME, CMD_STALL_TERM, SMMUEN 1->0 or
     * reset): a device that cancels the command of a held access cannot
     * withdraw it and waits for resume(); forget() is then only for device
     * reset and teardown. False (VT-d page requests): the device may give
     * a held access up with forget() when it cancels the command.
     */
    bool answer_ends_hold;
};

/*
 * The PASID IOMMU behind @as (the root region of a device's DMA address
 * space, or a subregion of it, enabled or not: VT-d puts its IOMMU region
 * in a container and switches it off for pass-through), or NULL when none
 * implements the interface.
 */
FaultlabPasidIommu *faultlab_pasid_iommu_of(AddressSpace *as);

#endif
