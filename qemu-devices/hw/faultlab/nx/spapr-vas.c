/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab pseries VAS/NX front end for the NX-GZIP engine.
 *
 * What Linux 6.12 (arch/powerpc/platforms/pseries/vas.c, vas-sysfs.c,
 * drivers/crypto/nx/nx-common-pseries.c) expects from PowerVM, as listed in
 * hardware-contract.md section B:
 *
 *  - H_QUERY_VAS_CAPABILITIES(type, buf): type 0 gives the feature bits
 *    (QoS and default GZIP credits), types 1 (QoS) and 2 (default) the
 *    hv_vas_cop_feat_caps of that credit type. Default target credits are
 *    derived from the cores present now, so that DLPAR core add/remove
 *    changes them; QoS credits are a fixed property.
 *  - H_QUERY_NX_CAPABILITIES(type, buf): type 0 the NX feature bits (GZIP),
 *    type 1 the GZIP limits (req_max_processed_len...).
 *  - H_ALLOCATE_VAS_WINDOW(type, credits, domain[6]): one credit per window,
 *    refused beyond the partition's credits of that type. Returns the window
 *    id, its paste address (a 64 KiB page of guest real space, mapped by the
 *    kernel into the process, user pastes at +0x400) and its fault
 *    interrupt (a message-type source, 0x1080 + window slot, claimed at
 *    realize).
 *  - H_MODIFY_VAS_WINDOW(winid, pid, 0, flags, amr): the process context.
 *    The engine translates the CRB's effective addresses through the
 *    guest's radix process table (H_REGISTER_PROC_TBL, spapr->patb_entry)
 *    entry of that PID, as problem state.
 *  - H_DEALLOCATE_VAS_WINDOW(winid): closes it; a faulted CRB not fetched
 *    yet is dropped with the window.
 *  - H_GET_NX_FAULT(winid, buf): hands over the window's faulted CRB (with
 *    the NX fault stamp) and returns the window's credit.
 *
 * Pastes reach the window through the faultlab portal interface (portal.h):
 * the whole 128-byte CRB arrives at once and the answer becomes CR0 of
 * paste. (accepted, or refused when the window is not open or its one
 * credit is out). The engine runs the CRB synchronously, before the paste
 * instruction completes; a translation fault keeps the credit, stamps the
 * CRB and raises the window's fault interrupt once (B.4).
 *
 * The device tree gets /ibm,platform-facilities/ibm,compression-v1
 * (compatible "ibm,compression"), which makes nx-compress-pseries load and
 * register /dev/crypto/nx-gzip, and gives the VIO device whose
 * nx_gzip_caps sysfs group the selftests read.
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "hw/boards.h"
#include "hw/irq.h"
#include "hw/qdev-properties.h"
#include "hw/ppc/spapr.h"
#include "hw/ppc/spapr_irq.h"
#include "hw/ppc/fdt.h"
#include "migration/vmstate.h"
#include "system/reset.h"
#include <libfdt.h>
#include "hw/faultlab/portal.h"
#include "hw/faultlab/nx/nx-gzip.h"
#include "hw/faultlab/nx/nx-radix.h"
#include "hw/faultlab/nx/spapr-vas.h"
#include "hw/faultlab/trace.h"

OBJECT_DECLARE_SIMPLE_TYPE(SpaprVasState, SPAPR_VAS)

#define SPAPR_VAS_MAX_WINDOWS       128
#define SPAPR_VAS_WIN_SIZE          (64 * KiB)
/* Fault interrupts: 0x1080.., unused by spapr (HOTPLUG 0x1001, VIO 0x1100) */
#define SPAPR_VAS_IRQ_BASE          (SPAPR_XIRQ_BASE + 0x80)

/* Window (credit) types: caps.win_type, the index of the kernel's vascaps[]. */
#define VAS_WIN_TYPE_QOS            0
#define VAS_WIN_TYPE_DEFAULT        1

