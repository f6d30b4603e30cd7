/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab-dma: a PCI Express DMA test engine whose PASID-tagged accesses
 * go through the faultlab PASID IOMMU interface (and so can stall).
 * Internal state shared by the device (faultlab-dma.c) and the engine
 * (faultlab-dma-engine.c). The register interface is documented in
 * qemu-devices/docs/faultlab-dma.md.
 */
#ifndef HW_FAULTLAB_DMA_H
#define HW_FAULTLAB_DMA_H

#include "qemu/timer.h"
#include "system/runstate.h"
#include "hw/pci/pci_device.h"
#include "hw/faultlab/pasid-iommu.h"
#include "hw/faultlab/pci-pasid.h"
#include "registers.h"

#define TYPE_FAULTLAB_DMA "faultlab-dma"
OBJECT_DECLARE_SIMPLE_TYPE(FaultlabDmaState, FAULTLAB_DMA)

/* Chunks one channel may move per bottom-half run before yielding. */
#define FAULTLAB_DMA_CHUNKS_PER_RUN 64

/* Which side of a command an access is for. */
enum {
    FAULTLAB_DMA_SIDE_SRC = 0,
    FAULTLAB_DMA_SIDE_DST = 1,
};

/*
 * The translation of one page of one side, reused by the following chunks
 * of the same bottom-half run only: nothing can change the IOMMU's tables
 * while the engine runs with the BQL held, but anything may between runs.
 */
typedef struct FaultlabDmaXlate {
    uint64_t run;               /* FaultlabDmaState.run when filled, 0: none */
    hwaddr iova;                /* first input address covered */
    hwaddr last;                /* last input address covered */
    hwaddr translated;          /* output address of @iova */
    AddressSpace *as;
    bool is_write;
} FaultlabDmaXlate;

typedef struct FaultlabDmaChan {
    FaultlabDmaState *s;
    uint32_t index;

    /* Guest-visible registers */
    uint64_t pasid;
    uint64_t src;
    uint64_t dst;
    uint64_t len;
    uint64_t pattern;
    uint64_t status;
    uint64_t bytes_done;
    uint64_t fault_addr;
    uint64_t stalls;
    uint64_t result;

    /* The command being run, latched from the registers by the CMD write */
    uint8_t op;
    uint64_t c_pasid;
    uint64_t c_src;
    uint64_t c_dst;
    uint64_t c_len;
    uint64_t c_pattern;

    /* Progress */
    uint64_t pos;               /* bytes of the command completed */
    uint32_t chunk;             /* bytes of the current chunk, 0: none */
    uint8_t phase;              /* side the current chunk is at */

    /* The access the IOMMU holds while the channel is STALLED */
    bool held;
    FaultlabPasidIommu *held_iommu;
    hwaddr held_addr;
    bool held_write;
    /*
     * ABORT was written while the IOMMU holds the access and the IOMMU's
     * answer is what ends a hold (answer_ends_hold): the command ends
     * (CANCELLED, or the answer's abort/termination) when resume() comes.
     */
    bool cancel_pending;

    FaultlabDmaXlate xl[2];
    uint8_t buf[FAULTLAB_DMA_PAGE_SIZE];    /* source chunk / FILL data */
    uint8_t cmp[FAULTLAB_DMA_PAGE_SIZE];    /* COMPARE: destination chunk */
} FaultlabDmaChan;

struct FaultlabDmaState {
    PCIDevice parent_obj;

    MemoryRegion mmio;
    QEMUBH *bh;
    QEMUTimer slice_timer;      /* paces the slices when slice_delay_ns */
    VMChangeStateEntry *vmstate_entry;

    /* Properties */
    uint32_t nchan;
    uint8_t pasid_bits;

    bool ats_pri;               /* ATS and PRI capabilities ("ats-pri") */
    FaultlabPciPasid pci_pasid; /* PASID, ATS and PRI capabilities */
    uint64_t irq_status;
    uint64_t irq_mask;
    uint64_t run;               /* bottom-half runs, keys FaultlabDmaXlate */

    /* Observability and fault injection (QOM properties) */
    uint64_t stalls_total;
    uint64_t faults_total;
    uint32_t inject_fault_next;
    uint32_t inject_fail_retry;
    /* x-slice-delay-ns: virtual time between slices, 0: none */
    uint64_t slice_delay_ns;

    FaultlabDmaChan chan[FAULTLAB_DMA_MAX_CHANNELS];
};

/* faultlab-dma.c */
void faultlab_dma_irq_event(FaultlabDmaState *s, uint32_t index);

/* faultlab-dma-engine.c */
void faultlab_dma_cmd(FaultlabDmaChan *c, uint64_t val);
void faultlab_dma_cancel(FaultlabDmaChan *c);
void faultlab_dma_chan_reset(FaultlabDmaChan *c);
void faultlab_dma_run(void *opaque);
void faultlab_dma_slice_timer(void *opaque);
void faultlab_dma_vm_state(void *opaque, bool running, RunState state);
uint64_t faultlab_dma_state(const FaultlabDmaChan *c);

#endif
