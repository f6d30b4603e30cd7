/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab-dsa: a model of the Intel Data Streaming Accelerator 2.0 PCI
 * function (8086:0b25) for the unmodified Linux idxd driver. Interface and
 * behaviour: qemu-devices/docs/dsa.md.
 *
 *  - BAR0: the DSA registers (VERSION 0x200, capabilities, GENCFG/GENCTRL/
 *    GENSTS, INTCAUSE, CMD/CMDSTS, SWERR, EVLCFG/EVLSTATUS, MSIXPERM, GRPCFG,
 *    WQCFG) and the MSI-X table (0x2000) and PBA (0x3000);
 *  - BAR2: 4 pages of portal per work queue; the blocks arrive whole through
 *    the faultlab portal interface (MOVDIR64B for dedicated WQs, ENQCMD and
 *    ENQCMDS for shared WQs, answered ACCEPTED or RETRY);
 *  - descriptors run in a bottom half, one in flight per WQ, through the
 *    operation engine (dsa-ops.c) and the PASID IOMMU interface: with block
 *    on fault and page requests allowed, a fault becomes a page request and
 *    the descriptor waits; otherwise it completes partially;
 *  - completion records the device cannot write go to the event log with
 *    the record it meant to write; a full log stops the WQ until software
 *    moves the head.
 *
 * The PCIe, PASID, ATS and PRI capabilities Linux 6.12 needs are those of
 * hw/faultlab/pci-pasid.h (as for faultlab-dma), with PASID Privileged Mode
 * for dedicated kernel WQs with a PASID. PRI does not read Stopped while a
 * WQ holds a page request.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "system/dma.h"
#include "hw/faultlab/portal.h"
#include "dsa.h"
#include "hw/faultlab/trace.h"

#define DSA_VENDOR_ID           0x8086
#define DSA_DEVICE_ID           0x0b25
#define DSA_CLASS               0x0880
#define DSA_VERSION             0x200
#define DSA_PRI_MAX_REQ         512
#define DSA_BH_BUDGET           32      /* descriptor steps per BH run */

#define DSA_GENCAP_VALUE  (DSA_GENCAP_BOF | DSA_GENCAP_OVERLAP_COPY |       \
                           DSA_GENCAP_CMD_CAP |                             \
                           (1ULL << DSA_GENCAP_EVL_SHIFT) |                 \
                           ((uint64_t)DSA_MAX_XFER_SHIFT <<                 \
                            DSA_GENCAP_XFER_SHIFT) |                        \
                           ((uint64_t)DSA_MAX_BATCH_SHIFT <<                \
                            DSA_GENCAP_BATCH_SHIFT) |                       \
                           DSA_GENCAP_CONFIG_EN)
#define DSA_WQCAP_VALUE   (DSA_TOTAL_WQ_SIZE |                              \
                           ((uint64_t)DSA_NUM_WQS << DSA_WQCAP_NUM_WQS_SHIFT) | \
                           (1ULL << DSA_WQCAP_WQCFG_SHIFT) |                \
                           DSA_WQCAP_SHARED | DSA_WQCAP_DEDICATED |         \
                           DSA_WQCAP_ATS | DSA_WQCAP_PRIORITY |             \
                           DSA_WQCAP_OP_CONFIG | DSA_WQCAP_PRS)
/*
 * 4 groups, 96 read buffers, read-buffer control and limit (bits 16, 17):
 * accel-config's sample configurations set read_buffer_limit, which idxd
 * refuses without bit 17. Read buffers only pace a real device's reads;
 * the model keeps what is programmed and is not slowed by it.
 */
#define DSA_GRPCAP_VALUE  (DSA_NUM_GROUPS | (0x60 << 8) | (1 << 16) | (1 << 17))
#define DSA_ENGCAP_VALUE  DSA_NUM_ENGINES
/* NOOP BATCH DRAIN MEMMOVE MEMFILL COMPARE COMPVAL CR_DELTA AP_DELTA
 * DUALCAST, CRCGEN COPY_CRC DIF_CHECK DIF_INS DIF_STRP DIF_UPDT, CFLUSH */
#define DSA_OPCAP0_VALUE  (0x3ffULL | (0x3fULL << DSA_OPCODE_CRCGEN) |      \
                           (1ULL << DSA_OPCODE_CFLUSH))
#define DSA_TABLE0_VALUE  ((DSA_GRPCFG_BASE / 0x100) |                      \
                           ((uint64_t)(DSA_WQCFG_BASE / 0x100) << 16) |     \
                           ((uint64_t)(DSA_MSIXPERM_BASE / 0x100) << 32))
#define DSA_CMDCAP_VALUE  0x1ffe        /* commands 1..12 */

/* The error information of an event log entry or SWERR record. */
typedef struct DSAErrInfo {
    uint8_t error;
    bool desc_valid;
    bool wq_valid;
    uint8_t wq;
    bool batch;
    uint8_t batch_id;
    uint16_t batch_idx;
    bool first_err;
    bool fault_rw;
    bool priv;
    uint8_t operation;
    uint32_t pasid;
    uint16_t int_handle;
    bool rci;
    bool rcr;
    uint64_t fault_addr;
    const uint8_t *cr;          /* the completion record image, or NULL */
} DSAErrInfo;

static void dsa_wq_abort(FaultlabDsaState *s, DSAWq *wq, bool by_pasid,
                         uint32_t pasid);

static uint8_t dsa_state(FaultlabDsaState *s)
{
    return s->gensts & 3;
}

/* Interrupts */

static void dsa_msix(FaultlabDsaState *s, unsigned vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    trace_dsa_irq(vector, s->intcause);
    if (vector < DSA_MSIX_VECTORS && msix_enabled(pdev)) {
        msix_notify(pdev, vector);
    }
}

/* Set @cause in INTCAUSE and signal the misc vector when @fire. */
static void dsa_misc_irq(FaultlabDsaState *s, uint32_t cause, bool fire)
{
    s->intcause |= cause;
    if (fire) {
        dsa_msix(s, 0);
    }
}

/* Errors: the event log, or SWERR without it */

static void dsa_swerr(FaultlabDsaState *s, const DSAErrInfo *e)
{
    uint64_t qw0;
    bool overflow = false;

    s->n_swerr++;
    if (s->inject_swerr_overflow) {
        s->inject_swerr_overflow--;
        overflow = true;
    }
    if ((s->swerr[0] & DSA_SWERR_VALID) || overflow) {
        s->swerr[0] |= DSA_SWERR_OVERFLOW | (overflow ? DSA_SWERR_VALID : 0);
        s->n_swerr_overflows++;
    } else {
        qw0 = DSA_SWERR_VALID;
        qw0 |= e->desc_valid ? DSA_SWERR_DESC_VALID : 0;
        qw0 |= e->wq_valid ? DSA_SWERR_WQ_IDX_VALID : 0;
        qw0 |= e->batch ? DSA_SWERR_BATCH : 0;
        qw0 |= e->fault_rw ? DSA_SWERR_FAULT_RW : 0;
        qw0 |= e->priv ? DSA_SWERR_PRIV : 0;
        qw0 |= (uint64_t)e->error << DSA_SWERR_ERROR_SHIFT;
        qw0 |= (uint64_t)e->wq << DSA_SWERR_WQ_SHIFT;
        qw0 |= (uint64_t)e->operation << DSA_SWERR_OP_SHIFT;
        qw0 |= (uint64_t)(e->pasid & 0xfffff) << DSA_SWERR_PASID_SHIFT;
        s->swerr[0] = qw0;
        s->swerr[1] = e->batch_idx;
        s->swerr[2] = e->fault_addr;
        s->swerr[3] = 0;
    }
    trace_dsa_swerr(s->swerr[0], !!(s->swerr[0] & DSA_SWERR_OVERFLOW));
    dsa_misc_irq(s, DSA_INTC_ERR, s->genctrl & DSA_GENCTRL_SOFTERR_INT);
}

static uint32_t dsa_evl_size(FaultlabDsaState *s)
{
    return s->evlcfg[1] & 0xffff;
}

static bool dsa_evl_on(FaultlabDsaState *s)
{
    return (s->gencfg & DSA_GENCFG_EVL_EN) && dsa_evl_size(s) >= 2;
}

static bool dsa_evl_full(FaultlabDsaState *s)
{
    uint32_t size = dsa_evl_size(s);

    return s->inject_evl_full || size < 2 ||
           (s->evl_tail + 1) % size == s->evl_head % size;
}

/*
 * Report an error: an event log entry when the log is enabled (false when it
 * is full: the caller waits), SWERR otherwise.
 */
