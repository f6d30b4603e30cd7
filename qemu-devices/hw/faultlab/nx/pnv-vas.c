/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab PowerNV (POWER9) VAS and NX front end for the NX-GZIP engine.
 *
 * One "pnv-vas" device per POWER9 chip, what skiboot (hw/vas.c,
 * hw/nx*.c) and Linux 6.12 (arch/powerpc/platforms/powernv/vas*.c,
 * drivers/crypto/nx/nx-common-powernv.c) expect, as listed in
 * hardware-contract.md section A:
 *
 *  - Device tree: the xscom children skiboot looks for, "ibm,power9-vas-x"
 *    (ibm,vas-id) and "ibm,power9-nx". skiboot then creates /vas@... and
 *    the NX FIFO children Linux uses.
 *  - xscom: the VAS unit's registers. The WCM, UWCM and RMA (paste) BARs
 *    and the enables of MISC_N_CTL map the HV window contexts (512 B per
 *    window), the user window contexts (64 KiB per window) and the paste
 *    addresses (64 KiB per window, window id in address bits 32:47) where
 *    skiboot puts them. The NX unit is a register file: skiboot reads back
 *    what it wrote (FIFO BARs, notify match, engine enables).
 *  - HVWC registers with the semantics the kernel relies on: send and
 *    receive credits and their adders, WINCTL OPEN, WIN_STATUS never busy
 *    (the engine runs synchronously).
 *  - Paste (through the faultlab portal interface) to an open NX send
 *    window: one send credit (refused with CR0.EQ=0 when TX_WCRED_MODE is
 *    set and none is left, or the window is closed), routed through
 *    LRFIFO_WIN_PTR to the NX receive window, whose LNOTIFY_PID names the
 *    coprocessor type (2 = GZIP). The GZIP engine reads and writes guest
 *    memory as effective addresses of the send window: its LPID selects
 *    the partition-table entry (PTCR), its PID the process-table entry,
 *    and the radix tree is walked as the CPU would for MSR[PR] from
 *    XLATE_MSR. On completion both credits come back.
 *  - Translation fault (A.8): the CRB, with the NX fault stamp (faulting
 *    EA, pswid = the send window's PSWID) and the CCW's low bit cleared, is
 *    written to the fault window (the send window's FAULT_TX_WIN) FIFO at
 *    LFIFO_BAR, one fault credit is taken (REJ_NO_CREDIT: without one the
 *    CRB is lost and counted), and an 8-byte store to HV_INTR_SRC_RA
 *    triggers the XIVE interrupt the kernel allocated. The send credit stays
 *    out until the kernel returns it through TX_WCRED_ADDER.
 * 842 requests are accepted and their credits returned, but not run.
 *
 * Injection knobs (writable QOM properties, counts used up one by one):
 * x-inject-fault-next (the engine's next accesses fault as if the page were
 * absent), x-inject-fault-fifo-full (the next fault CRBs find the fault
 * window without credit: with REJ_NO_CREDIT they are lost and their send
 * credit stays out), x-inject-lose-credit (the next completions keep their
 * send credit); x-return-withheld-credits gives the kept credits back.
 * See docs/pnv-vas.md.
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "target/ppc/cpu.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "hw/core/cpu.h"
#include "hw/qdev-properties.h"
#include "hw/ppc/fdt.h"
#include "hw/ppc/pnv.h"
#include "hw/ppc/pnv_chip.h"
#include "hw/ppc/pnv_xscom.h"
#include "migration/vmstate.h"
#include "system/reset.h"
#include <libfdt.h>
#include "hw/faultlab/portal.h"
#include "hw/faultlab/nx/nx-gzip.h"
#include "hw/faultlab/nx/nx-radix.h"
#include "hw/faultlab/nx/pnv-vas.h"
#include "hw/faultlab/trace.h"

OBJECT_DECLARE_SIMPLE_TYPE(PnvVas, PNV_VAS)

#define IBM_BIT(n)                  (1ULL << (63 - (n)))
#define IBM_MASK(a, b)              ((~0ULL >> (a)) & (~0ULL << (63 - (b))))

/* VAS xscom registers (skiboot include/vas.h: XSCOM_SAT(0, sat, off)) */
#define VAS_SAT(s, o)               (((s) << 6) | (o))
#define VAS_WCM_BAR                 VAS_SAT(0, 0xA)
#define VAS_UWCM_BAR                VAS_SAT(0, 0xB)
#define VAS_MISC_N_CTL              VAS_SAT(0, 0xD)
#define VAS_RMA_BAR                 VAS_SAT(0, 0xE)
#define   VAS_ACCEPT_PASTE          IBM_BIT(1)
#define   VAS_ENABLE_WC_MMIO        IBM_BIT(6)
#define   VAS_ENABLE_UWC_MMIO       IBM_BIT(7)
/* Address bits VAS takes from the BARs ("VAS will extract bits 8..38") */
#define VAS_WCM_BAR_ADDR            IBM_MASK(8, 38)
#define VAS_UWCM_BAR_ADDR           IBM_MASK(8, 35)
#define VAS_RMA_BAR_ADDR            IBM_MASK(8, 51)

#define VAS_HVWC_SIZE               512
#define VAS_HVWC_REGS               (VAS_HVWC_SIZE / 8)
#define VAS_UWC_SIZE                (64 * KiB)
#define VAS_PASTE_SIZE              (64 * KiB)
#define VAS_WINDOWS_PER_CHIP        65536
#define PNV_VAS_MAX_WINDOWS         VAS_WINDOWS_PER_CHIP

/* HV window context registers (Linux vas.h VREG offsets) / 8 */
#define HV_LPID                     (0x010 / 8)
#define HV_PID                      (0x018 / 8)
#define HV_XLATE_MSR                (0x020 / 8)
#define   XLATE_MSR_DR              IBM_BIT(0)
#define   XLATE_MSR_PR              IBM_BIT(2)
#define HV_FAULT_TX_WIN             (0x050 / 8)
#define HV_HV_INTR_SRC_RA           (0x070 / 8)
#define HV_PSWID                    (0x078 / 8)
#define HV_LFIFO_BAR                (0x0A0 / 8)
#define   LFIFO_BAR_ADDR            IBM_MASK(8, 53)
#define HV_LRX_WCRED                (0x0E0 / 8)
#define HV_TX_WCRED                 (0x0F0 / 8)
#define HV_LFIFO_SIZE               (0x100 / 8)
#define HV_WINCTL                   (0x108 / 8)
#define   WINCTL_OPEN               IBM_BIT(0)
#define   WINCTL_REJ_NO_CREDIT      IBM_BIT(1)
#define   WINCTL_TX_WCRED_MODE      IBM_BIT(3)
#define   WINCTL_RX_WCRED_MODE      IBM_BIT(4)
#define   WINCTL_FAULT_WIN          IBM_BIT(10)
#define   WINCTL_NX_WIN             IBM_BIT(11)
#define HV_WIN_STATUS               (0x110 / 8)
#define HV_LRFIFO_WIN_PTR           (0x128 / 8)
#define HV_LNOTIFY_CTL              (0x138 / 8)
#define   LNOTIFY_INTR_DISABLE      IBM_BIT(1)
#define HV_LNOTIFY_PID              (0x140 / 8)
#define HV_LRX_WCRED_ADDER          (0x190 / 8)
#define HV_TX_WCRED_ADDER           (0x1A0 / 8)
#define HV_NX_UTIL                  (0x1B0 / 8)
#define HV_NX_UTIL_SE               (0x1B8 / 8)

#define WCRED_SHIFT                 48
#define LRX_WCRED_MASK              IBM_MASK(0, 15)
#define TX_WCRED_MASK               IBM_MASK(4, 15)

/* LNOTIFY_PID of an NX receive window: the coprocessor type (skiboot) */
#define NX_CT_GZIP                  2
#define NX_CT_842                   3

/* Fault stamp in the CRB (icswx.h struct nx_fault_stamp) */
#define CRB_FAULT_ADDR              0x40
#define CRB_FAULT_FLAGS             0x4A
#define CRB_FAULT_STATUS            0x4B
#define CRB_FAULT_PSWID             0x4C
#define CRB_CCW_LAST_BYTE           3

/* Partition table (Power ISA 3.0 Book III 6.7.6): PTCR and entry dword 0 */
#define PTCR_PATB                   0x0FFFFFFFFFFFF000ULL
#define PTCR_PATS                   0x000000000000001FULL
#define PATE0_HR                    0x8000000000000000ULL

typedef struct PnvVasWindow {
    uint64_t regs[VAS_HVWC_REGS];
    uint32_t fifo_wptr;     /* fault window: next FIFO entry */
    uint32_t tx_wcred_open; /* TX_WCRED when the window was opened */
    uint32_t rx_wcred_open; /* LRX_WCRED when the window was opened */
    uint32_t withheld;      /* send credits NX kept (injected or lost) */
} PnvVasWindow;

struct PnvVas {
    DeviceState parent_obj;

    PnvChip *chip;
    MemoryRegion xscom_vas;
    MemoryRegion xscom_nx;
    MemoryRegion hvwc_mr;
    MemoryRegion uwc_mr;
    MemoryRegion paste_mr;

    uint64_t vas_regs[PNV9_XSCOM_VAS_SIZE];
    uint64_t nx_regs[PNV9_XSCOM_NX_SIZE];
    PnvVasWindow *win;

    /* properties */
    uint32_t nr_windows;
    uint64_t max_processed_len;

    /* statistics (QOM read-only properties) */
    uint64_t nr_pastes;
    uint64_t nr_completed;
    uint64_t nr_faults;
    uint64_t nr_rejected;
    uint64_t nr_fault_lost;
    uint64_t nr_credits_lost;
    uint64_t nr_injected_faults;

    /* injection knobs (writable QOM properties, x-inject-*) */
    uint32_t inject_fault_next;
    uint32_t inject_fifo_full;
    uint32_t inject_lose_credit;
};

static uint32_t pnv_vas_chip_id(PnvVas *s)
{
    return s->chip->chip_id;
}

static uint64_t *pnv_vas_reg(PnvVas *s, uint32_t winid, unsigned idx)
{
    return &s->win[winid].regs[idx];
}

static uint32_t wcred_get(uint64_t reg, uint64_t mask)
{
    return (reg & mask) >> WCRED_SHIFT;
}

static uint64_t wcred_set(uint64_t reg, uint64_t mask, uint32_t v)
{
    return (reg & ~mask) | (((uint64_t)v << WCRED_SHIFT) & mask);
}

static bool pnv_vas_open(PnvVas *s, uint32_t winid)
{
    return winid < s->nr_windows &&
           (*pnv_vas_reg(s, winid, HV_WINCTL) & WINCTL_OPEN);
}

/* Translation through the send window's context */

typedef struct PnvVasXlate {
    PnvVas *s;
    NXRadixSpace sp;
} PnvVasXlate;

static bool pnv_vas_ldq(hwaddr addr, uint64_t *val)
{
    MemTxResult res;

    *val = address_space_ldq_be(&address_space_memory, addr,
                                MEMTXATTRS_UNSPECIFIED, &res);
    return res == MEMTX_OK;
}

/*
 * The window's process as NX sees it: partition-table entry [LPID] (PTCR,
 * radix host), its process table, PID for quadrant 0 (PID 0 for quadrant 3,
 * the kernel's, unless problem state). Without a radix partition-table entry
 * every access faults (prtb_size 0). With XLATE_MSR.DR clear (Linux's kernel
 * windows) NX uses real addresses and nothing is translated.
 */
static NXRadixSpace pnv_vas_space(uint32_t winid, uint32_t lpid, uint32_t pid,
                                  uint64_t xlate_msr)
{
    NXRadixSpace sp = {
        .pid = pid,
        .pr = xlate_msr & XLATE_MSR_PR,
        .real = !(xlate_msr & XLATE_MSR_DR),
        .owner = "pnv-vas",
        .winid = winid,
    };
    CPUState *cs = first_cpu;
    uint64_t ptcr, patb, pate0, pate1;

    if (sp.real || !cs) {
        return sp;
    }
    ptcr = POWERPC_CPU(cs)->env.spr[SPR_PTCR];
    patb = ptcr & PTCR_PATB;
    if (!patb || (uint64_t)lpid * 16 + 16 > 1ULL << ((ptcr & PTCR_PATS) + 12)) {
        return sp;
    }
    if (!pnv_vas_ldq(patb + (uint64_t)lpid * 16, &pate0) ||
        !pnv_vas_ldq(patb + (uint64_t)lpid * 16 + 8, &pate1) ||
        !(pate0 & PATE0_HR)) {
        return sp;
    }
    sp.prtb = pate1 & NX_RADIX_PRTB;
    sp.prtb_size = 1ULL << ((pate1 & NX_RADIX_PRTS) + 12);
    return sp;
}

/* x-inject-fault-next: the access faults as if the page were not present. */
static bool pnv_vas_injected_fault(PnvVasXlate *x, uint64_t ea, uint64_t len,
                                   uint64_t *fault_ea)
{
    if (!len || !x->s->inject_fault_next) {
        return false;
    }
    x->s->inject_fault_next--;
    x->s->nr_injected_faults++;
    *fault_ea = ea;
    return true;
}

static int pnv_vas_read(void *opaque, uint64_t ea, void *buf, uint64_t len,
                        uint64_t *fault_ea)
{
    PnvVasXlate *x = opaque;

    if (pnv_vas_injected_fault(x, ea, len, fault_ea)) {
        return -1;
    }
    return nx_radix_mem_ops.read(&x->sp, ea, buf, len, fault_ea);
}

static int pnv_vas_write(void *opaque, uint64_t ea, const void *buf,
                         uint64_t len, uint64_t *fault_ea)
{
    PnvVasXlate *x = opaque;

    if (pnv_vas_injected_fault(x, ea, len, fault_ea)) {
        return -1;
    }
    return nx_radix_mem_ops.write(&x->sp, ea, buf, len, fault_ea);
}

static const NXGzipMemOps pnv_vas_mem_ops = {
    .read = pnv_vas_read,
    .write = pnv_vas_write,
};

/* Credits */

static void pnv_vas_tx_credit(PnvVas *s, uint32_t winid, int delta)
{
    uint64_t *r = pnv_vas_reg(s, winid, HV_TX_WCRED);

    *r = wcred_set(*r, TX_WCRED_MASK, wcred_get(*r, TX_WCRED_MASK) + delta);
}

static void pnv_vas_rx_credit(PnvVas *s, uint32_t winid, int delta)
{
    uint64_t *r = pnv_vas_reg(s, winid, HV_LRX_WCRED);

    *r = wcred_set(*r, LRX_WCRED_MASK, wcred_get(*r, LRX_WCRED_MASK) + delta);
}

/* Fault window */

/*
 * NX pastes the stamped CRB to the fault window: take a fault credit,
 * write the FIFO entry, store to the XIVE trigger page. Returns false when
 * the fault window refused it (closed, or out of credits).
 */
static bool pnv_vas_post_fault(PnvVas *s, uint32_t txid, uint8_t *crb)
{
    uint32_t fwid = *pnv_vas_reg(s, txid, HV_FAULT_TX_WIN) & 0xffff;
    PnvVasWindow *fw;
    uint64_t winctl, bar, entries, intr_ra;
    MemTxResult res;

    if (!pnv_vas_open(s, fwid) ||
        !(*pnv_vas_reg(s, fwid, HV_WINCTL) & WINCTL_FAULT_WIN)) {
        qemu_log_mask(LOG_GUEST_ERROR, "pnv-vas: window %u: fault window %u "
                      "is not an open fault window\n", txid, fwid);
        return false;
    }
    fw = &s->win[fwid];
    winctl = fw->regs[HV_WINCTL];
    if ((winctl & WINCTL_RX_WCRED_MODE) && s->inject_fifo_full) {
        /* x-inject-fault-fifo-full: as if every fault credit were out */
        s->inject_fifo_full--;
        if (winctl & WINCTL_REJ_NO_CREDIT) {
            return false;
        }
    } else if ((winctl & WINCTL_RX_WCRED_MODE) &&
        wcred_get(fw->regs[HV_LRX_WCRED], LRX_WCRED_MASK) == 0) {
        if (winctl & WINCTL_REJ_NO_CREDIT) {
            return false;
        }
    } else if (winctl & WINCTL_RX_WCRED_MODE) {
        pnv_vas_rx_credit(s, fwid, -1);
    }
    bar = fw->regs[HV_LFIFO_BAR] & LFIFO_BAR_ADDR;
    entries = (1 * KiB << MIN(fw->regs[HV_LFIFO_SIZE] >> 60, 13)) /
              NX_GZIP_CRB_SIZE;
    /* LFIFO_SIZE may have shrunk under an open window: wrap first */
    fw->fifo_wptr %= entries;
    res = address_space_write(&address_space_memory,
                              bar + (uint64_t)fw->fifo_wptr *
                              NX_GZIP_CRB_SIZE, MEMTXATTRS_UNSPECIFIED,
                              crb, NX_GZIP_CRB_SIZE);
    if (res != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "pnv-vas: fault window %u: FIFO at 0x%"
                      PRIx64 " is not memory\n", fwid, bar);
    }
    trace_pnv_vas_fault_fifo(fwid, fw->fifo_wptr, bar);
    fw->fifo_wptr = (fw->fifo_wptr + 1) % entries;

    intr_ra = fw->regs[HV_HV_INTR_SRC_RA] & IBM_MASK(8, 63);
    if (!(fw->regs[HV_LNOTIFY_CTL] & LNOTIFY_INTR_DISABLE) && intr_ra) {
        address_space_stq_be(&address_space_memory, intr_ra, 0,
                             MEMTXATTRS_UNSPECIFIED, &res);
        if (res != MEMTX_OK) {
            qemu_log_mask(LOG_GUEST_ERROR, "pnv-vas: fault window %u: "
                          "interrupt store to 0x%" PRIx64 " failed\n",
                          fwid, intr_ra);
        }
    }
    return true;
}

/* Paste */

static void pnv_vas_run_gzip(PnvVas *s, uint32_t txid, uint32_t rxid,
                             const uint8_t *data)
{
    uint64_t *r = s->win[txid].regs;
    PnvVasXlate x = {
        .s = s,
        .sp = pnv_vas_space(txid, r[HV_LPID] >> 52, r[HV_PID] >> 44,
                            r[HV_XLATE_MSR]),
    };
    uint8_t crb[NX_GZIP_CRB_SIZE];
    NXGzipResult res;

    memcpy(crb, data, sizeof(crb));
    res = nx_gzip_run(&pnv_vas_mem_ops, &x, crb, s->max_processed_len);
    if (res.ccb_valid) {
        qemu_log_mask(LOG_UNIMP, "pnv-vas: window %u: CRB completion "
                      "block (C bit) ignored\n", txid);
    }
    /* NX is done with the receive FIFO entry either way */
    if (s->win[rxid].regs[HV_WINCTL] & WINCTL_RX_WCRED_MODE) {
        pnv_vas_rx_credit(s, rxid, 1);
    }
    if (res.status == NX_GZIP_COMPLETED) {
        s->nr_completed++;
        trace_pnv_vas_crb(txid, res.fc, res.cc, res.ce, res.tpbc, res.spbc);
        if (!(r[HV_WINCTL] & WINCTL_TX_WCRED_MODE)) {
            return;
        }
        if (s->inject_lose_credit) {
            /* x-inject-lose-credit: the send credit never comes back */
            s->inject_lose_credit--;
            s->win[txid].withheld++;
            s->nr_credits_lost++;
            return;
        }
        pnv_vas_tx_credit(s, txid, 1);
        return;
    }

    /* Translation fault: the send credit stays out until the kernel's. */
    s->nr_faults++;
    stq_be_p(crb + CRB_FAULT_ADDR, res.fault_ea);
    crb[CRB_FAULT_FLAGS] = 0;
    crb[CRB_FAULT_STATUS] = 0;
    stl_be_p(crb + CRB_FAULT_PSWID, r[HV_PSWID] >> 32);
    crb[CRB_CCW_LAST_BYTE] &= ~1;
    trace_pnv_vas_fault(txid, res.fault_ea, res.fault_write, res.csb_ea);
    if (!pnv_vas_post_fault(s, txid, crb)) {
        s->nr_fault_lost++;
        if (r[HV_WINCTL] & WINCTL_TX_WCRED_MODE) {
            s->win[txid].withheld++;
            s->nr_credits_lost++;
        }
        qemu_log_mask(LOG_GUEST_ERROR, "pnv-vas: window %u: fault CRB for "
                      "EA 0x%" PRIx64 " lost (fault window refused it)\n",
                      txid, res.fault_ea);
    }
}

static FaultlabPortalAnswer pnv_vas_portal_store(FaultlabPortal *portal,
                                                 const FaultlabStore *st)
{
    PnvVas *s = PNV_VAS(portal);
    uint32_t txid = st->offset / VAS_PASTE_SIZE;
    uint64_t *r;
    uint32_t rxid, ct;

    if (st->kind != FAULTLAB_STORE_PASTE || st->len != NX_GZIP_CRB_SIZE) {
        return FAULTLAB_PORTAL_RETRY;
    }
    s->nr_pastes++;
    if (!pnv_vas_open(s, txid)) {
        s->nr_rejected++;
        trace_pnv_vas_paste(txid, 0, 0, false);
        return FAULTLAB_PORTAL_RETRY;
    }
    r = s->win[txid].regs;
    if ((r[HV_WINCTL] & WINCTL_TX_WCRED_MODE) &&
        wcred_get(r[HV_TX_WCRED], TX_WCRED_MASK) == 0) {
        s->nr_rejected++;
        trace_pnv_vas_paste(txid, 0, 0, false);
        return FAULTLAB_PORTAL_RETRY;
    }
    rxid = (r[HV_LRFIFO_WIN_PTR] >> 48) & 0xffff;
    if (!(r[HV_WINCTL] & WINCTL_NX_WIN) || !pnv_vas_open(s, rxid) ||
        !(s->win[rxid].regs[HV_WINCTL] & WINCTL_NX_WIN)) {
        qemu_log_mask(LOG_GUEST_ERROR, "pnv-vas: paste to window %u whose "
                      "receive window %u is not an open NX window\n",
                      txid, rxid);
        s->nr_rejected++;
        trace_pnv_vas_paste(txid, rxid, 0, false);
        return FAULTLAB_PORTAL_RETRY;
    }
    ct = s->win[rxid].regs[HV_LNOTIFY_PID] >> 44;
    if ((s->win[rxid].regs[HV_WINCTL] & WINCTL_RX_WCRED_MODE) &&
        wcred_get(s->win[rxid].regs[HV_LRX_WCRED], LRX_WCRED_MASK) == 0) {
        s->nr_rejected++;
        trace_pnv_vas_paste(txid, rxid, ct, false);
        return FAULTLAB_PORTAL_RETRY;
    }
    if (r[HV_WINCTL] & WINCTL_TX_WCRED_MODE) {
        pnv_vas_tx_credit(s, txid, -1);
    }
    if (s->win[rxid].regs[HV_WINCTL] & WINCTL_RX_WCRED_MODE) {
        pnv_vas_rx_credit(s, rxid, -1);
    }
    trace_pnv_vas_paste(txid, rxid, ct, true);
    if (ct == NX_CT_GZIP) {
        pnv_vas_run_gzip(s, txid, rxid, st->data);
    } else {
        qemu_log_mask(LOG_UNIMP, "pnv-vas: window %u: coprocessor type %u "
                      "(842) not modelled; CRB dropped\n", txid, ct);
        if (r[HV_WINCTL] & WINCTL_TX_WCRED_MODE) {
            pnv_vas_tx_credit(s, txid, 1);
        }
        if (s->win[rxid].regs[HV_WINCTL] & WINCTL_RX_WCRED_MODE) {
            pnv_vas_rx_credit(s, rxid, 1);
        }
    }
    return FAULTLAB_PORTAL_ACCEPTED;
}

/* HV window contexts */

static uint64_t pnv_vas_hvwc_read(void *opaque, hwaddr addr, unsigned size)
{
    PnvVas *s = opaque;
    uint32_t winid = addr / VAS_HVWC_SIZE;
    unsigned idx = (addr % VAS_HVWC_SIZE) / 8;
    uint64_t val;

    if (winid >= s->nr_windows) {
        qemu_log_mask(LOG_GUEST_ERROR, "pnv-vas: HVWC read of window %u "
                      "(the model has %u)\n", winid, s->nr_windows);
        return 0;
    }
    switch (idx) {
    case HV_WIN_STATUS:
        val = 0;            /* never busy: CRBs run at paste time */
        break;
    case HV_LRX_WCRED_ADDER:
    case HV_TX_WCRED_ADDER:
        val = 0;
        break;
    default:
        val = s->win[winid].regs[idx];
        break;
    }
    trace_pnv_vas_hvwc_read(winid, idx * 8, val);
    return val;
}

static void pnv_vas_hvwc_write(void *opaque, hwaddr addr, uint64_t val,
                               unsigned size)
{
    PnvVas *s = opaque;
    uint32_t winid = addr / VAS_HVWC_SIZE;
    unsigned idx = (addr % VAS_HVWC_SIZE) / 8;
    PnvVasWindow *w;

    if (winid >= s->nr_windows) {
        qemu_log_mask(LOG_GUEST_ERROR, "pnv-vas: HVWC write of window %u "
                      "(the model has %u)\n", winid, s->nr_windows);
        return;
    }
    w = &s->win[winid];
    trace_pnv_vas_hvwc_write(winid, idx * 8, val);
    switch (idx) {
    case HV_LRX_WCRED_ADDER:
        pnv_vas_rx_credit(s, winid, wcred_get(val, LRX_WCRED_MASK));
        break;
    case HV_TX_WCRED_ADDER:
        pnv_vas_tx_credit(s, winid, wcred_get(val, TX_WCRED_MASK));
        break;
    case HV_WIN_STATUS:
    case HV_NX_UTIL:
    case HV_NX_UTIL_SE:
        break;              /* read-only status */
    case HV_WINCTL:
        if ((val & WINCTL_OPEN) && !(w->regs[HV_WINCTL] & WINCTL_OPEN)) {
            w->fifo_wptr = 0;
            w->withheld = 0;
            w->tx_wcred_open = wcred_get(w->regs[HV_TX_WCRED], TX_WCRED_MASK);
            w->rx_wcred_open = wcred_get(w->regs[HV_LRX_WCRED],
                                         LRX_WCRED_MASK);
            trace_pnv_vas_window(winid, "open", val);
        } else if (!(val & WINCTL_OPEN) &&
                   (w->regs[HV_WINCTL] & WINCTL_OPEN)) {
            trace_pnv_vas_window(winid, "close", val);
        }
        w->regs[idx] = val;
        break;
    default:
        w->regs[idx] = val;
        break;
    }
}

static const MemoryRegionOps pnv_vas_hvwc_ops = {
    .read = pnv_vas_hvwc_read,
    .write = pnv_vas_hvwc_write,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid.min_access_size = 8,
    .valid.max_access_size = 8,
    .impl.min_access_size = 8,
    .impl.max_access_size = 8,
};

/* User window contexts: Linux maps them but programs nothing there. */

static uint64_t pnv_vas_uwc_read(void *opaque, hwaddr addr, unsigned size)
{
    trace_pnv_vas_uwc(addr / VAS_UWC_SIZE, addr % VAS_UWC_SIZE, false, 0);
    return 0;
}

static void pnv_vas_uwc_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    trace_pnv_vas_uwc(addr / VAS_UWC_SIZE, addr % VAS_UWC_SIZE, true, val);
}

