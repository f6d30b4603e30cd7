/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab-dma engine: runs the channels' commands in a bottom half, one
 * chunk at a time, each chunk within one 4 KiB page of either side. Each
 * page is translated through the PASID IOMMU interface (pasid-iommu.h) when
 * the device's IOMMU implements it, so an access can be held (STALLED) until
 * the IOMMU calls back; otherwise the engine does plain PCI DMA.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "exec/memory.h"
#include "hw/pci/pci.h"
#include "faultlab-dma.h"
#include "hw/faultlab/trace.h"

typedef enum FaultlabDmaAccess {
    FAULTLAB_DMA_ACCESS_DONE,   /* bytes moved */
    FAULTLAB_DMA_ACCESS_HELD,   /* the IOMMU holds the access: STALLED */
    FAULTLAB_DMA_ACCESS_ENDED,  /* the command ended (FAULT) */
} FaultlabDmaAccess;

static uint64_t fdma_page_left(hwaddr addr)
{
    return FAULTLAB_DMA_PAGE_SIZE - (addr & (FAULTLAB_DMA_PAGE_SIZE - 1));
}

uint64_t faultlab_dma_state(const FaultlabDmaChan *c)
{
    return FIELD_EX64(c->status, CH_STATUS, STATE);
}

static void fdma_set_status(FaultlabDmaChan *c, uint8_t state,
                            uint8_t reason, bool write)
{
    uint64_t st = 0;

    st = FIELD_DP64(st, CH_STATUS, STATE, state);
    st = FIELD_DP64(st, CH_STATUS, REASON, reason);
    st = FIELD_DP64(st, CH_STATUS, WRITE, write);
    c->status = st;
}

/* The address the channel's next (or current) access is for. */
static hwaddr fdma_next_access(const FaultlabDmaChan *c, bool *is_write)
{
    bool dst = c->op == FAULTLAB_DMA_OP_FILL ||
               c->phase == FAULTLAB_DMA_SIDE_DST;

    *is_write = dst && c->op != FAULTLAB_DMA_OP_COMPARE;
    return (dst ? c->c_dst : c->c_src) + c->pos;
}

/* End the command: STATUS, IRQ_STATUS and the interrupt. */
static void fdma_finish(FaultlabDmaChan *c, uint8_t state, uint8_t reason,
                        bool write)
{
    FaultlabDmaState *s = c->s;

    fdma_set_status(c, state, reason, write);
    c->chunk = 0;
    c->phase = 0;
    if (state == FAULTLAB_DMA_FAULT) {
        s->faults_total++;
    }
    trace_faultlab_dma_finish(c->index, state, reason, c->bytes_done,
                              c->fault_addr, c->stalls);
    faultlab_dma_irq_event(s, c->index);
}

static void fdma_fault(FaultlabDmaChan *c, uint8_t reason, hwaddr addr,
                       bool is_write)
{
    c->fault_addr = addr;
    fdma_finish(c, FAULTLAB_DMA_FAULT, reason, is_write);
}

static void fdma_forget_held(FaultlabDmaChan *c)
{
    if (c->held) {
        FaultlabPasidIommuClass *k =
            FAULTLAB_PASID_IOMMU_GET_CLASS(c->held_iommu);

        trace_faultlab_dma_forget(c->index, c->held_addr);
        c->held = false;
        k->forget(c->held_iommu, c);
        c->held_iommu = NULL;
    }
}

