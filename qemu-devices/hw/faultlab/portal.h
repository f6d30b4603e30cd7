/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab portals: CPU stores that reach a device as one unit.
 *
 * MOVDIR64B and ENQCMD/ENQCMDS on x86, and COPY/PASTE on POWER, move a 64- or
 * 128-byte block to a device in a single bus transaction; ENQCMD and PASTE
 * also bring the device's answer (accepted, or retry) back to the CPU. A
 * MemoryRegion write is split into accesses of at most 8 bytes and carries no
 * answer, so a device that owns such a portal implements the
 * TYPE_FAULTLAB_PORTAL interface and the TCG helpers hand it the whole block
 * through faultlab_portal_store().
 */
#ifndef HW_FAULTLAB_PORTAL_H
#define HW_FAULTLAB_PORTAL_H

#include "qom/object.h"
#include "exec/hwaddr.h"
#include "exec/memattrs.h"

#define TYPE_FAULTLAB_PORTAL "faultlab-portal"

typedef struct FaultlabPortal FaultlabPortal;
typedef struct FaultlabPortalClass FaultlabPortalClass;
DECLARE_CLASS_CHECKERS(FaultlabPortalClass, FAULTLAB_PORTAL,
                       TYPE_FAULTLAB_PORTAL)
#define FAULTLAB_PORTAL(obj) \
    INTERFACE_CHECK(FaultlabPortal, (obj), TYPE_FAULTLAB_PORTAL)

typedef enum FaultlabStoreKind {
    FAULTLAB_STORE_MOVDIR64B,   /* x86 posted 64-byte store: no answer */
    FAULTLAB_STORE_ENQCMD,      /* x86 user enqueue: PASID from IA32_PASID */
    FAULTLAB_STORE_ENQCMDS,     /* x86 supervisor enqueue: PASID, priv given */
    FAULTLAB_STORE_PASTE,       /* POWER paste of the 128-byte copy buffer */
} FaultlabStoreKind;

typedef struct FaultlabStore {
    FaultlabStoreKind kind;
    const uint8_t *data;
    unsigned len;               /* 64 (x86) or 128 (POWER) */
    uint32_t pasid;             /* ENQCMD/ENQCMDS */
    bool priv;                  /* ENQCMDS: supervisor request */
    MemTxAttrs attrs;
    /* Filled in by faultlab_portal_store() for the device: */
    MemoryRegion *mr;           /* the region the address falls in */
    hwaddr offset;              /* the address's offset within mr */
} FaultlabStore;

typedef enum FaultlabPortalAnswer {
    FAULTLAB_PORTAL_NONE,       /* no portal there: do an ordinary store */
    FAULTLAB_PORTAL_ACCEPTED,   /* the device took the block */
    FAULTLAB_PORTAL_RETRY,      /* the device refused it (queue full...) */
} FaultlabPortalAnswer;

struct FaultlabPortalClass {
    InterfaceClass parent_class;
    /* Called with the BQL held; st->mr and st->offset are set. */
    FaultlabPortalAnswer (*store)(FaultlabPortal *portal,
                                  const FaultlabStore *st);
};

/*
 * Deliver the block @st to whatever device owns physical address @addr in
 * @as. Returns FAULTLAB_PORTAL_NONE, without side effects, when the block
 * does not fall entirely inside one region of a device implementing the
 * interface; the caller then performs the architecture's ordinary behaviour.
 * May be called with or without the BQL held.
 */
FaultlabPortalAnswer faultlab_portal_store(AddressSpace *as, hwaddr addr,
                                           FaultlabStore *st);

/*
 * MemoryRegionOps for a portal's own region (the opaque is the owning
 * device): the blocks arrive through faultlab_portal_store(); an ordinary
 * load or store there is a guest error, logged with the device's type name.
 * Loads read 0, stores are dropped.
 */
extern const MemoryRegionOps faultlab_portal_mmio_ops;

#endif