static bool dsa_report_error(FaultlabDsaState *s, const DSAErrInfo *e)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t ent[DSA_EVL_ENTRY_SIZE] = { 0 };
    uint64_t qw0 = 0;
    uint32_t size = dsa_evl_size(s);
    uint16_t hi = 0;
    dma_addr_t addr;

    if (!dsa_evl_on(s)) {
        dsa_swerr(s, e);
        return true;
    }
    if (dsa_evl_full(s)) {
        return false;
    }
    qw0 |= e->desc_valid ? 1ULL << 2 : 0;
    qw0 |= e->wq_valid ? 1ULL << 3 : 0;
    qw0 |= e->batch ? 1ULL << 4 : 0;
    qw0 |= e->fault_rw ? 1ULL << 5 : 0;
    qw0 |= e->priv ? 1ULL << 6 : 0;
    qw0 |= (uint64_t)e->error << 8;
    qw0 |= (uint64_t)e->wq << 16;
    qw0 |= (uint64_t)e->batch_id << 24;
    qw0 |= (uint64_t)e->operation << 32;
    qw0 |= (uint64_t)(e->pasid & 0xfffff) << 40;
    stq_le_p(ent, qw0);
    stw_le_p(ent + 8, e->batch_idx);
    stw_le_p(ent + 12, e->int_handle);
    hi |= e->rci ? 1 : 0;
    hi |= e->rcr ? 4 : 0;
    hi |= e->first_err ? 8 : 0;
    stw_le_p(ent + 14, hi);
    stq_le_p(ent + 16, e->fault_addr);
    if (e->cr) {
        memcpy(ent + 32, e->cr, DSA_CR_SIZE);
    }
    if (s->evlcfg[0] & DSA_EVLCFG_PASID_EN) {
        qemu_log_mask(LOG_UNIMP, "%s: EVLCFG.pasid_en: the event log is "
                      "written without a PASID\n", TYPE_FAULTLAB_DSA);
    }
    addr = (s->evlcfg[0] & DSA_EVLCFG_BASE_MASK) +
           (dma_addr_t)(s->evl_tail % size) * DSA_EVL_ENTRY_SIZE;
    if (pci_dma_write(pdev, addr, ent, sizeof(ent)) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: event log entry %u at 0x%"
                      PRIx64 " could not be written\n", TYPE_FAULTLAB_DSA,
                      s->evl_tail, (uint64_t)addr);
    }
    trace_dsa_evl(s->evl_tail, e->error, e->wq, e->fault_addr, e->batch,
                  e->batch_id, e->batch_idx);
    s->evl_tail = (s->evl_tail + 1) % size;
    s->n_evl_entries++;
    if (!s->evl_int_pending) {
        s->evl_int_pending = true;
        dsa_misc_irq(s, DSA_INTC_EVL, s->genctrl & DSA_GENCTRL_EVL_INT);
    }
    return true;
}

/* Memory: PASID-tagged accesses through the PASID IOMMU interface */

static void dsa_resume(void *opaque, FaultlabResume how)
{
    DSAWq *wq = opaque;
    FaultlabDsaState *s = wq->s;
    DSAJob *j = &wq->job;

    trace_dsa_resume(wq->index, how);
    if (!j->held) {
        return;
    }
    j->held = false;
    j->held_iommu = NULL;
    if (how != FAULTLAB_RESUME_RETRY) {
        /* The page could not be made present: that access faults. */
        j->abort_valid = true;
        j->abort_page = j->held_addr & ~(uint64_t)(DSA_PAGE_SIZE - 1);
    }
    qemu_bh_schedule(s->bh);
}

static void dsa_forget(DSAWq *wq)
{
    DSAJob *j = &wq->job;

    if (j->held && j->held_iommu) {
        FAULTLAB_PASID_IOMMU_GET_CLASS(j->held_iommu)->forget(j->held_iommu,
                                                               wq);
    }
    j->held = false;
    j->held_iommu = NULL;
}

static bool dsa_fault(DSAJob *j, uint64_t addr, bool write)
{
    j->faulted = true;
    j->fault_addr = addr;
    j->fault_write = write;
    return false;
}

/* One access within one page. */
static bool dsa_access_page(DSAWq *wq, uint64_t addr, void *buf, uint32_t len,
                            bool write)
{
    FaultlabDsaState *s = wq->s;
    PCIDevice *pdev = PCI_DEVICE(s);
    DSAJob *j = &wq->job;
    FaultlabPasidIommu *iommu;
    FaultlabXlateReq req;
    FaultlabXlateStatus st;
    IOMMUAccessFlags need = write ? IOMMU_WO : IOMMU_RO;
    uint64_t page = addr & ~(uint64_t)(DSA_PAGE_SIZE - 1);

    if (j->held) {
        return false;
    }
    if (j->abort_valid && j->abort_page == page) {
        j->abort_valid = false;
        return dsa_fault(j, addr, write);
    }
    iommu = faultlab_pasid_iommu_of(pci_device_iommu_address_space(pdev));
    if (!iommu) {
        /* No PASID IOMMU: plain bus-master DMA, the PASID is not used. */
        if (pci_dma_rw(pdev, addr, buf, len,
                       write ? DMA_DIRECTION_FROM_DEVICE :
                               DMA_DIRECTION_TO_DEVICE,
                       MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
            return dsa_fault(j, addr, write);
        }
        return true;
    }
    if (!(pdev->config[PCI_COMMAND] & PCI_COMMAND_MASTER)) {
        return dsa_fault(j, addr, write);
    }

    memset(&req, 0, sizeof(req));
    req.addr = addr;
    req.is_write = write;
    req.priv = j->priv;
    req.pasid_valid = j->pasid_valid;
    req.pasid = j->pasid;
    req.resume = j->allow_prs ? dsa_resume : NULL;
    req.opaque = wq;
    st = FAULTLAB_PASID_IOMMU_GET_CLASS(iommu)->translate(iommu, &req);
    trace_dsa_xlate(wq->index, addr, write, j->pasid_valid ? j->pasid : ~0u,
                    st);
    switch (st) {
    case FAULTLAB_XLATE_OK:
        if (!req.target_as || (req.perm & need) != need ||
            ((req.translated | req.addr_mask) - req.translated) < len - 1) {
            return dsa_fault(j, addr, write);
        }
        if (address_space_rw(req.target_as, req.translated,
                             MEMTXATTRS_UNSPECIFIED, buf, len,
                             write) != MEMTX_OK) {
            return dsa_fault(j, addr, write);
        }
        return true;
    case FAULTLAB_XLATE_PENDING:
        j->held = true;
        j->held_iommu = iommu;
        j->held_addr = addr;
        j->held_write = write;
        s->n_page_requests++;
        trace_dsa_page_request(wq->index, addr, write, j->pasid);
        return false;
    default:
        return dsa_fault(j, addr, write);
    }
}

static bool dsa_access(DSAWq *wq, uint64_t addr, void *buf, uint32_t len,
                       bool write)
{
    uint8_t *p = buf;

    while (len) {
        uint32_t n = MIN(len, DSA_PAGE_SIZE - (addr & (DSA_PAGE_SIZE - 1)));

        if (!dsa_access_page(wq, addr, p, n, write)) {
            return false;
        }
        addr += n;
        p += n;
        len -= n;
    }
    return true;
}

static bool dsa_mem_read(void *opaque, uint64_t addr, void *buf, uint32_t len)
{
    return dsa_access(opaque, addr, buf, len, false);
}

static bool dsa_mem_write(void *opaque, uint64_t addr, const void *buf,
                          uint32_t len)
{
    return dsa_access(opaque, addr, (void *)buf, len, true);
}

/* Work queues */

static uint32_t dsa_wq_size(const DSAWq *wq)
{
    return MIN(wq->cfg[0] & 0xffff, DSA_TOTAL_WQ_SIZE);
}

static bool dsa_wq_dedicated(const DSAWq *wq)
{
    return wq->cfg[2] & DSA_WQCFG2_MODE_DED;
}

/* Page requests are allowed for the WQ: not disabled, PRI enabled. */
static bool dsa_wq_prs(FaultlabDsaState *s, const DSAWq *wq)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (wq->cfg[2] & DSA_WQCFG2_PRS_DISABLE) {
        return false;
    }
    return faultlab_pci_pasid_pri_enabled(&s->pci_pasid, pdev);
}

static bool dsa_wq_active(const DSAWq *wq)
{
    return wq->count || wq->job.phase != DSA_PH_IDLE;
}

static void dsa_limits(const DSAWq *wq, DSAOpLimits *lim)
{
    unsigned shift = wq->cfg[3] & DSA_WQCFG3_XFER_MASK;
    uint64_t opcfg[4];
    int i;
    bool any = false;

    memset(lim, 0, sizeof(*lim));
    lim->gencap = DSA_GENCAP_VALUE;
    lim->max_xfer_size = (uint32_t)1 << MIN(shift, DSA_MAX_XFER_SHIFT);
    for (i = 0; i < 4; i++) {
        opcfg[i] = (uint64_t)wq->cfg[8 + 2 * i] |
                   (uint64_t)wq->cfg[9 + 2 * i] << 32;
        any |= opcfg[i] != 0;
    }
    lim->opcap[0] = DSA_OPCAP0_VALUE & (any ? opcfg[0] : ~0ULL);
    lim->opcap[1] = 0;
    lim->opcap[2] = 0;
    lim->opcap[3] = 0;
}

static void dsa_err_from_desc(DSAWq *wq, const DSADesc *dd, DSAErrInfo *e)
{
    DSAJob *j = &wq->job;
    uint32_t flags = dsa_desc_flags(dd->d);

    memset(e, 0, sizeof(*e));
    e->error = dd->error;
    e->desc_valid = true;
    e->wq_valid = true;
    e->wq = wq->index;
    e->priv = j->priv;
    e->operation = dsa_desc_opcode(dd->d);
    e->pasid = j->pasid_valid ? j->pasid : 0;
    e->int_handle = dsa_desc_u32(dd->d, DSA_DESC_INT_HANDLE) & 0xffff;
    e->rci = flags & DSA_FLAG_RCI;
    e->rcr = flags & DSA_FLAG_RCR;
    e->fault_rw = dd->error_write;
    e->fault_addr = dd->error_addr;
}

/* Complete @dd with the result in dd->r: next, its completion record. */
static void dsa_finish(DSAWq *wq, DSADesc *dd)
{
    DSAJob *j = &wq->job;

    dsa_cr_encode(&dd->r, dd->cr);
    j->phase = DSA_PH_CR;
}

static void dsa_finish_status(DSAWq *wq, DSADesc *dd, uint8_t status)
{
    memset(&dd->r, 0, sizeof(dd->r));
    dd->r.status = status;
    dsa_finish(wq, dd);
}