static const MemoryRegionOps pnv_vas_uwc_ops = {
    .read = pnv_vas_uwc_read,
    .write = pnv_vas_uwc_write,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid.min_access_size = 1,
    .valid.max_access_size = 8,
};

/* xscom */

static void pnv_vas_map(MemoryRegion *mr, bool enable, uint64_t addr)
{
    memory_region_transaction_begin();
    memory_region_set_enabled(mr, false);
    if (enable && addr) {
        memory_region_set_address(mr, addr);
        memory_region_set_enabled(mr, true);
    }
    memory_region_transaction_commit();
}

static void pnv_vas_update_bars(PnvVas *s)
{
    uint64_t ctl = s->vas_regs[VAS_MISC_N_CTL];

    pnv_vas_map(&s->hvwc_mr, ctl & VAS_ENABLE_WC_MMIO,
                s->vas_regs[VAS_WCM_BAR] & VAS_WCM_BAR_ADDR);
    pnv_vas_map(&s->uwc_mr, ctl & VAS_ENABLE_UWC_MMIO,
                s->vas_regs[VAS_UWCM_BAR] & VAS_UWCM_BAR_ADDR);
    pnv_vas_map(&s->paste_mr, ctl & VAS_ACCEPT_PASTE,
                s->vas_regs[VAS_RMA_BAR] & VAS_RMA_BAR_ADDR);
}