/* H_QUERY_VAS_CAPABILITIES query types and feature bits (PPC_BIT(n)). */
#define VAS_QUERY_ALL               0
#define VAS_QUERY_GZIP_QOS          1
#define VAS_QUERY_GZIP_DEFAULT      2
#define VAS_FEAT_GZIP_QOS           (1ULL << (63 - 1))
#define VAS_FEAT_GZIP_DEFAULT       (1ULL << (63 - 2))
#define VAS_COPY_PASTE_USER_MODE    0x01

/* H_QUERY_NX_CAPABILITIES query types and feature bits. */
#define NX_QUERY_ALL                0
#define NX_QUERY_GZIP               1
#define NX_FEAT_GZIP                (1ULL << (63 - 1))

/* Capability descriptors the kernel compares against ("VQosGzip"...). */
#define VAS_DESC_GZIP_QOS           0x56516F73477A6970ULL
#define VAS_DESC_GZIP_DEFAULT       0x56446566477A6970ULL
/* Not checked by Linux; the bench's choice: "VasCaps\0", "NXGzip\0\0". */
#define VAS_DESC_ALL                0x5661734361707300ULL
#define NX_DESC_ALL                 0x4E58436170730000ULL
#define NX_DESC_GZIP                0x4E58477A69700000ULL

/* Fault stamp in the CRB (icswx.h struct nx_fault_stamp). */
#define CRB_FAULT_ADDR              0x40
#define CRB_FAULT_FLAGS             0x4A
#define CRB_FAULT_STATUS            0x4B
#define CRB_FAULT_PSWID             0x4C

/* Partition-table entry dword 1 (H_REGISTER_PROC_TBL): radix (GR). */
#define PATE1_GR_BIT                0x8000000000000000ULL

typedef struct SpaprVasWindow {
    bool allocated;
    bool modified;          /* H_MODIFY_VAS_WINDOW done: pid is valid */
    bool busy;              /* its one credit is out (a faulted CRB) */
    bool fault_pending;     /* fault_crb waits for H_GET_NX_FAULT */
    uint8_t type;
    uint32_t pid;
    uint64_t flags;
    uint8_t fault_crb[NX_GZIP_CRB_SIZE];
    /* not migrated: fixed per slot at realize */
    int fault_irq;
} SpaprVasWindow;

struct SpaprVasState {
    DeviceState parent_obj;

    MemoryRegion paste_mr;
    SpaprVasWindow win[SPAPR_VAS_MAX_WINDOWS];

    /* properties */
    uint64_t paste_base;
    uint32_t nr_windows;
    uint32_t credits_per_core;
    uint32_t qos_credits;
    uint64_t max_processed_len;

    /* statistics (QOM read-only properties) */
    uint64_t nr_pastes;
    uint64_t nr_completed;
    uint64_t nr_faults;
    uint64_t nr_rejected;
};

static SpaprVasState *spapr_vas;

/* Credits */

static unsigned spapr_vas_cores(bool present_only)
{
    MachineState *ms = MACHINE(qdev_get_machine());
    MachineClass *mc = MACHINE_GET_CLASS(ms);
    const CPUArchIdList *ids = mc->possible_cpu_arch_ids(ms);
    unsigned n = 0;

    for (int i = 0; i < ids->len; i++) {
        if (!present_only || ids->cpus[i].cpu) {
            n++;
        }
    }
    return n;
}

static unsigned spapr_vas_target_credits(SpaprVasState *s, uint8_t type)
{
    if (type == VAS_WIN_TYPE_QOS) {
        return s->qos_credits;
    }
    return MIN(s->credits_per_core * spapr_vas_cores(true), UINT16_MAX);
}

static unsigned spapr_vas_used_credits(SpaprVasState *s, uint8_t type)
{
    unsigned n = 0;

    for (int i = 0; i < s->nr_windows; i++) {
        if (s->win[i].allocated && s->win[i].type == type) {
            n++;
        }
    }
    return n;
}

/* Translation of the window's effective addresses (radix, problem state) */

/*
 * The window's process as NX sees it: the process table the guest registered
 * (H_REGISTER_PROC_TBL; none under hash), quadrant 0 of the window's PID.
 */