static void fdma_resume(void *opaque, FaultlabResume how)
{
    FaultlabDmaChan *c = opaque;
    FaultlabDmaState *s = c->s;

    trace_faultlab_dma_resume(c->index, how, c->held);
    if (!c->held) {
        /* The interface says this does not happen: ignore it if it does. */
        return;
    }
    c->held = false;
    c->held_iommu = NULL;
    if (c->cancel_pending) {
        /*
         * The command was cancelled while the IOMMU held its access: the
         * answer ends the access, and the channel stops instead of going on
         * (a retry is not taken up).
         */
        c->cancel_pending = false;
        trace_faultlab_dma_cancel_done(c->index, how, c->held_addr);
        fdma_fault(c, how == FAULTLAB_RESUME_RETRY ?
                   FAULTLAB_DMA_REASON_CANCELLED :
                   how == FAULTLAB_RESUME_ABORT ?
                   FAULTLAB_DMA_REASON_ABORTED :
                   FAULTLAB_DMA_REASON_TERMINATED,
                   c->held_addr, c->held_write);
        return;
    }
    if (how == FAULTLAB_RESUME_RETRY && s->inject_fail_retry) {
        s->inject_fail_retry--;
        how = FAULTLAB_RESUME_ABORT;
        trace_faultlab_dma_inject(c->index, "fail-retry", c->held_addr);
    }
    switch (how) {
    case FAULTLAB_RESUME_RETRY:
        fdma_set_status(c, FAULTLAB_DMA_RUNNING, 0, false);
        qemu_bh_schedule(s->bh);
        break;
    case FAULTLAB_RESUME_ABORT:
        fdma_fault(c, FAULTLAB_DMA_REASON_ABORTED, c->held_addr, c->held_write);
        break;
    default:
        fdma_fault(c, FAULTLAB_DMA_REASON_TERMINATED, c->held_addr,
                   c->held_write);
        break;
    }
}

/*
 * Translate the page of @iova into @xl (the channel's cached translation for
 * one side), through the PASID IOMMU @iommu when there is one. On DONE, @xl
 * covers @iova.
 */
static FaultlabDmaAccess fdma_translate(FaultlabDmaChan *c,
                                        FaultlabPasidIommu *iommu,
                                        FaultlabDmaXlate *xl, hwaddr iova,
                                        bool is_write)
{
    FaultlabDmaState *s = c->s;
    hwaddr page_last = iova + fdma_page_left(iova) - 1;
    FaultlabXlateReq req;
    FaultlabXlateStatus st;
    IOMMUAccessFlags need = is_write ? IOMMU_WO : IOMMU_RO;
    hwaddr covered;

    if (s->inject_fault_next) {
        s->inject_fault_next--;
        trace_faultlab_dma_inject(c->index, "fault", iova);
        fdma_fault(c, FAULTLAB_DMA_REASON_INJECTED, iova, is_write);
        return FAULTLAB_DMA_ACCESS_ENDED;
    }

    if (!iommu) {
        /* Plain PCI DMA: bus master address space, no PASID. */
        xl->as = pci_get_address_space(PCI_DEVICE(s));
        xl->translated = iova;
        xl->iova = iova;
        xl->last = page_last;
        xl->is_write = is_write;
        xl->run = s->run;
        return FAULTLAB_DMA_ACCESS_DONE;
    }

    memset(&req, 0, sizeof(req));
    req.addr = iova;
    req.is_write = is_write;
    req.pasid_valid = FIELD_EX64(c->c_pasid, CH_PASID, PV);
    req.pasid = FIELD_EX64(c->c_pasid, CH_PASID, PASID);
    req.resume = fdma_resume;
    req.opaque = c;
    st = FAULTLAB_PASID_IOMMU_GET_CLASS(iommu)->translate(iommu, &req);
    trace_faultlab_dma_xlate(c->index, iova, is_write, req.pasid_valid,
                             req.pasid, st, req.translated, req.fault_reason);

    switch (st) {
    case FAULTLAB_XLATE_OK:
        if (!req.target_as || (req.perm & need) != need) {
            fdma_fault(c, FAULTLAB_DMA_REASON_XLATE, iova, is_write);
            return FAULTLAB_DMA_ACCESS_ENDED;
        }
        xl->as = req.target_as;
        xl->translated = req.translated;
        xl->iova = iova;
        /* What the translation covers from @iova, within @iova's page. */
        covered = (req.translated | req.addr_mask) - req.translated;
        xl->last = covered < page_last - iova ? iova + covered : page_last;
        xl->is_write = is_write;
        xl->run = s->run;
        return FAULTLAB_DMA_ACCESS_DONE;
    case FAULTLAB_XLATE_PENDING:
        c->held = true;
        c->held_iommu = iommu;
        c->held_addr = iova;
        c->held_write = is_write;
        c->stalls++;
        s->stalls_total++;
        fdma_set_status(c, FAULTLAB_DMA_STALLED, 0, is_write);
        return FAULTLAB_DMA_ACCESS_HELD;
    default:
        fdma_fault(c, FAULTLAB_DMA_REASON_XLATE, iova, is_write);
        return FAULTLAB_DMA_ACCESS_ENDED;
    }
}