static uint64_t pnv_vas_xscom_read(void *opaque, hwaddr addr, unsigned size)
{
    PnvVas *s = opaque;
    uint32_t off = addr >> 3;

    trace_pnv_vas_xscom("vas", false, off, s->vas_regs[off]);
    return s->vas_regs[off];
}

static void pnv_vas_xscom_write(void *opaque, hwaddr addr, uint64_t val,
                                unsigned size)
{
    PnvVas *s = opaque;
    uint32_t off = addr >> 3;

    trace_pnv_vas_xscom("vas", true, off, val);
    s->vas_regs[off] = val;
    switch (off) {
    case VAS_WCM_BAR:
    case VAS_UWCM_BAR:
    case VAS_MISC_N_CTL:
    case VAS_RMA_BAR:
        pnv_vas_update_bars(s);
        break;
    }
}

static const MemoryRegionOps pnv_vas_xscom_ops = {
    .read = pnv_vas_xscom_read,
    .write = pnv_vas_xscom_write,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid.min_access_size = 8,
    .valid.max_access_size = 8,
    .impl.min_access_size = 8,
    .impl.max_access_size = 8,
};

/*
 * The NX unit: skiboot programs the receive FIFO BARs and notify-match
 * registers, the DMA and engine-enable configuration, and reads them back
 * to modify them. A register file gives it what the hardware does.
 */