static NXRadixSpace spapr_vas_space(uint32_t winid, const SpaprVasWindow *w)
{
    SpaprMachineState *spapr = SPAPR_MACHINE(qdev_get_machine());
    uint64_t patb = spapr->patb_entry;
    NXRadixSpace sp = {
        .pid = w->pid,
        .pr = true,
        .owner = "spapr-vas",
        .winid = winid,
    };

    if (patb & PATE1_GR_BIT) {
        sp.prtb = patb & NX_RADIX_PRTB;
        sp.prtb_size = 1ULL << ((patb & NX_RADIX_PRTS) + 12);
    }
    return sp;
}

/* Paste addresses */

static void spapr_vas_run_crb(SpaprVasState *s, uint32_t winid,
                              const uint8_t *crb)
{
    SpaprVasWindow *w = &s->win[winid];
    NXRadixSpace sp = spapr_vas_space(winid, w);
    NXGzipResult r;

    if (crb[11] & NX_GZIP_CRB_AT) {
        qemu_log_mask(LOG_GUEST_ERROR, "spapr-vas: window %u: CRB asks for "
                      "real addresses (AT); user windows translate EAs\n",
                      winid);
    }
    r = nx_gzip_run(&nx_radix_mem_ops, &sp, crb, s->max_processed_len);
    if (r.ccb_valid) {
        qemu_log_mask(LOG_UNIMP, "spapr-vas: window %u: CRB completion "
                      "block (C bit) ignored\n", winid);
    }
    if (r.status == NX_GZIP_COMPLETED) {
        s->nr_completed++;
        trace_spapr_vas_crb(winid, r.fc, r.cc, r.ce, r.tpbc, r.spbc);
        return;
    }

    /*
     * Translation fault: the CSB is untouched; the hypervisor keeps the
     * stamped CRB and the window's credit until H_GET_NX_FAULT, and raises
     * the window's fault interrupt once for it.
     */
    s->nr_faults++;
    memcpy(w->fault_crb, crb, NX_GZIP_CRB_SIZE);
    stq_be_p(w->fault_crb + CRB_FAULT_ADDR, r.fault_ea);
    w->fault_crb[CRB_FAULT_FLAGS] = 0;
    w->fault_crb[CRB_FAULT_STATUS] = 0;
    stl_be_p(w->fault_crb + CRB_FAULT_PSWID, winid);
    w->busy = true;
    w->fault_pending = true;
    trace_spapr_vas_fault(winid, r.fault_ea, r.fault_write, r.csb_ea);
    qemu_irq_pulse(spapr_qirq(SPAPR_MACHINE(qdev_get_machine()),
                              w->fault_irq));
}

static FaultlabPortalAnswer spapr_vas_portal_store(FaultlabPortal *portal,
                                                   const FaultlabStore *st)
{
    SpaprVasState *s = SPAPR_VAS(portal);
    uint32_t winid = st->offset / SPAPR_VAS_WIN_SIZE;
    SpaprVasWindow *w;

    if (st->kind != FAULTLAB_STORE_PASTE || st->len != NX_GZIP_CRB_SIZE ||
        winid >= s->nr_windows) {
        return FAULTLAB_PORTAL_RETRY;
    }
    w = &s->win[winid];
    s->nr_pastes++;
    if (!w->allocated || !w->modified || w->busy) {
        s->nr_rejected++;
        trace_spapr_vas_paste(winid, w->allocated, w->modified, w->busy,
                              false);
        return FAULTLAB_PORTAL_RETRY;
    }
    trace_spapr_vas_paste(winid, true, true, false, true);
    spapr_vas_run_crb(s, winid, st->data);
    return FAULTLAB_PORTAL_ACCEPTED;
}

/* hcalls */

static bool spapr_vas_put(target_ulong addr, const void *buf, size_t len)
{
    return address_space_write(&address_space_memory, addr,
                               MEMTXATTRS_UNSPECIFIED, buf, len) == MEMTX_OK;
}

static SpaprVasWindow *spapr_vas_lookup(SpaprVasState *s, target_ulong winid)
{
    if (winid >= s->nr_windows || !s->win[winid].allocated) {
        return NULL;
    }
    return &s->win[winid];
}