/*
 * One access of up to *len bytes at @iova (which do not cross a page).
 * On DONE, *len is the number of bytes moved: fewer when the translation
 * covers less than the rest of the page.
 */
static FaultlabDmaAccess fdma_access(FaultlabDmaChan *c,
                                     FaultlabPasidIommu *iommu, int side,
                                     hwaddr iova, uint32_t *len,
                                     bool is_write, uint8_t *buf)
{
    FaultlabDmaState *s = c->s;
    FaultlabDmaXlate *xl = &c->xl[side];
    FaultlabDmaAccess r;
    MemTxResult res;
    uint32_t n;

    if (!(pci_get_word(s->parent_obj.config + PCI_COMMAND) &
          PCI_COMMAND_MASTER)) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: channel %u: DMA at 0x%" HWADDR_PRIx
                      " with Bus Master Enable clear\n", TYPE_FAULTLAB_DMA,
                      c->index, iova);
        fdma_fault(c, FAULTLAB_DMA_REASON_BUS, iova, is_write);
        return FAULTLAB_DMA_ACCESS_ENDED;
    }

    if (xl->run != s->run || iova < xl->iova || iova > xl->last ||
        (is_write && !xl->is_write)) {
        r = fdma_translate(c, iommu, xl, iova, is_write);
        if (r != FAULTLAB_DMA_ACCESS_DONE) {
            xl->run = 0;
            return r;
        }
    }

    n = MIN(*len, xl->last - iova + 1);
    res = address_space_rw(xl->as, xl->translated + (iova - xl->iova),
                           MEMTXATTRS_UNSPECIFIED, buf, n, is_write);
    if (res != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: channel %u: DMA %s at 0x%"
                      HWADDR_PRIx " (0x%" HWADDR_PRIx ") failed: %d\n",
                      TYPE_FAULTLAB_DMA, c->index,
                      is_write ? "write" : "read", iova,
                      xl->translated + (iova - xl->iova), res);
        xl->run = 0;
        fdma_fault(c, FAULTLAB_DMA_REASON_BUS, iova, is_write);
        return FAULTLAB_DMA_ACCESS_ENDED;
    }
    *len = n;
    return FAULTLAB_DMA_ACCESS_DONE;
}

static void fdma_fill_pattern(FaultlabDmaChan *c, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        c->buf[i] = c->c_pattern >> (8 * ((c->pos + i) & 7));
    }
}

/* Move one chunk. Returns true when the channel can go on at once. */
static bool fdma_step(FaultlabDmaChan *c, FaultlabPasidIommu *iommu)
{
    hwaddr src = c->c_src + c->pos;
    hwaddr dst = c->c_dst + c->pos;
    FaultlabDmaAccess r;
    uint32_t n, i;

    if (!c->chunk) {
        uint64_t chunk = MIN(c->c_len - c->pos, fdma_page_left(dst));

        if (c->op != FAULTLAB_DMA_OP_FILL) {
            chunk = MIN(chunk, fdma_page_left(src));
            c->phase = FAULTLAB_DMA_SIDE_SRC;
        } else {
            c->phase = FAULTLAB_DMA_SIDE_DST;
        }
        c->chunk = chunk;
    }

    if (c->phase == FAULTLAB_DMA_SIDE_SRC) {
        n = c->chunk;
        r = fdma_access(c, iommu, FAULTLAB_DMA_SIDE_SRC, src, &n, false,
                        c->buf);
        if (r != FAULTLAB_DMA_ACCESS_DONE) {
            return false;
        }
        c->chunk = n;
        c->phase = FAULTLAB_DMA_SIDE_DST;
    }

    n = c->chunk;
    switch (c->op) {
    case FAULTLAB_DMA_OP_COPY:
        r = fdma_access(c, iommu, FAULTLAB_DMA_SIDE_DST, dst, &n, true,
                        c->buf);
        break;
    case FAULTLAB_DMA_OP_FILL:
        fdma_fill_pattern(c, n);
        r = fdma_access(c, iommu, FAULTLAB_DMA_SIDE_DST, dst, &n, true,
                        c->buf);
        break;
    default:
        r = fdma_access(c, iommu, FAULTLAB_DMA_SIDE_DST, dst, &n, false,
                        c->cmp);
        break;
    }
    if (r != FAULTLAB_DMA_ACCESS_DONE) {
        return false;
    }

    if (c->op == FAULTLAB_DMA_OP_COMPARE) {
        for (i = 0; i < n; i++) {
            if (c->buf[i] != c->cmp[i]) {
                c->result = c->pos + i;
                c->bytes_done = c->pos + i;
                fdma_finish(c, FAULTLAB_DMA_MISMATCH, 0, false);
                return false;
            }
        }
    }

    c->pos += n;
    c->bytes_done = c->pos;
    c->chunk = 0;
    c->phase = FAULTLAB_DMA_SIDE_SRC;
    if (c->pos == c->c_len) {
        if (c->op == FAULTLAB_DMA_OP_COMPARE) {
            c->result = UINT64_MAX;
        }
        fdma_finish(c, FAULTLAB_DMA_DONE, 0, false);
        return false;
    }
    return true;
}

