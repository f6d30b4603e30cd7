/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab pseries asynchronous page faults: the PAPR Expropriation/
 * Subvention Notification option, as the Linux/KVM/QEMU RFC of Aug 2021
 * ("PPC: KVM: pseries: Asynchronous page fault") describes it.
 *
 *  - H_REG_SNS(addr, len) registers the Subvention Notification Structure
 *    (SNS): byte 0 is the guest's control byte (0x01: notifications wanted),
 *    byte 1 the hypervisor's state byte (0x01: event queue overflowed), then
 *    an event queue of big-endian 16-bit entries from byte 2 on, 0 meaning
 *    empty; the guest zeroes an entry once read. addr = -1 deregisters.
 *    R5 returns the interrupt source of the subvention interrupt.
 *  - Per vCPU, VPA byte 0xB9 bit 0x02 enables expropriation notifications;
 *    VPA 0x17E (2 bytes, big-endian) is the expropriation correlation number
 *    and 0x17D the expropriation flags.
 *  - An expropriated page: the next data access of an enabled vCPU (under
 *    MSR[DR]=1, user or kernel) takes a DSI with SRR1 bit 46 set, DSISR
 *    NOPTE and DAR the address, the page's correlation number in the VPA;
 *    the access faults again for as long as the page stays expropriated. A
 *    vCPU that did not enable notifications gets its access served
 *    synchronously (the hypervisor "delays" it by zero) and the page is back.
 *  - Subvention: the page becomes accessible, its correlation number enters
 *    the event queue and the interrupt fires (if the control byte asks).
 *
 * The host side is a QOM interface for the harness: properties "expropriate"
 * (write a guest-physical address) and "subvene" (write a correlation
 * number), read-only counters. Test-only: "x-inject-sns-full" (the next N
 * notifications find the event queue full) and "x-data-access" (a data
 * access of the first vCPU reaches the expropriation check, for qtest, which
 * runs no vCPU). See qemu-devices/docs/spapr-apf.md.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "exec/address-spaces.h"
#include "exec/exec-all.h"
#include "exec/cputlb.h"
#include "hw/boards.h"
#include "hw/irq.h"
#include "hw/core/cpu.h"
#include "hw/ppc/spapr.h"
#include "hw/ppc/spapr_cpu_core.h"
#include "hw/ppc/spapr_irq.h"
#include "system/reset.h"
#include "hw/faultlab/trace.h"
#include "hw/faultlab/apf/spapr-apf.h"

/* SNS layout */
#define SNS_CTRL                0       /* guest: notification control */
#define SNS_CTRL_TRIGGER        0x01
#define SNS_STATE               1       /* hypervisor: event queue state */
#define SNS_STATE_OVERFLOW      0x01
#define SNS_EQ                  2       /* 16-bit entries, 0 = empty */
#define SNS_MIN_LEN             256
#define SNS_PAGE                4096    /* PAPR: 4K aligned, within one page */

/* VPA fields */
#define VPA_EXP_ENABLE          0xB9
#define VPA_EXP_INT_ENABLED     0x02
#define VPA_EXP_FLAGS           0x17D
#define VPA_EXP_FLAG_RESTORED   0x01    /* PAPR bit 7: data will be restored */
#define VPA_EXP_CORR            0x17E

/* The subvention interrupt: a fixed source below the VAS window ones. */
#define SPAPR_APF_IRQ           (SPAPR_XIRQ_BASE + 0x70)

#define SPAPR_APF_PAGE          4096    /* expropriation granule */
#define SPAPR_APF_MAX_PAGES     64

OBJECT_DECLARE_SIMPLE_TYPE(SpaprApfState, SPAPR_APF)

typedef struct SpaprApfPage {
    bool used;
    bool delivered;             /* a vCPU took the expropriation DSI */
    uint16_t corr;
    hwaddr gpa;
} SpaprApfPage;

struct SpaprApfState {
    DeviceState parent_obj;

    QemuMutex lock;             /* pages, SNS state; vCPU threads and QMP */
    SpaprApfPage pages[SPAPR_APF_MAX_PAGES];
    uint32_t nr_pages;          /* read locklessly on the fast path */
    uint16_t next_corr;

    bool sns_registered;
    uint64_t sns_addr;
    uint64_t sns_len;
    uint32_t sns_next;          /* next event queue entry */
    bool subvene_on_delivery;   /* subvene at once: wake-before-sleep tests */
    uint32_t inject_sns_full;   /* next notifications to find the queue full */