static uint64_t pnv_nx_xscom_read(void *opaque, hwaddr addr, unsigned size)
{
    PnvVas *s = opaque;
    uint32_t off = addr >> 3;

    trace_pnv_vas_xscom("nx", false, off, s->nx_regs[off]);
    return s->nx_regs[off];
}

static void pnv_nx_xscom_write(void *opaque, hwaddr addr, uint64_t val,
                               unsigned size)
{
    PnvVas *s = opaque;
    uint32_t off = addr >> 3;

    trace_pnv_vas_xscom("nx", true, off, val);
    s->nx_regs[off] = val;
}

static const MemoryRegionOps pnv_nx_xscom_ops = {
    .read = pnv_nx_xscom_read,
    .write = pnv_nx_xscom_write,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid.min_access_size = 8,
    .valid.max_access_size = 8,
    .impl.min_access_size = 8,
    .impl.max_access_size = 8,
};

/* Device tree: the xscom units skiboot looks for */

static int pnv_vas_dt_xscom(PnvXScomInterface *dev, void *fdt,
                            int xscom_offset)
{
    PnvVas *s = PNV_VAS(dev);
    g_autofree char *vas_name = g_strdup_printf("vas@%x",
                                                PNV9_XSCOM_VAS_BASE);
    g_autofree char *nx_name = g_strdup_printf("nx@%x", PNV9_XSCOM_NX_BASE);
    uint32_t vas_reg[] = { cpu_to_be32(PNV9_XSCOM_VAS_BASE),
                           cpu_to_be32(PNV9_XSCOM_VAS_SIZE) };
    uint32_t nx_reg[] = { cpu_to_be32(PNV9_XSCOM_NX_BASE),
                          cpu_to_be32(PNV9_XSCOM_NX_SIZE) };
    int off;

    off = fdt_add_subnode(fdt, xscom_offset, vas_name);
    _FDT(off);
    _FDT(fdt_setprop_string(fdt, off, "compatible", "ibm,power9-vas-x"));
    _FDT(fdt_setprop(fdt, off, "reg", vas_reg, sizeof(vas_reg)));
    _FDT(fdt_setprop_cell(fdt, off, "ibm,vas-id", pnv_vas_chip_id(s)));

    off = fdt_add_subnode(fdt, xscom_offset, nx_name);
    _FDT(off);
    _FDT(fdt_setprop_string(fdt, off, "compatible", "ibm,power9-nx"));
    _FDT(fdt_setprop(fdt, off, "reg", nx_reg, sizeof(nx_reg)));
    return 0;
}