/* An error with no completion record: reported, then the next one. */
static void dsa_fail_nocr(DSAWq *wq, DSADesc *dd, uint8_t error,
                          uint64_t addr)
{
    memset(&dd->r, 0, sizeof(dd->r));
    dd->r.status = error;
    dd->error = error;
    dd->error_addr = addr;
    dd->error_write = false;
    memset(dd->cr, 0, sizeof(dd->cr));
    wq->job.phase = DSA_PH_EVL;
}

/* Look at a descriptor before it runs. */
static void dsa_desc_begin(FaultlabDsaState *s, DSAWq *wq, DSADesc *dd,
                           bool member)
{
    DSAJob *j = &wq->job;
    uint32_t flags = dsa_desc_flags(dd->d);
    uint8_t op = dsa_desc_opcode(dd->d);
    uint64_t cr_addr = dsa_desc_u64(dd->d, DSA_DESC_COMPLETION_ADDR);
    uint32_t count, max_batch;
    uint64_t list;
    DSAOpLimits lim;

    memset(&dd->st, 0, sizeof(dd->st));
    memset(&dd->r, 0, sizeof(dd->r));
    dd->error = 0;
    dd->error_addr = 0;
    dd->error_write = false;
    trace_dsa_desc(wq->index, j->pasid, op, flags,
                   dsa_desc_u64(dd->d, DSA_DESC_SRC),
                   dsa_desc_u64(dd->d, DSA_DESC_DST),
                   dsa_desc_u32(dd->d, DSA_DESC_XFER_SIZE));

    if ((flags & DSA_FLAG_CRAV) && (cr_addr & (DSA_CR_SIZE - 1))) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: wq%u: completion record address "
                      "0x%" PRIx64 " not 32-byte aligned\n",
                      TYPE_FAULTLAB_DSA, wq->index, cr_addr);
        dsa_fail_nocr(wq, dd, DSA_COMP_CRA_ALIGN, cr_addr);
        return;
    }
    if ((flags & DSA_FLAG_RCI) &&
        (dsa_desc_u32(dd->d, DSA_DESC_INT_HANDLE) & 0xffff) >=
        DSA_MSIX_VECTORS) {
        dsa_finish_status(wq, dd, DSA_COMP_INT_HANDLE_INVAL);
        return;
    }
    dsa_limits(wq, &lim);
    switch (op) {
    case DSA_OPCODE_NOOP:
        dsa_finish_status(wq, dd, DSA_COMP_SUCCESS);
        return;
    case DSA_OPCODE_DRAIN:
        /* In order per WQ: everything before it has completed. */
        dsa_finish_status(wq, dd, member ? DSA_COMP_BAD_OPCODE :
                                           DSA_COMP_SUCCESS);
        return;
    case DSA_OPCODE_BATCH:
        max_batch = 1u << ((wq->cfg[3] >> DSA_WQCFG3_BATCH_SHIFT) &
                           DSA_WQCFG3_BATCH_MASK);
        count = dsa_desc_u32(dd->d, DSA_DESC_XFER_SIZE);
        list = dsa_desc_u64(dd->d, DSA_DESC_SRC);
        if (member || !(lim.opcap[0] & (1ULL << DSA_OPCODE_BATCH))) {
            dsa_finish_status(wq, dd, DSA_COMP_BAD_OPCODE);
        } else if (!((wq->cfg[3] >> DSA_WQCFG3_BATCH_SHIFT) &
                     DSA_WQCFG3_BATCH_MASK) ||
                   count < 2 || count > max_batch ||
                   count > (1u << DSA_MAX_BATCH_SHIFT)) {
            dsa_finish_status(wq, dd, DSA_COMP_DESC_CNT_ERANGE);
        } else if (list & (DSA_DESC_SIZE - 1)) {
            dsa_finish_status(wq, dd, DSA_COMP_DESCLIST_ALIGN);
        } else {
            s->n_batches++;
            j->count = count;
            j->idx = 0;
            j->failed = 0;
            j->fence_stop = false;
            j->evl_used = false;
            j->batch_id = s->next_batch_id++;
            j->phase = DSA_PH_LIST;
        }
        return;
    default:
        if (dsa_op_validate(dd->d, &lim, &dd->r) != DSA_COMP_NONE) {
            dsa_finish(wq, dd);
            return;
        }
        j->phase = DSA_PH_RUN;
        return;
    }
}

static void dsa_job_start(FaultlabDsaState *s, DSAWq *wq)
{
    DSAJob *j = &wq->job;
    uint32_t tag = wq->ring_pasid[wq->head];

    memcpy(j->top.d, wq->ring[wq->head], DSA_DESC_SIZE);
    wq->head = (wq->head + 1) % DSA_TOTAL_WQ_SIZE;
    wq->count--;
    s->n_descriptors++;
    j->in_member = false;
    j->held = false;
    j->abort_valid = false;
    j->faulted = false;
    j->evl_waiting = false;
    if (tag & (1u << 31)) {
        j->pasid_valid = true;
        j->pasid = tag & DSA_WQCFG2_PASID_MASK;
        j->priv = tag & (1u << 30);
    } else if (dsa_wq_dedicated(wq) && (wq->cfg[2] & DSA_WQCFG2_PASID_EN)) {
        j->pasid_valid = true;
        j->pasid = (wq->cfg[2] >> DSA_WQCFG2_PASID_SHIFT) &
                   DSA_WQCFG2_PASID_MASK;
        j->priv = wq->cfg[2] & DSA_WQCFG2_PRIV;
    } else {
        j->pasid_valid = false;
        j->pasid = 0;
        j->priv = dsa_wq_dedicated(wq) && (wq->cfg[2] & DSA_WQCFG2_PRIV);
    }
    dsa_desc_begin(s, wq, &j->top, false);
}

static void dsa_run(FaultlabDsaState *s, DSAWq *wq, DSADesc *dd)
{
    DSAJob *j = &wq->job;
    DSAMemAccess mem = {
        .read = dsa_mem_read,
        .write = dsa_mem_write,
        .opaque = wq,
    };
    uint32_t flags = dsa_desc_flags(dd->d);

    /* Block on fault: the descriptor asks, the WQ allows, PRS is on. */
    j->allow_prs = (flags & DSA_FLAG_BOF) && (wq->cfg[2] & DSA_WQCFG2_BOF) &&
                   dsa_wq_prs(s, wq);
    j->faulted = false;
    dsa_op_run(dd->d, &dd->st, &mem, &dd->r);
    if (j->held) {
        return;         /* resumes from dd->st.done */
    }
    if (dd->r.faulted) {
        s->n_partial++;
        dd->r.status = DSA_COMP_PAGE_FAULT_NOBOF |
                       (dd->r.fault_write ? DSA_COMP_STATUS_WRITE : 0);
    }
    dsa_finish(wq, dd);
}

/*
 * The batch descriptor completes after @ran members. Members abandoned by a
 * fence did not complete: the batch fails and descs_completed counts only
 * the members that ran.
 */
static void dsa_batch_done(DSAWq *wq, uint32_t ran)
{
    DSAJob *j = &wq->job;
    DSADesc *top = &j->top;
    bool fail = j->failed || ran < j->count;

    memset(&top->r, 0, sizeof(top->r));
    top->r.status = fail ? DSA_COMP_BATCH_FAIL : DSA_COMP_SUCCESS;
    top->r.result = fail ? 1 : 0;
    top->r.bytes_completed = ran;
    dsa_finish(wq, top);
}

/*
 * BATCH: read member j->idx of the list, then run it. The device reads the
 * list as it goes, so the members before an unreadable one have run: the
 * batch then completes 0x06 with descs_completed = that index and the
 * address that faulted (a client resumes from list + 64 x descs_completed).
 * A fault on the list may become a page request whatever the WQ's block on
 * fault says (the batch descriptor's own BOF flag is reserved), like a
 * completion record's: the read then waits and the batch goes on.
 */
static void dsa_read_list(FaultlabDsaState *s, DSAWq *wq)
{
    DSAJob *j = &wq->job;
    DSADesc *top = &j->top;
    uint64_t addr = dsa_desc_u64(top->d, DSA_DESC_SRC) +
                    (uint64_t)j->idx * DSA_DESC_SIZE;
    uint8_t d[DSA_DESC_SIZE];

    j->allow_prs = dsa_wq_prs(s, wq);
    j->faulted = false;
    if (!dsa_access(wq, addr, d, DSA_DESC_SIZE, false)) {
        if (j->held) {
            return;
        }
        memset(&top->r, 0, sizeof(top->r));
        top->r.status = DSA_COMP_BATCH_PAGE_FAULT;
        top->r.faulted = true;
        top->r.fault_addr = j->fault_addr;
        top->r.bytes_completed = j->idx;
        s->n_partial++;
        dsa_finish(wq, top);
        return;
    }
    memcpy(j->mem.d, d, DSA_DESC_SIZE);
    if (j->fence_stop && (dsa_desc_flags(j->mem.d) & DSA_FLAG_FENCE)) {
        /* Abandoned, with every member after it. */
        trace_dsa_batch_fence(wq->index, j->idx, j->count);
        dsa_batch_done(wq, j->idx);
        return;
    }
    j->in_member = true;
    dsa_desc_begin(s, wq, &j->mem, true);
}

static bool dsa_cr_wanted(const DSADesc *dd)
{
    uint32_t flags = dsa_desc_flags(dd->d);
    uint8_t code = dd->cr[0] & 0x7f;

    if (!(flags & DSA_FLAG_CRAV)) {
        return false;
    }
    return (flags & DSA_FLAG_RCR) ||
           (code != DSA_COMP_SUCCESS && code != DSA_COMP_SUCCESS_PRED);
}