    uint64_t last_corr;
    uint64_t nr_expropriations;
    uint64_t nr_faults;
    uint64_t nr_sync;
    uint64_t nr_subventions;
    uint64_t nr_notifications;
    uint64_t nr_overflows;
    uint64_t nr_hcall_errors;
};

static SpaprApfState *spapr_apf;

static SpaprApfPage *apf_find_gpa(SpaprApfState *s, hwaddr gpa)
{
    for (int i = 0; i < SPAPR_APF_MAX_PAGES; i++) {
        if (s->pages[i].used && s->pages[i].gpa == gpa) {
            return &s->pages[i];
        }
    }
    return NULL;
}

static SpaprApfPage *apf_find_corr(SpaprApfState *s, uint16_t corr)
{
    for (int i = 0; i < SPAPR_APF_MAX_PAGES; i++) {
        if (s->pages[i].used && s->pages[i].corr == corr) {
            return &s->pages[i];
        }
    }
    return NULL;
}

static void apf_drop_page(SpaprApfState *s, SpaprApfPage *p)
{
    p->used = false;
    qatomic_set(&s->nr_pages, s->nr_pages - 1);
}

/*
 * Raise the subvention interrupt, from QMP (BQL held) or from a vCPU thread
 * in the middle of a TLB fill (BQL not held: take it, as MMIO does). Never
 * called with s->lock held, which QMP takes under the BQL.
 */
static void apf_raise_irq(void)
{
    bool locked = bql_locked();

    if (!locked) {
        bql_lock();
    }
    qemu_irq_pulse(spapr_qirq(SPAPR_MACHINE(qdev_get_machine()),
                              SPAPR_APF_IRQ));
    if (!locked) {
        bql_unlock();
    }
}

/*
 * Give @p back to the guest; with a DSI delivered for it, its correlation
 * number goes to the event queue. Called with s->lock held; returns whether
 * the caller must raise the interrupt (with apf_raise_irq(), once unlocked).
 */
static bool apf_subvene_locked(SpaprApfState *s, SpaprApfPage *p)
{
    uint16_t corr = p->corr;
    bool notify = p->delivered;
    hwaddr entry;

    apf_drop_page(s, p);
    s->nr_subventions++;
    if (!notify) {
        trace_spapr_apf_subvene(corr, "no DSI delivered: no notification");
        return false;
    }
    if (!s->sns_registered) {
        qemu_log_mask(LOG_GUEST_ERROR, "spapr-apf: subvention of correlation "
                      "%u dropped: no SNS registered (deregistered while "
                      "pending)\n", corr);
        trace_spapr_apf_subvene(corr, "dropped: no SNS");
        return false;
    }
    entry = s->sns_addr + SNS_EQ + 2 * s->sns_next;
    if (s->inject_sns_full ||
        lduw_be_phys(&address_space_memory, entry) != 0) {
        /*
         * the guest did not consume the entry: the queue is full (or the
         * host injects that it is: the same outcome, the entry untouched)
         */
        uint8_t st = ldub_phys(&address_space_memory,
                               s->sns_addr + SNS_STATE);

        stb_phys(&address_space_memory, s->sns_addr + SNS_STATE,
                 st | SNS_STATE_OVERFLOW);
        s->nr_overflows++;
        if (s->inject_sns_full) {
            s->inject_sns_full--;
            trace_spapr_apf_subvene(corr, "event queue overflow (injected)");
        } else {
            trace_spapr_apf_subvene(corr, "event queue overflow");
        }
    } else {
        stw_be_phys(&address_space_memory, entry, corr);
        s->sns_next = (s->sns_next + 1) % ((s->sns_len - SNS_EQ) / 2);
        s->nr_notifications++;
        trace_spapr_apf_subvene(corr, "queued");
    }
    return ldub_phys(&address_space_memory, s->sns_addr + SNS_CTRL) &
           SNS_CTRL_TRIGGER;
}