/* QOM */

static void pnv_vas_reset(void *opaque)
{
    PnvVas *s = opaque;

    memset(s->vas_regs, 0, sizeof(s->vas_regs));
    memset(s->nx_regs, 0, sizeof(s->nx_regs));
    memset(s->win, 0, sizeof(*s->win) * s->nr_windows);
    pnv_vas_update_bars(s);
}

static void pnv_vas_realize(DeviceState *dev, Error **errp)
{
    PnvVas *s = PNV_VAS(dev);

    if (!s->chip) {
        error_setg(errp, "%s needs its chip", TYPE_PNV_VAS);
        return;
    }
    if (!s->nr_windows || s->nr_windows > PNV_VAS_MAX_WINDOWS) {
        error_setg(errp, "windows must be 1..%d", PNV_VAS_MAX_WINDOWS);
        return;
    }
    if (s->max_processed_len > NX_GZIP_MAX_BYTES) {
        error_setg(errp, "max-processed-len is at most %u", NX_GZIP_MAX_BYTES);
        return;
    }
    s->win = g_new0(PnvVasWindow, s->nr_windows);

    pnv_xscom_region_init(&s->xscom_vas, OBJECT(s), &pnv_vas_xscom_ops, s,
                          "xscom-vas", PNV9_XSCOM_VAS_SIZE);
    pnv_xscom_region_init(&s->xscom_nx, OBJECT(s), &pnv_nx_xscom_ops, s,
                          "xscom-nx", PNV9_XSCOM_NX_SIZE);

    /* The full architected ranges, mapped where skiboot's BARs say. */
    memory_region_init_io(&s->hvwc_mr, OBJECT(s), &pnv_vas_hvwc_ops, s,
                          "vas-hvwc",
                          (uint64_t)VAS_WINDOWS_PER_CHIP * VAS_HVWC_SIZE);
    memory_region_init_io(&s->uwc_mr, OBJECT(s), &pnv_vas_uwc_ops, s,
                          "vas-uwc",
                          (uint64_t)VAS_WINDOWS_PER_CHIP * VAS_UWC_SIZE);
    memory_region_init_io(&s->paste_mr, OBJECT(s), &faultlab_portal_mmio_ops, s,
                          "vas-paste",
                          (uint64_t)VAS_WINDOWS_PER_CHIP * VAS_PASTE_SIZE);
    memory_region_set_enabled(&s->hvwc_mr, false);
    memory_region_set_enabled(&s->uwc_mr, false);
    memory_region_set_enabled(&s->paste_mr, false);
    memory_region_add_subregion(get_system_memory(), 0, &s->hvwc_mr);
    memory_region_add_subregion(get_system_memory(), 0, &s->uwc_mr);
    memory_region_add_subregion(get_system_memory(), 0, &s->paste_mr);

    qemu_register_reset(pnv_vas_reset, s);
}