/*
 * The record of a DRAIN descriptor that completed: when it cannot be written
 * it goes to the event log as 0x26 DRAIN_EVL (rcr = the descriptor's RCR;
 * idxd delivers it only with rcr). A DRAIN that failed (a batch member, a bad
 * interrupt handle) reports its record as any other descriptor, 0x1a, and so
 * does every record without the event log (SWERR, as in DSA 1.0).
 */
static bool dsa_drain_cr(FaultlabDsaState *s, DSAWq *wq, const DSADesc *dd)
{
    return dsa_evl_on(s) && !wq->job.in_member &&
           dsa_desc_opcode(dd->d) == DSA_OPCODE_DRAIN &&
           (dd->cr[0] & 0x7f) == DSA_COMP_SUCCESS;
}

static void dsa_completion_irq(FaultlabDsaState *s, const DSADesc *dd)
{
    if (dsa_desc_flags(dd->d) & DSA_FLAG_RCI) {
        dsa_msix(s, dsa_desc_u32(dd->d, DSA_DESC_INT_HANDLE) & 0xffff);
    }
}

static void dsa_write_cr(FaultlabDsaState *s, DSAWq *wq, DSADesc *dd)
{
    DSAJob *j = &wq->job;
    uint64_t cr_addr = dsa_desc_u64(dd->d, DSA_DESC_COMPLETION_ADDR);
    bool ok;

    trace_dsa_complete(wq->index, dsa_desc_opcode(dd->d), dd->cr[0],
                       dd->r.bytes_completed, dd->r.fault_addr, cr_addr);
    if (!j->in_member && dsa_desc_opcode(dd->d) == DSA_OPCODE_BATCH &&
        j->evl_used && (dsa_desc_flags(dd->d) & DSA_FLAG_CRAV)) {
        /*
         * Member records went through the event log: the batch's own record
         * follows them there, so software can fix its status.
         */
        dd->error = DSA_COMP_BATCH_EVL_ERR;
        dd->error_addr = cr_addr;
        dd->error_write = true;
        j->phase = DSA_PH_EVL;
        return;
    }
    if (!dsa_cr_wanted(dd)) {
        dsa_completion_irq(s, dd);
        j->phase = DSA_PH_NEXT;
        return;
    }
    /* DSA 1.0 behaviour kept in 2.0: a CR fault may request the page. */
    j->allow_prs = dsa_wq_prs(s, wq);
    j->faulted = false;
    if (s->inject_cr_fail_next && !j->priv) {
        s->inject_cr_fail_next--;
        ok = dsa_fault(j, cr_addr, true);
    } else {
        /* The status byte last. */
        ok = dsa_access(wq, cr_addr + 1, dd->cr + 1, DSA_CR_SIZE - 1, true) &&
             dsa_access(wq, cr_addr, dd->cr, 1, true);
    }
    if (j->held) {
        return;
    }
    if (!ok) {
        s->n_cr_faults++;
        dd->error = dsa_drain_cr(s, wq, dd) ? DSA_COMP_DRAIN_EVL :
                                              DSA_COMP_CRA_XLAT;
        dd->error_addr = cr_addr;
        dd->error_write = true;
        j->phase = DSA_PH_EVL;
        return;
    }
    dsa_completion_irq(s, dd);
    j->phase = DSA_PH_NEXT;
}

/* Report dd->error; false while the event log is full. */
static bool dsa_report(FaultlabDsaState *s, DSAWq *wq, DSADesc *dd)
{
    DSAJob *j = &wq->job;
    DSAErrInfo e;
    bool with_cr = dd->error == DSA_COMP_CRA_XLAT ||
                   dd->error == DSA_COMP_DRAIN_EVL ||
                   dd->error == DSA_COMP_BATCH_EVL_ERR;

    dsa_err_from_desc(wq, dd, &e);
    if (j->in_member) {
        e.batch = true;
        e.batch_id = j->batch_id;
        e.batch_idx = j->idx;
        e.first_err = dd->error == DSA_COMP_CRA_XLAT && !j->evl_used;
    } else if (dd->error == DSA_COMP_BATCH_EVL_ERR) {
        e.batch_id = j->batch_id;
    }
    e.cr = with_cr ? dd->cr : NULL;
    if (!dsa_report_error(s, &e)) {
        if (!j->evl_waiting) {
            j->evl_waiting = true;
            s->n_evl_full_waits++;
            trace_dsa_evl_full(s->evl_head, s->evl_tail);
        }
        return false;
    }
    j->evl_waiting = false;
    if (j->in_member && dd->error == DSA_COMP_CRA_XLAT) {
        j->evl_used = true;
    }
    j->phase = DSA_PH_NEXT;
    return true;
}

static void dsa_next(FaultlabDsaState *s, DSAWq *wq)
{
    DSAJob *j = &wq->job;
    uint8_t code;

    if (!j->in_member) {
        j->phase = DSA_PH_IDLE;
        return;
    }
    /*
     * The member's own status counts, also when its record went to the
     * event log: the device cannot know whether software will deliver it
     * (idxd turns the batch's Success into Batch Fail afterwards when it
     * could not, irq.c idxd_evl_fault_work).
     */
    code = j->mem.r.status & 0x7f;
    if (code != DSA_COMP_SUCCESS && code != DSA_COMP_SUCCESS_PRED) {
        j->failed++;
    }
    /* Success with false predicate stops a fence too (Check Result). */
    if (code != DSA_COMP_SUCCESS) {
        j->fence_stop = true;
    }
    j->in_member = false;
    j->idx++;
    if (j->idx < j->count) {
        j->phase = DSA_PH_LIST;
        return;
    }
    dsa_batch_done(wq, j->count);
}

/* One step of @wq's work; false when it cannot go on now. */
static bool dsa_wq_step(FaultlabDsaState *s, DSAWq *wq)
{
    DSAJob *j = &wq->job;
    DSADesc *dd = j->in_member ? &j->mem : &j->top;

    if (j->held || dsa_state(s) != DSA_STATE_ENABLED) {
        return false;
    }
    switch (j->phase) {
    case DSA_PH_IDLE:
        if (!wq->count) {
            return false;
        }
        dsa_job_start(s, wq);
        return true;
    case DSA_PH_LIST:
        dsa_read_list(s, wq);
        return !j->held;
    case DSA_PH_RUN:
        dsa_run(s, wq, dd);
        return !j->held;
    case DSA_PH_CR:
        dsa_write_cr(s, wq, dd);
        return !j->held;
    case DSA_PH_EVL:
        return dsa_report(s, wq, dd);
    case DSA_PH_NEXT:
        dsa_next(s, wq);
        return true;
    default:
        j->phase = DSA_PH_IDLE;
        return true;
    }
}

static void dsa_cmd_done(FaultlabDsaState *s, uint32_t status);
static bool dsa_drain_done(FaultlabDsaState *s, uint32_t cmd);

static void dsa_bh(void *opaque)
{
    FaultlabDsaState *s = opaque;
    unsigned budget = DSA_BH_BUDGET;
    bool progress = true;
    int i;

    while (budget && progress) {
        progress = false;
        for (i = 0; i < DSA_NUM_WQS && budget; i++) {
            if (dsa_wq_step(s, &s->wq[i])) {
                progress = true;
                budget--;
            }
        }
    }
    if (!budget) {
        qemu_bh_schedule(s->bh);
    }
    if ((s->cmdsts & DSA_CMDSTS_ACTIVE) && s->drain_cmd &&
        dsa_drain_done(s, s->drain_cmd)) {
        s->drain_cmd = 0;
        dsa_cmd_done(s, DSA_CMDSTS_SUCCESS);
    }
}

/* Portals */

static FaultlabPortalAnswer dsa_submit(FaultlabDsaState *s, uint32_t wqi,
                                       FaultlabStoreKind kind,
                                       const uint8_t *data, uint32_t pasid,
                                       bool priv)
{
    DSAWq *wq = &s->wq[wqi];
    bool enq = kind == FAULTLAB_STORE_ENQCMD || kind == FAULTLAB_STORE_ENQCMDS;
    FaultlabPortalAnswer answer = FAULTLAB_PORTAL_ACCEPTED;
    DSAErrInfo e = {
        .desc_valid = true,
        .wq_valid = true,
        .wq = wqi,
        .operation = dsa_desc_opcode(data),
        .pasid = enq ? pasid : 0,
        .priv = enq && priv,
    };
    uint32_t slot;

    if (dsa_state(s) != DSA_STATE_ENABLED || !wq->enabled) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: descriptor to disabled wq%u "
                      "dropped\n", TYPE_FAULTLAB_DSA, wqi);
        e.error = DSA_ERR_WQ_DISABLED;
        answer = enq ? FAULTLAB_PORTAL_RETRY : FAULTLAB_PORTAL_ACCEPTED;
    } else if (enq == dsa_wq_dedicated(wq)) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: %s to a %s wq%u dropped\n",
                      TYPE_FAULTLAB_DSA, enq ? "ENQCMD(S)" : "MOVDIR64B",
                      enq ? "dedicated" : "shared", wqi);
        e.error = DSA_ERR_WQ_MODE;
        answer = enq ? FAULTLAB_PORTAL_RETRY : FAULTLAB_PORTAL_ACCEPTED;
    } else if (enq && pasid >= (1u << s->pasid_bits)) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: wq%u: PASID 0x%x out of range\n",
                      TYPE_FAULTLAB_DSA, wqi, pasid);
        e.error = DSA_COMP_TRANSLATION_FAIL;
    } else if (wq->count >= dsa_wq_size(wq)) {
        if (enq) {
            answer = FAULTLAB_PORTAL_RETRY;
        } else {
            qemu_log_mask(LOG_GUEST_ERROR, "%s: dedicated wq%u full: "
                          "descriptor dropped\n", TYPE_FAULTLAB_DSA, wqi);
            e.error = DSA_ERR_WQ_FULL;
        }
    } else {
        slot = (wq->head + wq->count) % DSA_TOTAL_WQ_SIZE;
        memcpy(wq->ring[slot], data, DSA_DESC_SIZE);
        wq->ring_pasid[slot] = enq ? (1u << 31) | (priv ? 1u << 30 : 0) |
                                     (pasid & DSA_WQCFG2_PASID_MASK) : 0;
        wq->count++;
        qemu_bh_schedule(s->bh);
    }
    if (answer == FAULTLAB_PORTAL_RETRY) {
        s->n_portal_retries++;
    } else if (e.error) {
        s->n_portal_drops++;
        dsa_report_error(s, &e);
    }
    trace_dsa_portal(wqi, kind, pasid, dsa_desc_opcode(data), answer);
    return answer;
}