bool spapr_apf_data_access(PPCVirtualHypervisor *vhyp, PowerPCCPU *cpu,
                           hwaddr raddr, bool is_user)
{
    SpaprApfState *s = spapr_apf;
    CPUState *cs = CPU(cpu);
    SpaprCpuState *spapr_cpu = spapr_cpu_state(cpu);
    SpaprApfPage *p;
    uint64_t vpa;
    bool enabled, irq = false;

    if (!s || !qatomic_read(&s->nr_pages)) {
        return false;
    }
    qemu_mutex_lock(&s->lock);
    p = apf_find_gpa(s, raddr & ~(hwaddr)(SPAPR_APF_PAGE - 1));
    if (!p) {
        qemu_mutex_unlock(&s->lock);
        return false;
    }
    vpa = spapr_cpu->vpa_addr;
    enabled = vpa && s->sns_registered &&
              (ldub_phys(cs->as, vpa + VPA_EXP_ENABLE) & VPA_EXP_INT_ENABLED);
    if (!enabled) {
        /* No notification wanted: the access waits for the page (0 ns). */
        trace_spapr_apf_access(cs->cpu_index, raddr, p->corr, is_user,
                               "served synchronously");
        s->nr_sync++;
        apf_drop_page(s, p);
        qemu_mutex_unlock(&s->lock);
        return false;
    }
    stb_phys(cs->as, vpa + VPA_EXP_FLAGS, VPA_EXP_FLAG_RESTORED);
    stw_be_phys(cs->as, vpa + VPA_EXP_CORR, p->corr);
    p->delivered = true;
    s->nr_faults++;
    trace_spapr_apf_access(cs->cpu_index, raddr, p->corr, is_user,
                           "expropriation DSI");
    if (s->subvene_on_delivery) {
        /*
         * the notification overtakes the DSI: it is pending before the
         * guest runs its DSI handler
         */
        irq = apf_subvene_locked(s, p);
    }
    qemu_mutex_unlock(&s->lock);
    if (irq) {
        apf_raise_irq();
    }
    return true;
}

static target_ulong h_reg_sns(PowerPCCPU *cpu, SpaprMachineState *spapr,
                              target_ulong opcode, target_ulong *args)
{
    SpaprApfState *s = spapr_apf;
    uint64_t addr = args[0];
    uint64_t len = args[1];
    target_ulong ret = H_SUCCESS;

    qemu_mutex_lock(&s->lock);
    if (addr == (uint64_t)-1) {
        if (s->sns_registered && s->nr_pages) {
            qemu_log_mask(LOG_GUEST_ERROR, "spapr-apf: H_REG_SNS deregisters "
                          "with %u pages still expropriated\n", s->nr_pages);
        }
        s->sns_registered = false;
        s->sns_addr = 0;
        s->sns_len = 0;
        goto out;
    }
    if (s->sns_registered) {
        qemu_log_mask(LOG_GUEST_ERROR, "spapr-apf: H_REG_SNS: an SNS is "
                      "already registered at 0x%" PRIx64 "\n", s->sns_addr);
        ret = H_BUSY;
        goto out;
    }
    if (addr & (SNS_PAGE - 1) ||
        addr >= MACHINE(spapr)->ram_size) {
        qemu_log_mask(LOG_GUEST_ERROR, "spapr-apf: H_REG_SNS: address 0x%"
                      PRIx64 " not 4K aligned or not in RAM\n", addr);
        ret = H_PARAMETER;
        goto out;
    }
    if (len < SNS_MIN_LEN || len > SNS_PAGE ||
        addr + len > MACHINE(spapr)->ram_size) {
        qemu_log_mask(LOG_GUEST_ERROR, "spapr-apf: H_REG_SNS: length %" PRIu64
                      " not within [%d, %d] or crosses RAM end\n", len,
                      SNS_MIN_LEN, SNS_PAGE);
        ret = H_P2;
        goto out;
    }
    s->sns_registered = true;
    s->sns_addr = addr;
    s->sns_len = len;
    s->sns_next = 0;
    stb_phys(&address_space_memory, addr + SNS_STATE, 0);
    args[0] = 0;
    args[1] = SPAPR_APF_IRQ;        /* R5: the subvention interrupt source */
out:
    if (ret != H_SUCCESS) {
        s->nr_hcall_errors++;
    }
    trace_spapr_apf_reg_sns(addr, len, (int64_t)ret);
    qemu_mutex_unlock(&s->lock);
    return ret;
}

static void apf_flush_tlb_work(CPUState *cs, run_on_cpu_data data)
{
    tlb_flush(cs);
}