static int pnv_vas_post_load(void *opaque, int version_id)
{
    pnv_vas_update_bars(opaque);
    return 0;
}

static const VMStateDescription vmstate_pnv_vas_window = {
    .name = "pnv-vas-window",
    .version_id = 2,
    .minimum_version_id = 2,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(regs, PnvVasWindow, VAS_HVWC_REGS),
        VMSTATE_UINT32(fifo_wptr, PnvVasWindow),
        VMSTATE_UINT32(tx_wcred_open, PnvVasWindow),
        VMSTATE_UINT32(rx_wcred_open, PnvVasWindow),
        VMSTATE_UINT32(withheld, PnvVasWindow),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_pnv_vas = {
    .name = TYPE_PNV_VAS,
    .version_id = 2,
    .minimum_version_id = 2,
    .post_load = pnv_vas_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(vas_regs, PnvVas, PNV9_XSCOM_VAS_SIZE),
        VMSTATE_UINT64_ARRAY(nx_regs, PnvVas, PNV9_XSCOM_NX_SIZE),
        VMSTATE_STRUCT_VARRAY_POINTER_UINT32(win, PnvVas, nr_windows,
                                             vmstate_pnv_vas_window,
                                             PnvVasWindow),
        VMSTATE_UINT32(inject_fault_next, PnvVas),
        VMSTATE_UINT32(inject_fifo_full, PnvVas),
        VMSTATE_UINT32(inject_lose_credit, PnvVas),
        VMSTATE_END_OF_LIST()
    }
};