static target_ulong h_query_vas_capabilities(PowerPCCPU *cpu,
                                             SpaprMachineState *spapr,
                                             target_ulong opcode,
                                             target_ulong *args)
{
    SpaprVasState *s = spapr_vas;
    target_ulong type = args[0], buf = args[1];
    uint8_t caps[24] = { 0 };
    size_t len;

    switch (type) {
    case VAS_QUERY_ALL:
        stq_be_p(caps, VAS_DESC_ALL);
        stq_be_p(caps + 8, VAS_FEAT_GZIP_QOS | VAS_FEAT_GZIP_DEFAULT);
        len = 16;
        break;
    case VAS_QUERY_GZIP_QOS:
    case VAS_QUERY_GZIP_DEFAULT: {
        uint8_t wt = type == VAS_QUERY_GZIP_QOS ? VAS_WIN_TYPE_QOS
                                                : VAS_WIN_TYPE_DEFAULT;
        unsigned max = wt == VAS_WIN_TYPE_QOS ? s->qos_credits :
            MIN(s->credits_per_core * spapr_vas_cores(false), UINT16_MAX);

        stq_be_p(caps, wt == VAS_WIN_TYPE_QOS ? VAS_DESC_GZIP_QOS
                                              : VAS_DESC_GZIP_DEFAULT);
        caps[8] = wt;                               /* win_type */
        caps[9] = VAS_COPY_PASTE_USER_MODE;         /* user_mode */
        stw_be_p(caps + 10, max);                   /* max_lpar_creds */
        stw_be_p(caps + 12, 1);                     /* max_win_creds */
        if (wt == VAS_WIN_TYPE_DEFAULT) {           /* def_lpar_creds */
            stw_be_p(caps + 14,
                     MIN(s->credits_per_core *
                         MACHINE(qdev_get_machine())->smp.cores,
                         UINT16_MAX));
        }
        stw_be_p(caps + 16, spapr_vas_target_credits(s, wt));
        len = 18;
        break;
    }
    default:
        return H_PARAMETER;
    }
    if (!spapr_vas_put(buf, caps, len)) {
        return H_P2;
    }
    return H_SUCCESS;
}

static target_ulong h_query_nx_capabilities(PowerPCCPU *cpu,
                                            SpaprMachineState *spapr,
                                            target_ulong opcode,
                                            target_ulong *args)
{
    SpaprVasState *s = spapr_vas;
    target_ulong type = args[0], buf = args[1];
    uint8_t caps[32] = { 0 };
    size_t len;

    switch (type) {
    case NX_QUERY_ALL:
        stq_be_p(caps, NX_DESC_ALL);
        stq_be_p(caps + 8, NX_FEAT_GZIP);
        len = 16;
        break;
    case NX_QUERY_GZIP:
        stq_be_p(caps, NX_DESC_GZIP);
        stq_be_p(caps + 8, s->max_processed_len);   /* req_max_processed_len */
        stq_be_p(caps + 16, 0);                     /* min_compress_len */
        stq_be_p(caps + 24, 0);                     /* min_decompress_len */
        len = 32;
        break;
    default:
        return H_PARAMETER;
    }
    if (!spapr_vas_put(buf, caps, len)) {
        return H_P2;
    }
    return H_SUCCESS;
}