static FaultlabPortalAnswer dsa_portal_store(FaultlabPortal *portal,
                                             const FaultlabStore *st)
{
    FaultlabDsaState *s = FAULTLAB_DSA(portal);
    uint32_t wqi;

    if (st->mr != &s->portals) {
        return FAULTLAB_PORTAL_NONE;    /* BAR0: an ordinary store */
    }
    if (st->len != DSA_DESC_SIZE || st->kind == FAULTLAB_STORE_PASTE) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: %u-byte block store kind %d to "
                      "a portal dropped\n", TYPE_FAULTLAB_DSA, st->len,
                      st->kind);
        return FAULTLAB_PORTAL_ACCEPTED;
    }
    wqi = st->offset / DSA_PORTAL_STRIDE;
    if (wqi >= DSA_NUM_WQS) {
        return FAULTLAB_PORTAL_ACCEPTED;
    }
    return dsa_submit(s, wqi, st->kind, st->data, st->pasid, st->priv);
}

/* Commands */

static void dsa_cmd_done(FaultlabDsaState *s, uint32_t status)
{
    s->cmdsts = status;
    trace_dsa_cmd((s->cmd >> DSA_CMD_SHIFT) & DSA_CMD_MASK,
                  s->cmd & DSA_CMD_OPERAND_MASK, status);
    if (s->cmd & DSA_CMD_INT_REQ) {
        dsa_misc_irq(s, DSA_INTC_CMD, true);
    }
}

/* The WQs of the bitmap operand of DISABLE/DRAIN/ABORT/RESET_WQ. */
static bool dsa_wq_in_operand(uint32_t operand, uint32_t wqi)
{
    return (operand >> 16) == wqi / 16 && (operand & BIT(wqi % 16));
}

static bool dsa_pasid_busy(DSAWq *wq, uint32_t pasid)
{
    uint32_t i;
    DSAJob *j = &wq->job;

    if (j->phase != DSA_PH_IDLE && j->pasid_valid && j->pasid == pasid) {
        return true;
    }
    for (i = 0; i < wq->count; i++) {
        uint32_t tag = wq->ring_pasid[(wq->head + i) % DSA_TOTAL_WQ_SIZE];

        if ((tag & (1u << 31)) && (tag & DSA_WQCFG2_PASID_MASK) == pasid) {
            return true;
        }
        if (!(tag & (1u << 31)) && dsa_wq_dedicated(wq) &&
            (wq->cfg[2] & DSA_WQCFG2_PASID_EN) &&
            ((wq->cfg[2] >> DSA_WQCFG2_PASID_SHIFT) &
             DSA_WQCFG2_PASID_MASK) == pasid) {
            return true;
        }
    }
    return false;
}

static bool dsa_drain_done(FaultlabDsaState *s, uint32_t cmd)
{
    uint32_t code = (cmd >> DSA_CMD_SHIFT) & DSA_CMD_MASK;
    uint32_t operand = cmd & DSA_CMD_OPERAND_MASK;
    int i;

    if (dsa_state(s) != DSA_STATE_ENABLED) {
        return true;    /* nothing runs any more */
    }
    for (i = 0; i < DSA_NUM_WQS; i++) {
        DSAWq *wq = &s->wq[i];

        switch (code) {
        case DSA_CMD_DRAIN_ALL:
            if (dsa_wq_active(wq)) {
                return false;
            }
            break;
        case DSA_CMD_DRAIN_WQ:
        case DSA_CMD_DISABLE_WQ:
            if (dsa_wq_in_operand(operand, i) && dsa_wq_active(wq)) {
                return false;
            }
            break;
        case DSA_CMD_DRAIN_PASID:
            if (dsa_pasid_busy(wq, operand)) {
                return false;
            }
            break;
        }
    }
    return true;
}

static void dsa_wq_abort(FaultlabDsaState *s, DSAWq *wq, bool by_pasid,
                         uint32_t pasid)
{
    DSAJob *j = &wq->job;
    uint8_t (*ring)[DSA_DESC_SIZE];
    uint32_t *tags;
    uint32_t i, n = 0;

    if (!by_pasid || (j->phase != DSA_PH_IDLE && j->pasid_valid &&
                      j->pasid == pasid)) {
        dsa_forget(wq);
        j->phase = DSA_PH_IDLE;
        j->in_member = false;
        j->evl_waiting = false;
    }
    if (!by_pasid) {
        wq->head = 0;
        wq->count = 0;
        return;
    }
    ring = g_malloc(sizeof(wq->ring));
    tags = g_new(uint32_t, DSA_TOTAL_WQ_SIZE);
    for (i = 0; i < wq->count; i++) {
        uint32_t k = (wq->head + i) % DSA_TOTAL_WQ_SIZE;
        uint32_t tag = wq->ring_pasid[k];
        bool match = (tag & (1u << 31)) ?
            (tag & DSA_WQCFG2_PASID_MASK) == pasid :
            dsa_wq_dedicated(wq) && (wq->cfg[2] & DSA_WQCFG2_PASID_EN) &&
            ((wq->cfg[2] >> DSA_WQCFG2_PASID_SHIFT) &
             DSA_WQCFG2_PASID_MASK) == pasid;

        if (!match) {
            memcpy(ring[n], wq->ring[k], DSA_DESC_SIZE);
            tags[n++] = tag;
        }
    }
    memcpy(wq->ring, ring, (size_t)n * DSA_DESC_SIZE);
    memcpy(wq->ring_pasid, tags, n * sizeof(uint32_t));
    wq->head = 0;
    wq->count = n;
    g_free(ring);
    g_free(tags);
}

static void dsa_wq_reset_cfg(DSAWq *wq)
{
    memset(wq->cfg, 0, sizeof(wq->cfg));
    wq->enabled = false;
}

/* Everything RESET_DEVICE (and a PCI reset) returns to reset values. */
static void dsa_device_reset(FaultlabDsaState *s)
{
    int i;

    for (i = 0; i < DSA_NUM_WQS; i++) {
        dsa_wq_abort(s, &s->wq[i], false, 0);
        dsa_wq_reset_cfg(&s->wq[i]);
    }
    s->gencfg = 0;
    s->genctrl = 0;
    s->gensts = DSA_STATE_DISABLED;
    s->intcause = 0;
    memset(s->swerr, 0, sizeof(s->swerr));
    memset(s->evlcfg, 0, sizeof(s->evlcfg));
    s->evl_head = 0;
    s->evl_tail = 0;
    s->evl_int_pending = false;
    memset(s->grpcfg, 0, sizeof(s->grpcfg));
    memset(s->msixperm, 0, sizeof(s->msixperm));
    s->drain_cmd = 0;
}

static uint32_t dsa_total_size(FaultlabDsaState *s)
{
    uint32_t total = 0;
    int i;

    for (i = 0; i < DSA_NUM_WQS; i++) {
        total += s->wq[i].cfg[0] & 0xffff;
    }
    return total;
}

static uint32_t dsa_enable_wq(FaultlabDsaState *s, uint32_t wqi)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    DSAWq *wq;
    uint32_t cfg2, size, pasid;
    uint16_t pasid_ctrl;

    if (wqi >= DSA_NUM_WQS) {
        return DSA_CMDSTS_INVAL_WQIDX;
    }
    wq = &s->wq[wqi];
    cfg2 = wq->cfg[2];
    size = wq->cfg[0] & 0xffff;
    pasid = (cfg2 >> DSA_WQCFG2_PASID_SHIFT) & DSA_WQCFG2_PASID_MASK;
    pasid_ctrl = pci_get_word(pdev->config + s->pci_pasid.pasid_cap +
                              PCI_PASID_CTRL);
    if (dsa_state(s) != DSA_STATE_ENABLED) {
        return DSA_CMDSTS_DEV_NOTEN;
    }
    if (wq->enabled || dsa_wq_active(wq)) {
        return DSA_CMDSTS_WQ_ENABLED;
    }
    if (!size || size > DSA_TOTAL_WQ_SIZE ||
        dsa_total_size(s) > DSA_TOTAL_WQ_SIZE) {
        return DSA_CMDSTS_WQ_SIZE;
    }
    if (!(cfg2 & DSA_WQCFG2_MODE_DED) && !(cfg2 & DSA_WQCFG2_PASID_EN)) {
        return DSA_CMDSTS_PASID_EN;     /* a shared WQ needs PASIDs */
    }
    if ((cfg2 & DSA_WQCFG2_PASID_EN) &&
        (!(pasid_ctrl & PCI_PASID_CTRL_ENABLE) ||
         pasid >= (1u << s->pasid_bits) ||
         ((cfg2 & DSA_WQCFG2_MODE_DED) && (cfg2 & DSA_WQCFG2_PRIV) &&
          !(pasid_ctrl & PCI_PASID_CTRL_PRIV)))) {
        return DSA_CMDSTS_PASID_EN;
    }
    if ((wq->cfg[3] & DSA_WQCFG3_XFER_MASK) > DSA_MAX_XFER_SHIFT) {
        return DSA_CMDSTS_MAX_XFER_SIZE;
    }
    if (((wq->cfg[3] >> DSA_WQCFG3_BATCH_SHIFT) & DSA_WQCFG3_BATCH_MASK) >
        DSA_MAX_BATCH_SHIFT) {
        return DSA_CMDSTS_MAX_BATCH_SIZE;
    }
    wq->enabled = true;
    wq->head = 0;
    wq->count = 0;
    return DSA_CMDSTS_SUCCESS;
}