/*
 * The bottom half: every running channel moves at most
 * FAULTLAB_DMA_CHUNKS_PER_RUN chunks (a slice), then the engine yields to
 * the main loop until the next run.
 */
void faultlab_dma_run(void *opaque)
{
    FaultlabDmaState *s = opaque;
    FaultlabPasidIommu *iommu = NULL;
    bool more = false;
    bool looked = false;
    uint32_t i, n;

    if (!runstate_is_running()) {
        /* No DMA while the VM is stopped; faultlab_dma_vm_state resumes. */
        return;
    }
    s->run++;
    for (i = 0; i < s->nchan; i++) {
        FaultlabDmaChan *c = &s->chan[i];

        if (faultlab_dma_state(c) != FAULTLAB_DMA_RUNNING || c->held) {
            continue;
        }
        if (!looked) {
            iommu = faultlab_pasid_iommu_of(
                pci_device_iommu_address_space(PCI_DEVICE(s)));
            looked = true;
        }
        for (n = 0; n < FAULTLAB_DMA_CHUNKS_PER_RUN; n++) {
            if (!fdma_step(c, iommu)) {
                break;
            }
        }
        if (faultlab_dma_state(c) == FAULTLAB_DMA_RUNNING && !c->held) {
            more = true;
        }
    }
    if (more && s->slice_delay_ns) {
        timer_mod(&s->slice_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                  MIN(s->slice_delay_ns, NANOSECONDS_PER_SECOND));
    } else if (more) {
        qemu_bh_schedule(s->bh);
    }
}

void faultlab_dma_vm_state(void *opaque, bool running, RunState state)
{
    FaultlabDmaState *s = opaque;

    if (running) {
        qemu_bh_schedule(s->bh);
    }
}

/* x-slice-delay-ns: the next slice, in the bottom half as always. */
void faultlab_dma_slice_timer(void *opaque)
{
    FaultlabDmaState *s = opaque;

    qemu_bh_schedule(s->bh);
}

static bool fdma_range_ok(uint64_t addr, uint64_t len)
{
    return addr + (len - 1) >= addr;
}