static target_ulong h_allocate_vas_window(PowerPCCPU *cpu,
                                          SpaprMachineState *spapr,
                                          target_ulong opcode,
                                          target_ulong *args)
{
    SpaprVasState *s = spapr_vas;
    target_ulong type = args[0], credits = args[1];
    SpaprVasWindow *w = NULL;
    uint32_t winid;

    if (type != VAS_WIN_TYPE_QOS && type != VAS_WIN_TYPE_DEFAULT) {
        return H_PARAMETER;
    }
    if (credits != 1) {
        return H_P2;
    }
    /* domain[] (r6..r11) selects a VAS instance; there is one. */
    if (spapr_vas_used_credits(s, type) >= spapr_vas_target_credits(s, type)) {
        return H_RESOURCE;
    }
    for (winid = 0; winid < s->nr_windows; winid++) {
        if (!s->win[winid].allocated) {
            w = &s->win[winid];
            break;
        }
    }
    if (!w) {
        return H_RESOURCE;
    }
    w->allocated = true;
    w->modified = false;
    w->busy = false;
    w->fault_pending = false;
    w->type = type;
    w->pid = 0;
    w->flags = 0;
    args[0] = winid;
    args[1] = s->paste_base + (uint64_t)winid * SPAPR_VAS_WIN_SIZE;
    args[2] = 0;                /* completion interrupt: not used */
    args[3] = w->fault_irq;
    trace_spapr_vas_window("allocate", winid, type, 0, w->fault_irq);
    return H_SUCCESS;
}

static target_ulong h_modify_vas_window(PowerPCCPU *cpu,
                                        SpaprMachineState *spapr,
                                        target_ulong opcode,
                                        target_ulong *args)
{
    SpaprVasState *s = spapr_vas;
    SpaprVasWindow *w;

    w = spapr_vas_lookup(s, args[0]);
    if (!w) {
        return H_PARAMETER;
    }
    if (args[1] > UINT32_MAX) {
        return H_P2;
    }
    w->pid = args[1];
    w->flags = args[3];
    w->modified = true;
    trace_spapr_vas_window("modify", args[0], w->type, w->pid, w->fault_irq);
    return H_SUCCESS;
}

static target_ulong h_deallocate_vas_window(PowerPCCPU *cpu,
                                            SpaprMachineState *spapr,
                                            target_ulong opcode,
                                            target_ulong *args)
{
    SpaprVasState *s = spapr_vas;
    SpaprVasWindow *w;

    w = spapr_vas_lookup(s, args[0]);
    if (!w) {
        return H_PARAMETER;
    }
    trace_spapr_vas_window("deallocate", args[0], w->type, w->pid,
                           w->fault_irq);
    w->allocated = false;
    w->modified = false;
    w->busy = false;
    w->fault_pending = false;
    return H_SUCCESS;
}

static target_ulong h_get_nx_fault(PowerPCCPU *cpu, SpaprMachineState *spapr,
                                   target_ulong opcode, target_ulong *args)
{
    SpaprVasState *s = spapr_vas;
    SpaprVasWindow *w;

    w = spapr_vas_lookup(s, args[0]);
    if (!w) {
        return H_PARAMETER;
    }
    if (!w->fault_pending) {
        return H_NOT_FOUND;
    }
    if (!spapr_vas_put(args[1], w->fault_crb, NX_GZIP_CRB_SIZE)) {
        return H_P2;
    }
    /* The CRB is handed over: its credit comes back to the window. */
    w->fault_pending = false;
    w->busy = false;
    return H_SUCCESS;
}

typedef struct SpaprVasHcall {
    target_ulong opcode;
    const char *name;
    spapr_hcall_fn fn;
} SpaprVasHcall;

static const SpaprVasHcall spapr_vas_hcalls[] = {
    { H_QUERY_VAS_CAPABILITIES, "H_QUERY_VAS_CAPABILITIES",
      h_query_vas_capabilities },
    { H_QUERY_NX_CAPABILITIES, "H_QUERY_NX_CAPABILITIES",
      h_query_nx_capabilities },
    { H_ALLOCATE_VAS_WINDOW, "H_ALLOCATE_VAS_WINDOW", h_allocate_vas_window },
    { H_MODIFY_VAS_WINDOW, "H_MODIFY_VAS_WINDOW", h_modify_vas_window },
    { H_DEALLOCATE_VAS_WINDOW, "H_DEALLOCATE_VAS_WINDOW",
      h_deallocate_vas_window },
    { H_GET_NX_FAULT, "H_GET_NX_FAULT", h_get_nx_fault },
};

/*
 * Every VAS/NX hcall enters here: without a spapr-vas device the partition
 * has no VAS (H_FUNCTION, as PowerVM answers); each call and its return code
 * is traced once, with its first two arguments as the guest passed them
 * (handlers overwrite args[] with their results).
 */