static void dsa_cmd_write(FaultlabDsaState *s, uint32_t val)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint32_t code = (val >> DSA_CMD_SHIFT) & DSA_CMD_MASK;
    uint32_t operand = val & DSA_CMD_OPERAND_MASK;
    uint32_t status = DSA_CMDSTS_SUCCESS;
    bool enabled = dsa_state(s) == DSA_STATE_ENABLED;
    int i;

    if (s->cmdsts & DSA_CMDSTS_ACTIVE) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: CMD 0x%x written while a command "
                      "is active: ignored\n", TYPE_FAULTLAB_DSA, val);
        return;
    }
    s->cmd = val;
    if (dsa_state(s) == DSA_STATE_HALT) {
        dsa_cmd_done(s, DSA_CMDSTS_HW_ERR);
        return;
    }
    switch (code) {
    case DSA_CMD_ENABLE_DEVICE:
        if (enabled) {
            status = DSA_CMDSTS_DEV_ENABLED;
        } else if (!(pdev->config[PCI_COMMAND] & PCI_COMMAND_MASTER)) {
            status = DSA_CMDSTS_BUSMASTER_EN;
        } else if (dsa_total_size(s) > DSA_TOTAL_WQ_SIZE) {
            status = DSA_CMDSTS_WQ_SIZE_ERANGE;
        } else if ((s->gencfg & DSA_GENCFG_EVL_EN) &&
                   dsa_evl_size(s) < 2) {
            status = DSA_CMDSTS_CONFIG;
        } else {
            s->gensts = DSA_STATE_ENABLED;
            s->evl_head = 0;
            s->evl_tail = 0;
            s->evl_int_pending = false;
        }
        break;
    case DSA_CMD_DISABLE_DEVICE:
        if (!enabled) {
            status = DSA_CMDSTS_DIS_DEV_EN;
            break;
        }
        for (i = 0; i < DSA_NUM_WQS; i++) {
            dsa_wq_abort(s, &s->wq[i], false, 0);
            s->wq[i].enabled = false;
        }
        s->gensts = DSA_STATE_DISABLED;
        break;
    case DSA_CMD_DRAIN_ALL:
    case DSA_CMD_DRAIN_PASID:
        if (!enabled) {
            status = DSA_CMDSTS_DEV_NOT_EN;
            break;
        }
        goto drain;
    case DSA_CMD_DRAIN_WQ:
    case DSA_CMD_DISABLE_WQ:
        if (!enabled) {
            status = DSA_CMDSTS_DEV_NOT_EN;
            break;
        }
        if ((operand >> 16) * 16 >= DSA_NUM_WQS ||
            (operand & 0xffff & ~MAKE_64BIT_MASK(0, DSA_NUM_WQS -
                                                  (operand >> 16) * 16))) {
            status = DSA_CMDSTS_INVAL_WQIDX;
            break;
        }
        if (code == DSA_CMD_DISABLE_WQ) {
            for (i = 0; i < DSA_NUM_WQS; i++) {
                if (dsa_wq_in_operand(operand, i)) {
                    s->wq[i].enabled = false;
                }
            }
        }
    drain:
        if (!dsa_drain_done(s, val)) {
            s->cmdsts = DSA_CMDSTS_ACTIVE;
            s->drain_cmd = val;
            qemu_bh_schedule(s->bh);
            return;
        }
        break;
    case DSA_CMD_ABORT_ALL:
    case DSA_CMD_ABORT_WQ:
    case DSA_CMD_ABORT_PASID:
    case DSA_CMD_RESET_WQ:
        if (code == DSA_CMD_ABORT_WQ || code == DSA_CMD_RESET_WQ) {
            if ((operand >> 16) * 16 >= DSA_NUM_WQS ||
                (operand & 0xffff &
                 ~MAKE_64BIT_MASK(0, DSA_NUM_WQS - (operand >> 16) * 16))) {
                status = DSA_CMDSTS_INVAL_WQIDX;
                break;
            }
        }
        if (!enabled && code != DSA_CMD_RESET_WQ) {
            status = DSA_CMDSTS_DEV_NOT_EN;
            break;
        }
        for (i = 0; i < DSA_NUM_WQS; i++) {
            if (code == DSA_CMD_ABORT_ALL) {
                dsa_wq_abort(s, &s->wq[i], false, 0);
            } else if (code == DSA_CMD_ABORT_PASID) {
                dsa_wq_abort(s, &s->wq[i], true, operand);
            } else if (dsa_wq_in_operand(operand, i)) {
                dsa_wq_abort(s, &s->wq[i], false, 0);
                if (code == DSA_CMD_RESET_WQ) {
                    dsa_wq_reset_cfg(&s->wq[i]);
                }
            }
        }
        break;
    case DSA_CMD_RESET_DEVICE:
        dsa_device_reset(s);
        break;
    case DSA_CMD_ENABLE_WQ:
        status = dsa_enable_wq(s, operand);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "%s: unsupported command %u\n",
                      TYPE_FAULTLAB_DSA, code);
        status = DSA_CMDSTS_INVAL_CMD;
        break;
    }
    dsa_cmd_done(s, status);
    /* Something may run now (or have been stopped). */
    qemu_bh_schedule(s->bh);
}

/* Registers */

static uint64_t dsa_wqcfg_read(FaultlabDsaState *s, uint32_t wqi,
                               uint32_t dw)
{
    DSAWq *wq = &s->wq[wqi];

    if (dw == 6) {
        return (uint32_t)(wq->enabled ? 1u : 0u) << DSA_WQCFG6_STATE_SHIFT;
    }
    return wq->cfg[dw];
}

static void dsa_wqcfg_write(FaultlabDsaState *s, uint32_t wqi, uint32_t dw,
                            uint32_t val)
{
    DSAWq *wq = &s->wq[wqi];
    static const uint32_t mask[16] = {
        [0] = 0xffff, [1] = 0xffff, [2] = DSA_WQCFG2_MASK,
        [3] = DSA_WQCFG3_MASK,
        [8] = (uint32_t)DSA_OPCAP0_VALUE,
        [9] = (uint32_t)(DSA_OPCAP0_VALUE >> 32),
    };

    if (wq->enabled || dsa_wq_active(wq)) {
        if ((val & mask[dw]) != wq->cfg[dw]) {
            qemu_log_mask(LOG_GUEST_ERROR, "%s: WQCFG of enabled wq%u "
                          "dword %u is read-only\n", TYPE_FAULTLAB_DSA, wqi,
                          dw);
        }
        return;
    }
    if (dw == 2 && (val & DSA_WQCFG2_BOF) && !(DSA_GENCAP_VALUE &
                                               DSA_GENCAP_BOF)) {
        val &= ~DSA_WQCFG2_BOF;
    }
    wq->cfg[dw] = val & mask[dw];
}

static uint64_t dsa_read64(FaultlabDsaState *s, hwaddr addr)
{
    if (addr >= DSA_WQCFG_BASE &&
        addr < DSA_WQCFG_BASE + DSA_NUM_WQS * DSA_WQCFG_SIZE) {
        uint32_t wqi = (addr - DSA_WQCFG_BASE) / DSA_WQCFG_SIZE;
        uint32_t dw = ((addr - DSA_WQCFG_BASE) % DSA_WQCFG_SIZE) / 4;

        return dsa_wqcfg_read(s, wqi, dw) |
               dsa_wqcfg_read(s, wqi, dw + 1) << 32;
    }
    if (addr >= DSA_GRPCFG_BASE &&
        addr < DSA_GRPCFG_BASE + DSA_NUM_GROUPS * DSA_GRPCFG_SIZE) {
        uint32_t g = (addr - DSA_GRPCFG_BASE) / DSA_GRPCFG_SIZE;

        return s->grpcfg[g][((addr - DSA_GRPCFG_BASE) % DSA_GRPCFG_SIZE) / 8];
    }
    if (addr >= DSA_MSIXPERM_BASE &&
        addr < DSA_MSIXPERM_BASE + DSA_MSIX_VECTORS * 8) {
        return s->msixperm[(addr - DSA_MSIXPERM_BASE) / 8];
    }
    switch (addr) {
    case DSA_REG_VERSION:
        return DSA_VERSION;
    case DSA_REG_GENCAP:
        return DSA_GENCAP_VALUE;
    case DSA_REG_WQCAP:
        return DSA_WQCAP_VALUE;
    case DSA_REG_GRPCAP:
        return DSA_GRPCAP_VALUE;
    case DSA_REG_ENGCAP:
        return DSA_ENGCAP_VALUE;
    case DSA_REG_OPCAP:
        return DSA_OPCAP0_VALUE;
    case DSA_REG_OPCAP + 8:
    case DSA_REG_OPCAP + 16:
    case DSA_REG_OPCAP + 24:
        return 0;
    case DSA_REG_TABLE_OFFSET:
        return DSA_TABLE0_VALUE;
    case DSA_REG_TABLE_OFFSET + 8:
        return 0;       /* no performance monitor */
    case DSA_REG_GENCFG:
        return s->gencfg;
    case DSA_REG_GENCTRL:
        return s->genctrl;
    case DSA_REG_GENSTS:
        return s->gensts;
    case DSA_REG_INTCAUSE:
        return s->intcause;
    case DSA_REG_CMD:
        return s->cmd;
    case DSA_REG_CMDSTS:
        return s->cmdsts;
    case DSA_REG_CMDCAP:
        return DSA_CMDCAP_VALUE;
    case DSA_REG_SWERR:
    case DSA_REG_SWERR + 8:
    case DSA_REG_SWERR + 16:
    case DSA_REG_SWERR + 24:
        return s->swerr[(addr - DSA_REG_SWERR) / 8];
    case DSA_REG_EVLCFG:
    case DSA_REG_EVLCFG + 8:
        return s->evlcfg[(addr - DSA_REG_EVLCFG) / 8];
    case DSA_REG_EVLSTATUS:
        return s->evl_head | (uint64_t)s->evl_tail << DSA_EVLSTATUS_TAIL_SHIFT |
               (s->evl_int_pending ? DSA_EVLSTATUS_INT_PENDING : 0);
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "%s: read of unknown register 0x%"
                      HWADDR_PRIx "\n", TYPE_FAULTLAB_DSA, addr);
        return 0;
    }
}