/* A write to CMD. */
void faultlab_dma_cmd(FaultlabDmaChan *c, uint64_t val)
{
    FaultlabDmaState *s = c->s;
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t op = FIELD_EX64(val, CH_CMD, OP);
    uint64_t state = faultlab_dma_state(c);
    bool pv = FIELD_EX64(c->pasid, CH_PASID, PV);
    uint32_t pasid = FIELD_EX64(c->pasid, CH_PASID, PASID);
    const char *bad = NULL;

    trace_faultlab_dma_cmd(c->index, op, c->pasid, c->src, c->dst, c->len);
    if (state == FAULTLAB_DMA_RUNNING || state == FAULTLAB_DMA_STALLED) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: channel %u: CMD 0x%" PRIx64
                      " while busy: ignored\n", TYPE_FAULTLAB_DMA, c->index,
                      val);
        return;
    }

    c->op = op;
    c->c_pasid = c->pasid;
    c->c_src = c->src;
    c->c_dst = c->dst;
    c->c_len = c->len;
    c->c_pattern = c->pattern;
    c->pos = 0;
    c->chunk = 0;
    c->phase = 0;
    c->bytes_done = 0;
    c->fault_addr = 0;
    c->stalls = 0;
    c->result = 0;
    c->xl[0].run = 0;
    c->xl[1].run = 0;

    switch (op) {
    case FAULTLAB_DMA_OP_NOP:
        fdma_finish(c, FAULTLAB_DMA_DONE, 0, false);
        return;
    case FAULTLAB_DMA_OP_COPY:
    case FAULTLAB_DMA_OP_FILL:
    case FAULTLAB_DMA_OP_COMPARE:
        break;
    default:
        bad = "unknown opcode";
        break;
    }
    if (!bad && (c->c_len == 0 || c->c_len > FAULTLAB_DMA_MAX_LEN)) {
        bad = "length not in 1..16 MiB";
    }
    if (!bad && (!fdma_range_ok(c->c_dst, c->c_len) ||
                 (op != FAULTLAB_DMA_OP_FILL &&
                  !fdma_range_ok(c->c_src, c->c_len)))) {
        bad = "range wraps past the end of the address space";
    }
    if (!bad && pv && !(pci_get_word(pdev->config + s->pci_pasid.pasid_cap +
                                     PCI_PASID_CTRL) & PCI_PASID_CTRL_ENABLE)) {
        bad = "PASID tagged while the PASID capability is disabled";
    }
    if (!bad && pv && pasid >> s->pasid_bits) {
        bad = "PASID wider than the PASID capability's width";
    }
    if (bad) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: channel %u: CMD 0x%" PRIx64
                      " LEN 0x%" PRIx64 " PASID 0x%" PRIx64 ": %s\n",
                      TYPE_FAULTLAB_DMA, c->index, val, c->c_len, c->c_pasid,
                      bad);
        fdma_finish(c, FAULTLAB_DMA_BADCMD, 0, false);
        return;
    }

    fdma_set_status(c, FAULTLAB_DMA_RUNNING, 0, false);
    qemu_bh_schedule(s->bh);
}

/* A write of 1 to ABORT. */
void faultlab_dma_cancel(FaultlabDmaChan *c)
{
    uint64_t state = faultlab_dma_state(c);
    hwaddr addr;
    bool is_write;

    if (state != FAULTLAB_DMA_RUNNING && state != FAULTLAB_DMA_STALLED) {
        trace_faultlab_dma_cancel(c->index, state, 0);
        return;
    }
    if (c->held &&
        FAULTLAB_PASID_IOMMU_GET_CLASS(c->held_iommu)->answer_ends_hold) {
        /*
         * The IOMMU holds the access and only its answer ends the hold
         * (SMMUv3 stall model: CMD_RESUME, CMD_STALL_TERM, SMMUEN 1->0):
         * the channel stays STALLED until then. A second ABORT changes
         * nothing.
         */
        if (!c->cancel_pending) {
            c->cancel_pending = true;
            trace_faultlab_dma_cancel_wait(c->index, c->held_addr);
        }
        return;
    }
    if (c->held) {
        addr = c->held_addr;
        is_write = c->held_write;
        fdma_forget_held(c);
    } else {
        addr = fdma_next_access(c, &is_write);
    }
    trace_faultlab_dma_cancel(c->index, state, addr);
    fdma_fault(c, FAULTLAB_DMA_REASON_CANCELLED, addr, is_write);
}

/* Device reset: drop the command and every register. */
void faultlab_dma_chan_reset(FaultlabDmaChan *c)
{
    fdma_forget_held(c);
    c->cancel_pending = false;
    c->pasid = 0;
    c->src = 0;
    c->dst = 0;
    c->len = 0;
    c->pattern = 0;
    c->status = 0;
    c->bytes_done = 0;
    c->fault_addr = 0;
    c->stalls = 0;
    c->result = 0;
    c->op = 0;
    c->c_pasid = 0;
    c->c_src = 0;
    c->c_dst = 0;
    c->c_len = 0;
    c->c_pattern = 0;
    c->pos = 0;
    c->chunk = 0;
    c->phase = 0;
    c->held_addr = 0;
    c->held_write = false;
    memset(c->xl, 0, sizeof(c->xl));
}