static void apf_set_expropriate(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    SpaprApfState *s = SPAPR_APF(obj);
    SpaprApfPage *p = NULL;
    uint64_t gpa;
    CPUState *cs;

    if (!visit_type_uint64(v, name, &gpa, errp)) {
        return;
    }
    if (gpa >= MACHINE(qdev_get_machine())->ram_size) {
        error_setg(errp, "0x%" PRIx64 " is not guest RAM", gpa);
        return;
    }
    gpa &= ~(uint64_t)(SPAPR_APF_PAGE - 1);
    qemu_mutex_lock(&s->lock);
    if (apf_find_gpa(s, gpa)) {
        qemu_mutex_unlock(&s->lock);
        error_setg(errp, "page 0x%" PRIx64 " is already expropriated", gpa);
        return;
    }
    for (int i = 0; i < SPAPR_APF_MAX_PAGES; i++) {
        if (!s->pages[i].used) {
            p = &s->pages[i];
            break;
        }
    }
    if (!p) {
        qemu_mutex_unlock(&s->lock);
        error_setg(errp, "already %d pages expropriated", SPAPR_APF_MAX_PAGES);
        return;
    }
    /* correlation numbers are non-zero and unique among pending pages */
    do {
        s->next_corr = s->next_corr + 1 ? s->next_corr + 1 : 1;
    } while (apf_find_corr(s, s->next_corr));
    p->used = true;
    p->delivered = false;
    p->gpa = gpa;
    p->corr = s->next_corr;
    s->last_corr = p->corr;
    s->nr_expropriations++;
    qatomic_set(&s->nr_pages, s->nr_pages + 1);
    trace_spapr_apf_expropriate(gpa, p->corr);
    qemu_mutex_unlock(&s->lock);

    /* Translations already in a TLB would bypass the check: drop them. */
    CPU_FOREACH(cs) {
        async_run_on_cpu(cs, apf_flush_tlb_work, RUN_ON_CPU_NULL);
    }
}

static void apf_set_subvene(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    SpaprApfState *s = SPAPR_APF(obj);
    SpaprApfPage *p;
    uint64_t corr;
    bool irq;

    if (!visit_type_uint64(v, name, &corr, errp)) {
        return;
    }
    qemu_mutex_lock(&s->lock);
    p = corr && corr <= UINT16_MAX ? apf_find_corr(s, corr) : NULL;
    if (!p) {
        qemu_mutex_unlock(&s->lock);
        error_setg(errp, "no expropriated page has correlation number %"
                   PRIu64, corr);
        return;
    }
    irq = apf_subvene_locked(s, p);
    qemu_mutex_unlock(&s->lock);
    if (irq) {
        apf_raise_irq();
    }
}

static bool apf_get_sov(Object *obj, Error **errp)
{
    return SPAPR_APF(obj)->subvene_on_delivery;
}

static void apf_set_sov(Object *obj, bool value, Error **errp)
{
    SpaprApfState *s = SPAPR_APF(obj);

    qemu_mutex_lock(&s->lock);
    s->subvene_on_delivery = value;
    qemu_mutex_unlock(&s->lock);
}

static void apf_get_inject_full(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    SpaprApfState *s = SPAPR_APF(obj);
    uint32_t n;

    qemu_mutex_lock(&s->lock);
    n = s->inject_sns_full;
    qemu_mutex_unlock(&s->lock);
    visit_type_uint32(v, name, &n, errp);
}

static void apf_set_inject_full(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    SpaprApfState *s = SPAPR_APF(obj);
    uint32_t n;

    if (!visit_type_uint32(v, name, &n, errp)) {
        return;
    }
    qemu_mutex_lock(&s->lock);
    s->inject_sns_full = n;
    qemu_mutex_unlock(&s->lock);
}

/*
 * qtest runs no vCPU: make the first vCPU's data access to a guest-physical
 * address reach the expropriation check, as its TLB fill under MSR[DR]=1
 * does. The DSI itself is not raised (no vCPU runs); the VPA bytes, the
 * page's state and the counters are what a real access leaves.
 */
static void apf_set_data_access(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    uint64_t gpa;

    if (!visit_type_uint64(v, name, &gpa, errp)) {
        return;
    }
    if (!first_cpu) {
        error_setg(errp, "no vCPU to make the access on");
        return;
    }
    if (spapr_apf != SPAPR_APF(obj)) {
        error_setg(errp, "spapr-apf is not realized");
        return;
    }
    spapr_apf_data_access(NULL, POWERPC_CPU(first_cpu), gpa, true);
}