static uint64_t dsa_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    FaultlabDsaState *s = opaque;
    uint64_t val = dsa_read64(s, addr & ~7ULL);

    if (size == 4) {
        val = extract64(val, (addr & 4) * 8, 32);
    }
    trace_dsa_mmio_read(addr, size, val);
    return val;
}

static void dsa_merge(uint64_t *reg, uint64_t val, uint64_t mask)
{
    *reg = (*reg & ~mask) | (val & mask);
}

static void dsa_write_ro(hwaddr addr)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: write to read-only register 0x%"
                  HWADDR_PRIx " ignored\n", TYPE_FAULTLAB_DSA, addr);
}

static void dsa_write64(FaultlabDsaState *s, hwaddr addr, uint64_t val,
                        uint64_t mask)
{
    uint64_t v;

    if (addr >= DSA_WQCFG_BASE &&
        addr < DSA_WQCFG_BASE + DSA_NUM_WQS * DSA_WQCFG_SIZE) {
        uint32_t wqi = (addr - DSA_WQCFG_BASE) / DSA_WQCFG_SIZE;
        uint32_t dw = ((addr - DSA_WQCFG_BASE) % DSA_WQCFG_SIZE) / 4;

        if (mask & 0xffffffffULL) {
            dsa_wqcfg_write(s, wqi, dw, val);
        }
        if (mask >> 32) {
            dsa_wqcfg_write(s, wqi, dw + 1, val >> 32);
        }
        return;
    }
    if (addr >= DSA_GRPCFG_BASE &&
        addr < DSA_GRPCFG_BASE + DSA_NUM_GROUPS * DSA_GRPCFG_SIZE) {
        uint32_t g = (addr - DSA_GRPCFG_BASE) / DSA_GRPCFG_SIZE;
        uint32_t q = ((addr - DSA_GRPCFG_BASE) % DSA_GRPCFG_SIZE) / 8;
        static const uint64_t gmask[8] = {
            [0] = MAKE_64BIT_MASK(0, DSA_NUM_WQS),
            [4] = MAKE_64BIT_MASK(0, DSA_NUM_ENGINES),
            [5] = 0x3300ff0ff8fULL,
        };

        dsa_merge(&s->grpcfg[g][q], val, mask & gmask[q]);
        return;
    }
    if (addr >= DSA_MSIXPERM_BASE &&
        addr < DSA_MSIXPERM_BASE + DSA_MSIX_VECTORS * 8) {
        if (mask & 0xffffffffULL) {
            s->msixperm[(addr - DSA_MSIXPERM_BASE) / 8] =
                val & DSA_MSIXPERM_MASK;
        }
        return;
    }
    switch (addr) {
    case DSA_REG_GENCFG:
        v = s->gencfg;
        dsa_merge(&v, val, mask & DSA_GENCFG_MASK);
        s->gencfg = v;
        qemu_bh_schedule(s->bh);
        break;
    case DSA_REG_GENCTRL:
        v = s->genctrl;
        dsa_merge(&v, val, mask & DSA_GENCTRL_MASK);
        s->genctrl = v;
        break;
    case DSA_REG_INTCAUSE:
        s->intcause &= ~(uint32_t)(val & mask);
        break;
    case DSA_REG_CMD:
        if (mask & 0xffffffffULL) {
            dsa_cmd_write(s, val);
        }
        break;
    case DSA_REG_SWERR:
        v = val & mask & (DSA_SWERR_VALID | DSA_SWERR_OVERFLOW);
        s->swerr[0] &= ~v;
        if (v & DSA_SWERR_VALID) {
            s->swerr[0] &= DSA_SWERR_OVERFLOW;
            s->swerr[1] = 0;
            s->swerr[2] = 0;
            s->swerr[3] = 0;
        }
        break;
    case DSA_REG_EVLCFG:
    case DSA_REG_EVLCFG + 8:
        if (dsa_state(s) == DSA_STATE_ENABLED) {
            qemu_log_mask(LOG_GUEST_ERROR, "%s: EVLCFG written while the "
                          "device is enabled: ignored\n", TYPE_FAULTLAB_DSA);
            break;
        }
        dsa_merge(&s->evlcfg[(addr - DSA_REG_EVLCFG) / 8], val,
                  mask & (addr == DSA_REG_EVLCFG ?
                          (DSA_EVLCFG_BASE_MASK | 3) : 0xfffffffffULL));
        break;
    case DSA_REG_EVLSTATUS:
        if (mask & 0xffffULL) {
            uint32_t size = dsa_evl_size(s);
            uint32_t head = val & DSA_EVLSTATUS_HEAD_MASK;

            if (size && head >= size) {
                qemu_log_mask(LOG_GUEST_ERROR, "%s: EVLSTATUS head %u beyond "
                              "the log size %u: ignored\n",
                              TYPE_FAULTLAB_DSA, head, size);
            } else {
                s->evl_head = head;
                qemu_bh_schedule(s->bh);
            }
        }
        if (val & mask & DSA_EVLSTATUS_INT_PENDING) {
            s->evl_int_pending = false;
        }
        break;
    case DSA_REG_CMDSTS:
    case DSA_REG_VERSION:
    case DSA_REG_GENCAP:
    case DSA_REG_WQCAP:
    case DSA_REG_GRPCAP:
    case DSA_REG_ENGCAP:
    case DSA_REG_OPCAP ... DSA_REG_OPCAP + 24:
    case DSA_REG_TABLE_OFFSET:
    case DSA_REG_TABLE_OFFSET + 8:
    case DSA_REG_GENSTS:
    case DSA_REG_CMDCAP:
    case DSA_REG_SWERR + 8 ... DSA_REG_SWERR + 24:
        dsa_write_ro(addr);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "%s: write to unknown register 0x%"
                      HWADDR_PRIx "\n", TYPE_FAULTLAB_DSA, addr);
        break;
    }
}

static void dsa_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                           unsigned size)
{
    FaultlabDsaState *s = opaque;
    unsigned shift = size == 4 ? (addr & 4) * 8 : 0;
    uint64_t mask = size == 4 ? MAKE_64BIT_MASK(shift, 32) : UINT64_MAX;

    trace_dsa_mmio_write(addr, size, val);
    dsa_write64(s, addr & ~7ULL, val << shift, mask);
}

static const MemoryRegionOps dsa_mmio_ops = {
    .read = dsa_mmio_read,
    .write = dsa_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 4,
        .max_access_size = 8,
        .unaligned = false,
    },
    .impl = {
        .min_access_size = 4,
        .max_access_size = 8,
    },
};

/* PCI */

static void dsa_write_config(PCIDevice *pdev, uint32_t addr, uint32_t val,
                             int len)
{
    FaultlabDsaState *s = FAULTLAB_DSA(pdev);
    bool outstanding = false;
    int i;

    /* A held access is an outstanding page request. */
    for (i = 0; i < DSA_NUM_WQS; i++) {
        outstanding |= s->wq[i].job.held;
    }
    faultlab_pci_pasid_write_config(&s->pci_pasid, pdev, addr, val, len,
                                    outstanding);
}

static void dsa_realize(PCIDevice *pdev, Error **errp)
{
    FaultlabDsaState *s = FAULTLAB_DSA(pdev);
    int i;

    if (s->pasid_bits < 1 || s->pasid_bits > DSA_PASID_BITS) {
        error_setg(errp, "%s: pasid-bits must be 1..%d", TYPE_FAULTLAB_DSA,
                   DSA_PASID_BITS);
        return;
    }
    if (!faultlab_pci_pasid_realize(&s->pci_pasid, pdev, s->pasid_bits,
                                    true, s->ats_pri, DSA_PRI_MAX_REQ,
                                    errp)) {
        return;
    }

    memory_region_init(&s->bar0, OBJECT(s), "faultlab-dsa-bar0",
                       DSA_BAR0_SIZE);
    memory_region_init_io(&s->regs, OBJECT(s), &dsa_mmio_ops, s,
                          "faultlab-dsa-regs", DSA_REGS_SIZE);
    memory_region_add_subregion(&s->bar0, 0, &s->regs);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar0);
    if (msix_init(pdev, DSA_MSIX_VECTORS, &s->bar0, 0, DSA_MSIX_TABLE,
                  &s->bar0, 0, DSA_MSIX_PBA, 0, errp)) {
        return;
    }
    for (i = 0; i < DSA_MSIX_VECTORS; i++) {
        msix_vector_use(pdev, i);
    }

    memory_region_init_io(&s->portals, OBJECT(s), &faultlab_portal_mmio_ops,
                          s, "faultlab-dsa-portals",
                          DSA_NUM_WQS * DSA_PORTAL_STRIDE);
    pci_register_bar(pdev, 2, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->portals);

    s->bh = qemu_bh_new_guarded(dsa_bh, s,
                                &DEVICE(pdev)->mem_reentrancy_guard);
    for (i = 0; i < DSA_NUM_WQS; i++) {
        s->wq[i].s = s;
        s->wq[i].index = i;
    }
}