static const Property pnv_vas_properties[] = {
    DEFINE_PROP_LINK("chip", PnvVas, chip, TYPE_PNV_CHIP, PnvChip *),
    DEFINE_PROP_UINT32("windows", PnvVas, nr_windows,
                       VAS_WINDOWS_PER_CHIP),
    DEFINE_PROP_UINT64("max-processed-len", PnvVas, max_processed_len, 0),
};

static void pnv_vas_get_open_windows(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    PnvVas *s = PNV_VAS(obj);
    uint32_t n = 0;

    for (uint32_t i = 0; s->win && i < s->nr_windows; i++) {
        n += pnv_vas_open(s, i);
    }
    visit_type_uint32(v, name, &n, errp);
}

/*
 * Credits out: for every open window that checks credits, how many of the
 * credits it had when it was opened are not back (send windows: TX_WCRED,
 * receive and fault windows: LRX_WCRED). 0 when nothing is in flight.
 */
static void pnv_vas_get_credits_out(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    PnvVas *s = PNV_VAS(obj);
    uint32_t n = 0;

    for (uint32_t i = 0; s->win && i < s->nr_windows; i++) {
        PnvVasWindow *w = &s->win[i];
        uint64_t winctl = w->regs[HV_WINCTL];
        uint32_t cur;

        if (!(winctl & WINCTL_OPEN)) {
            continue;
        }
        if (winctl & WINCTL_TX_WCRED_MODE) {
            cur = wcred_get(w->regs[HV_TX_WCRED], TX_WCRED_MASK);
            n += cur < w->tx_wcred_open ? w->tx_wcred_open - cur : 0;
        }
        if (winctl & WINCTL_RX_WCRED_MODE) {
            cur = wcred_get(w->regs[HV_LRX_WCRED], LRX_WCRED_MASK);
            n += cur < w->rx_wcred_open ? w->rx_wcred_open - cur : 0;
        }
    }
    visit_type_uint32(v, name, &n, errp);
}