static target_ulong h_vas(PowerPCCPU *cpu, SpaprMachineState *spapr,
                          target_ulong opcode, target_ulong *args)
{
    target_ulong a0 = args[0], a1 = args[1];
    target_ulong rc;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(spapr_vas_hcalls); i++) {
        if (spapr_vas_hcalls[i].opcode == opcode) {
            rc = spapr_vas ? spapr_vas_hcalls[i].fn(cpu, spapr, opcode, args)
                           : H_FUNCTION;
            trace_spapr_vas_hcall(spapr_vas_hcalls[i].name, a0, a1, rc);
            return rc;
        }
    }
    return H_FUNCTION;
}

/* Device tree */

void spapr_vas_dt_populate(SpaprMachineState *spapr, void *fdt)
{
    /* {comp_elems, comp_data_limit, comp_sg_limit, decomp_...} (842) */
    static const uint32_t max_sync_cop[] = { 1, 65536, 510, 1, 65536, 510 };
    uint32_t cop[ARRAY_SIZE(max_sync_cop)];
    int pf, nx;

    if (!spapr_vas) {
        return;
    }
    for (int i = 0; i < ARRAY_SIZE(cop); i++) {
        cop[i] = cpu_to_be32(max_sync_cop[i]);
    }
    pf = fdt_add_subnode(fdt, 0, "ibm,platform-facilities");
    _FDT(pf);
    _FDT(fdt_setprop_string(fdt, pf, "device_type",
                            "ibm,platform-facilities"));
    _FDT(fdt_setprop_cell(fdt, pf, "#address-cells", 1));
    _FDT(fdt_setprop_cell(fdt, pf, "#size-cells", 0));
    nx = fdt_add_subnode(fdt, pf, "ibm,compression-v1");
    _FDT(nx);
    _FDT(fdt_setprop_string(fdt, nx, "compatible", "ibm,compression"));
    _FDT(fdt_setprop_string(fdt, nx, "status", "okay"));
    _FDT(fdt_setprop_cell(fdt, nx, "ibm,max-sg-len", 4080));
    _FDT(fdt_setprop(fdt, nx, "ibm,max-sync-cop", cop, sizeof(cop)));
    _FDT(fdt_setprop_cell(fdt, nx, "ibm,resource-id", 1));
}

/* QOM */

static void spapr_vas_reset(void *opaque)
{
    SpaprVasState *s = opaque;

    for (int i = 0; i < SPAPR_VAS_MAX_WINDOWS; i++) {
        SpaprVasWindow *w = &s->win[i];

        w->allocated = false;
        w->modified = false;
        w->busy = false;
        w->fault_pending = false;
        w->pid = 0;
        w->flags = 0;
    }
}

static void spapr_vas_realize(DeviceState *dev, Error **errp)
{
    SpaprVasState *s = SPAPR_VAS(dev);
    Object *machine = qdev_get_machine();
    SpaprMachineState *spapr;

    if (!object_dynamic_cast(machine, TYPE_SPAPR_MACHINE)) {
        error_setg(errp, "%s needs a pseries machine", TYPE_SPAPR_VAS);
        return;
    }
    if (spapr_vas) {
        error_setg(errp, "only one %s device is supported", TYPE_SPAPR_VAS);
        return;
    }
    if (!s->nr_windows || s->nr_windows > SPAPR_VAS_MAX_WINDOWS) {
        error_setg(errp, "windows must be 1..%d", SPAPR_VAS_MAX_WINDOWS);
        return;
    }
    if (s->paste_base & (SPAPR_VAS_WIN_SIZE - 1)) {
        error_setg(errp, "paste-base must be 64 KiB aligned");
        return;
    }
    if (s->max_processed_len > NX_GZIP_MAX_BYTES) {
        error_setg(errp, "max-processed-len is at most %u", NX_GZIP_MAX_BYTES);
        return;
    }
    spapr = SPAPR_MACHINE(machine);

    /*
     * One fault interrupt per window slot, claimed for good: fixed numbers
     * in the range no spapr device uses (between HOTPLUG and VIO), so that
     * they survive machine reset (which wants the MSI allocator empty) and
     * are the same on a migration destination.
     */
    for (int i = 0; i < s->nr_windows; i++) {
        int irq = SPAPR_VAS_IRQ_BASE + i;

        if (spapr_irq_claim(spapr, irq, false, errp) < 0) {
            return;
        }
        s->win[i].fault_irq = irq;
    }

    memory_region_init_io(&s->paste_mr, OBJECT(s), &faultlab_portal_mmio_ops, s,
                          "spapr-vas-paste",
                          (uint64_t)s->nr_windows * SPAPR_VAS_WIN_SIZE);
    memory_region_add_subregion(get_system_memory(), s->paste_base,
                                &s->paste_mr);

    for (size_t i = 0; i < ARRAY_SIZE(spapr_vas_hcalls); i++) {
        spapr_register_hypercall(spapr_vas_hcalls[i].opcode, h_vas);
    }
    qemu_register_reset(spapr_vas_reset, s);
    spapr_vas = s;
}