static bool apf_get_registered(Object *obj, Error **errp)
{
    return SPAPR_APF(obj)->sns_registered;
}

static void apf_get_pending(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    uint32_t n = qatomic_read(&SPAPR_APF(obj)->nr_pages);

    visit_type_uint32(v, name, &n, errp);
}

static void spapr_apf_reset(void *opaque)
{
    SpaprApfState *s = opaque;

    qemu_mutex_lock(&s->lock);
    memset(s->pages, 0, sizeof(s->pages));
    qatomic_set(&s->nr_pages, 0);
    s->sns_registered = false;
    s->sns_addr = 0;
    s->sns_len = 0;
    s->sns_next = 0;
    qemu_mutex_unlock(&s->lock);
}

static void spapr_apf_realize(DeviceState *dev, Error **errp)
{
    SpaprApfState *s = SPAPR_APF(dev);
    MachineState *machine = MACHINE(qdev_get_machine());

    if (!object_dynamic_cast(OBJECT(machine), TYPE_SPAPR_MACHINE)) {
        error_setg(errp, "spapr-apf needs a pseries machine");
        return;
    }
    if (spapr_apf) {
        error_setg(errp, "only one spapr-apf device is allowed");
        return;
    }
    /* claimed for good, as the VAS fault interrupts: survives reset */
    if (spapr_irq_claim(SPAPR_MACHINE(machine), SPAPR_APF_IRQ, false,
                        errp) < 0) {
        return;
    }
    spapr_register_hypercall(H_REG_SNS, h_reg_sns);
    qemu_register_reset(spapr_apf_reset, s);
    spapr_apf = s;
}

static void spapr_apf_instance_init(Object *obj)
{
    SpaprApfState *s = SPAPR_APF(obj);

    qemu_mutex_init(&s->lock);
    object_property_add(obj, "expropriate", "uint64", NULL,
                        apf_set_expropriate, NULL, NULL);
    object_property_set_description(obj, "expropriate",
        "Expropriate the 4 KiB guest page holding this guest-physical address");
    object_property_add(obj, "subvene", "uint64", NULL,
                        apf_set_subvene, NULL, NULL);
    object_property_set_description(obj, "subvene",
        "Subvene the page with this correlation number");
    object_property_add_bool(obj, "subvene-on-delivery", apf_get_sov,
                             apf_set_sov);
    object_property_add(obj, "x-inject-sns-full", "uint32",
                        apf_get_inject_full, apf_set_inject_full, NULL, NULL);
    object_property_set_description(obj, "x-inject-sns-full",
        "Test only: the next N notifications find the SNS event queue full "
        "(number dropped, overflow bit set, interrupt raised)");
    object_property_add(obj, "x-data-access", "uint64", NULL,
                        apf_set_data_access, NULL, NULL);
    object_property_set_description(obj, "x-data-access",
        "Test only (qtest): the first vCPU's data access to this "
        "guest-physical address reaches the expropriation check");
    object_property_add_bool(obj, "sns-registered", apf_get_registered, NULL);
    object_property_add(obj, "pending", "uint32", apf_get_pending, NULL,
                        NULL, NULL);
    object_property_add_uint64_ptr(obj, "sns-addr", &s->sns_addr,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "last-correlation", &s->last_corr,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "expropriations",
                                   &s->nr_expropriations, OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "apf-faults-delivered", &s->nr_faults,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "sync-accesses", &s->nr_sync,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "subventions", &s->nr_subventions,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "notifications",
                                   &s->nr_notifications, OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "sns-overflows", &s->nr_overflows,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "hcall-errors", &s->nr_hcall_errors,
                                   OBJ_PROP_FLAG_READ);
}

static void spapr_apf_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->desc = "pseries asynchronous page faults (faultlab)";
    dc->realize = spapr_apf_realize;
    /* the hcall is registered for good; no migration of the model state */
    dc->hotpluggable = false;
    dc->user_creatable = true;
}

static const TypeInfo spapr_apf_info = {
    .name = TYPE_SPAPR_APF,
    .parent = TYPE_DEVICE,
    .instance_size = sizeof(SpaprApfState),
    .instance_init = spapr_apf_instance_init,
    .class_init = spapr_apf_class_init,
};

static void spapr_apf_register_types(void)
{
    type_register_static(&spapr_apf_info);
}

type_init(spapr_apf_register_types)