static void pnv_vas_get_withheld(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    PnvVas *s = PNV_VAS(obj);
    uint32_t n = 0;

    for (uint32_t i = 0; s->win && i < s->nr_windows; i++) {
        n += s->win[i].withheld;
    }
    visit_type_uint32(v, name, &n, errp);
}

/*
 * x-return-withheld-credits: a test's way out of what real hardware never
 * recovers from. Every send credit kept by x-inject-lose-credit or by a
 * lost fault CRB goes back to its window (open or being closed), so a
 * vas_win_close() polling TX_WCRED returns.
 */
static void pnv_vas_set_return_withheld(Object *obj, Visitor *v,
                                        const char *name, void *opaque,
                                        Error **errp)
{
    PnvVas *s = PNV_VAS(obj);
    bool value;

    if (!visit_type_bool(v, name, &value, errp) || !value) {
        return;
    }
    for (uint32_t i = 0; s->win && i < s->nr_windows; i++) {
        if (s->win[i].withheld) {
            pnv_vas_tx_credit(s, i, s->win[i].withheld);
            s->win[i].withheld = 0;
        }
    }
}

static void pnv_vas_get_false(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    bool value = false;

    visit_type_bool(v, name, &value, errp);
}

static void pnv_vas_instance_init(Object *obj)
{
    PnvVas *s = PNV_VAS(obj);

    object_property_add(obj, "open-windows", "uint32",
                        pnv_vas_get_open_windows, NULL, NULL, NULL);

    object_property_add_uint64_ptr(obj, "pastes", &s->nr_pastes,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "completed", &s->nr_completed,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "faults", &s->nr_faults,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "rejected", &s->nr_rejected,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "faults-lost", &s->nr_fault_lost,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "credits-lost", &s->nr_credits_lost,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "injected-faults",
                                   &s->nr_injected_faults, OBJ_PROP_FLAG_READ);
    object_property_add(obj, "credits-out", "uint32",
                        pnv_vas_get_credits_out, NULL, NULL, NULL);
    object_property_add(obj, "credits-withheld", "uint32",
                        pnv_vas_get_withheld, NULL, NULL, NULL);

    object_property_add_uint32_ptr(obj, "x-inject-fault-next",
                                   &s->inject_fault_next,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "x-inject-fault-fifo-full",
                                   &s->inject_fifo_full,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "x-inject-lose-credit",
                                   &s->inject_lose_credit,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add(obj, "x-return-withheld-credits", "bool",
                        pnv_vas_get_false, pnv_vas_set_return_withheld,
                        NULL, NULL);
}

static void pnv_vas_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    FaultlabPortalClass *pc = FAULTLAB_PORTAL_CLASS(klass);
    PnvXScomInterfaceClass *xdc = PNV_XSCOM_INTERFACE_CLASS(klass);

    dc->desc = "PowerNV POWER9 VAS/NX-GZIP (faultlab)";
    dc->realize = pnv_vas_realize;
    dc->vmsd = &vmstate_pnv_vas;
    dc->user_creatable = false;
    device_class_set_props(dc, pnv_vas_properties);
    pc->store = pnv_vas_portal_store;
    xdc->dt_xscom = pnv_vas_dt_xscom;
}

static const TypeInfo pnv_vas_info = {
    .name = TYPE_PNV_VAS,
    .parent = TYPE_DEVICE,
    .instance_size = sizeof(PnvVas),
    .instance_init = pnv_vas_instance_init,
    .class_init = pnv_vas_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_FAULTLAB_PORTAL },
        { TYPE_PNV_XSCOM_INTERFACE },
        { }
    },
};

bool pnv_vas_create(PnvChip *chip, Error **errp)
{
    Object *obj = object_new(TYPE_PNV_VAS);
    PnvVas *s = PNV_VAS(obj);

    object_property_add_child(OBJECT(chip), "vas", obj);
    object_unref(obj);
    object_property_set_link(obj, "chip", OBJECT(chip), &error_abort);
    if (!qdev_realize(DEVICE(obj), NULL, errp)) {
        return false;
    }
    pnv_xscom_add_subregion(chip, PNV9_XSCOM_VAS_BASE, &s->xscom_vas);
    pnv_xscom_add_subregion(chip, PNV9_XSCOM_NX_BASE, &s->xscom_nx);
    return true;
}

static void pnv_vas_register_types(void)
{
    type_register_static(&pnv_vas_info);
}

type_init(pnv_vas_register_types)