static void dsa_exit(PCIDevice *pdev)
{
    FaultlabDsaState *s = FAULTLAB_DSA(pdev);
    int i;

    for (i = 0; i < DSA_NUM_WQS; i++) {
        dsa_wq_abort(s, &s->wq[i], false, 0);
    }
    qemu_bh_delete(s->bh);
    s->bh = NULL;
    msix_unuse_all_vectors(pdev);
    msix_uninit(pdev, &s->bar0, &s->bar0);
    pcie_cap_exit(pdev);
}

static void dsa_reset_hold(Object *obj, ResetType type)
{
    FaultlabDsaState *s = FAULTLAB_DSA(obj);
    PCIDevice *pdev = PCI_DEVICE(obj);

    dsa_device_reset(s);
    s->cmd = 0;
    s->cmdsts = 0;
    msix_reset(pdev);
    faultlab_pci_pasid_reset(&s->pci_pasid, pdev);
}

/*
 * Migration: registers, WQ configurations and queues. A descriptor in
 * flight is not migrated: it goes back to the head of its queue and runs
 * again from the start (a held access is dropped with it).
 */

static int dsa_pre_save(void *opaque)
{
    FaultlabDsaState *s = opaque;
    int i;

    for (i = 0; i < DSA_NUM_WQS; i++) {
        DSAWq *wq = &s->wq[i];
        DSAJob *j = &wq->job;

        if (j->phase != DSA_PH_IDLE && wq->count < DSA_TOTAL_WQ_SIZE) {
            wq->head = (wq->head + DSA_TOTAL_WQ_SIZE - 1) % DSA_TOTAL_WQ_SIZE;
            memcpy(wq->ring[wq->head], j->top.d, DSA_DESC_SIZE);
            wq->ring_pasid[wq->head] = j->pasid_valid &&
                                       !dsa_wq_dedicated(wq) ?
                (1u << 31) | (j->priv ? 1u << 30 : 0) | j->pasid : 0;
            wq->count++;
            dsa_forget(wq);
            j->phase = DSA_PH_IDLE;
            j->in_member = false;
        }
    }
    return 0;
}

static int dsa_post_load(void *opaque, int version_id)
{
    FaultlabDsaState *s = opaque;
    int i;

    for (i = 0; i < DSA_NUM_WQS; i++) {
        DSAWq *wq = &s->wq[i];

        if (wq->head >= DSA_TOTAL_WQ_SIZE || wq->count > DSA_TOTAL_WQ_SIZE) {
            return -EINVAL;
        }
        memset(&wq->job, 0, sizeof(wq->job));
    }
    if (dsa_evl_size(s) && (s->evl_head >= dsa_evl_size(s) ||
                            s->evl_tail >= dsa_evl_size(s))) {
        return -EINVAL;
    }
    qemu_bh_schedule(s->bh);
    return 0;
}

static const VMStateDescription vmstate_dsa_wq = {
    .name = "faultlab-dsa/wq",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32_ARRAY(cfg, DSAWq, DSA_WQCFG_SIZE / 4),
        VMSTATE_BOOL(enabled, DSAWq),
        VMSTATE_UINT32(head, DSAWq),
        VMSTATE_UINT32(count, DSAWq),
        VMSTATE_BUFFER_UNSAFE(ring, DSAWq, 0,
                              DSA_TOTAL_WQ_SIZE * DSA_DESC_SIZE),
        VMSTATE_UINT32_ARRAY(ring_pasid, DSAWq, DSA_TOTAL_WQ_SIZE),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_dsa = {
    .name = TYPE_FAULTLAB_DSA,
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = dsa_pre_save,
    .post_load = dsa_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, FaultlabDsaState),
        VMSTATE_MSIX(parent_obj, FaultlabDsaState),
        VMSTATE_UINT32(gencfg, FaultlabDsaState),
        VMSTATE_UINT32(genctrl, FaultlabDsaState),
        VMSTATE_UINT32(gensts, FaultlabDsaState),
        VMSTATE_UINT32(intcause, FaultlabDsaState),
        VMSTATE_UINT32(cmd, FaultlabDsaState),
        VMSTATE_UINT32(cmdsts, FaultlabDsaState),
        VMSTATE_UINT32(drain_cmd, FaultlabDsaState),
        VMSTATE_UINT64_ARRAY(swerr, FaultlabDsaState, 4),
        VMSTATE_UINT64_ARRAY(evlcfg, FaultlabDsaState, 2),
        VMSTATE_UINT32(evl_head, FaultlabDsaState),
        VMSTATE_UINT32(evl_tail, FaultlabDsaState),
        VMSTATE_BOOL(evl_int_pending, FaultlabDsaState),
        VMSTATE_UINT64_2DARRAY(grpcfg, FaultlabDsaState, DSA_NUM_GROUPS,
                               DSA_GRPCFG_SIZE / 8),
        VMSTATE_UINT32_ARRAY(msixperm, FaultlabDsaState, DSA_MSIX_VECTORS),
        VMSTATE_UINT8(next_batch_id, FaultlabDsaState),
        VMSTATE_STRUCT_ARRAY(wq, FaultlabDsaState, DSA_NUM_WQS, 1,
                             vmstate_dsa_wq, DSAWq),
        VMSTATE_END_OF_LIST()
    },
};

/* QOM */

static void dsa_set_evl_full(Object *obj, bool value, Error **errp)
{
    FaultlabDsaState *s = FAULTLAB_DSA(obj);

    s->inject_evl_full = value;
    if (s->bh) {
        qemu_bh_schedule(s->bh);
    }
}

static bool dsa_get_evl_full(Object *obj, Error **errp)
{
    return FAULTLAB_DSA(obj)->inject_evl_full;
}

static const Property dsa_properties[] = {
    DEFINE_PROP_UINT8("pasid-bits", FaultlabDsaState, pasid_bits,
                      DSA_PASID_BITS),
    DEFINE_PROP_BOOL("ats-pri", FaultlabDsaState, ats_pri, true),
};

static void dsa_instance_init(Object *obj)
{
    FaultlabDsaState *s = FAULTLAB_DSA(obj);
    static const struct {
        const char *name;
        size_t off;
    } counters[] = {
        { "descriptors", offsetof(FaultlabDsaState, n_descriptors) },
        { "page-requests", offsetof(FaultlabDsaState, n_page_requests) },
        { "partial-completions", offsetof(FaultlabDsaState, n_partial) },
        { "evl-entries", offsetof(FaultlabDsaState, n_evl_entries) },
        { "evl-full-waits", offsetof(FaultlabDsaState, n_evl_full_waits) },
        { "cr-faults", offsetof(FaultlabDsaState, n_cr_faults) },
        { "swerr-reports", offsetof(FaultlabDsaState, n_swerr) },
        { "swerr-overflows", offsetof(FaultlabDsaState, n_swerr_overflows) },
        { "portal-retries", offsetof(FaultlabDsaState, n_portal_retries) },
        { "portal-drops", offsetof(FaultlabDsaState, n_portal_drops) },
        { "batches", offsetof(FaultlabDsaState, n_batches) },
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(counters); i++) {
        object_property_add_uint64_ptr(obj, counters[i].name,
                                       (uint64_t *)((char *)s +
                                                    counters[i].off),
                                       OBJ_PROP_FLAG_READ);
    }
    object_property_add_bool(obj, "x-inject-evl-full", dsa_get_evl_full,
                             dsa_set_evl_full);
    object_property_add_uint32_ptr(obj, "x-inject-cr-fail-next",
                                   &s->inject_cr_fail_next,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "x-inject-swerr-overflow",
                                   &s->inject_swerr_overflow,
                                   OBJ_PROP_FLAG_READWRITE);
}

static void dsa_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);
    FaultlabPortalClass *pc = FAULTLAB_PORTAL_CLASS(klass);

    k->realize = dsa_realize;
    k->exit = dsa_exit;
    k->config_write = dsa_write_config;
    k->vendor_id = DSA_VENDOR_ID;
    k->device_id = DSA_DEVICE_ID;
    k->revision = 1;
    k->class_id = DSA_CLASS;
    rc->phases.hold = dsa_reset_hold;
    pc->store = dsa_portal_store;
    dc->desc = "faultlab Intel DSA 2.0 model";
    dc->vmsd = &vmstate_dsa;
    device_class_set_props(dc, dsa_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo dsa_info = {
    .name = TYPE_FAULTLAB_DSA,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(FaultlabDsaState),
    .instance_init = dsa_instance_init,
    .class_init = dsa_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { TYPE_FAULTLAB_PORTAL },
        { }
    },
};

static void dsa_register_types(void)
{
    type_register_static(&dsa_info);
}

type_init(dsa_register_types)