static const VMStateDescription vmstate_spapr_vas_window = {
    .name = "spapr-vas-window",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(allocated, SpaprVasWindow),
        VMSTATE_BOOL(modified, SpaprVasWindow),
        VMSTATE_BOOL(busy, SpaprVasWindow),
        VMSTATE_BOOL(fault_pending, SpaprVasWindow),
        VMSTATE_UINT8(type, SpaprVasWindow),
        VMSTATE_UINT32(pid, SpaprVasWindow),
        VMSTATE_UINT64(flags, SpaprVasWindow),
        VMSTATE_UINT8_ARRAY(fault_crb, SpaprVasWindow, NX_GZIP_CRB_SIZE),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_spapr_vas = {
    .name = TYPE_SPAPR_VAS,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT_ARRAY(win, SpaprVasState, SPAPR_VAS_MAX_WINDOWS, 1,
                             vmstate_spapr_vas_window, SpaprVasWindow),
        VMSTATE_END_OF_LIST()
    }
};

static const Property spapr_vas_properties[] = {
    DEFINE_PROP_UINT64("paste-base", SpaprVasState, paste_base,
                       0x1e0000000000ULL),
    DEFINE_PROP_UINT32("windows", SpaprVasState, nr_windows, 64),
    DEFINE_PROP_UINT32("credits-per-core", SpaprVasState, credits_per_core,
                       8),
    DEFINE_PROP_UINT32("qos-credits", SpaprVasState, qos_credits, 8),
    DEFINE_PROP_UINT64("max-processed-len", SpaprVasState, max_processed_len,
                       1 * MiB),
};

static void spapr_vas_instance_init(Object *obj)
{
    SpaprVasState *s = SPAPR_VAS(obj);

    object_property_add_uint64_ptr(obj, "pastes", &s->nr_pastes,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "completed", &s->nr_completed,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "faults", &s->nr_faults,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "rejected", &s->nr_rejected,
                                   OBJ_PROP_FLAG_READ);
}

static void spapr_vas_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    FaultlabPortalClass *pc = FAULTLAB_PORTAL_CLASS(klass);

    dc->desc = "pseries VAS/NX-GZIP (faultlab)";
    dc->realize = spapr_vas_realize;
    dc->vmsd = &vmstate_spapr_vas;
    /* hcalls are registered for good: no hot unplug */
    dc->hotpluggable = false;
    device_class_set_props(dc, spapr_vas_properties);
    pc->store = spapr_vas_portal_store;
}

static const TypeInfo spapr_vas_info = {
    .name = TYPE_SPAPR_VAS,
    .parent = TYPE_DEVICE,
    .instance_size = sizeof(SpaprVasState),
    .instance_init = spapr_vas_instance_init,
    .class_init = spapr_vas_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_FAULTLAB_PORTAL },
        { }
    },
};

static void spapr_vas_register_types(void)
{
    type_register_static(&spapr_vas_info);
}

type_init(spapr_vas_register_types)
