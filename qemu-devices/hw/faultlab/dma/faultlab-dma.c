/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab-dma: a PCI Express DMA test engine (1234:fa01) with PASID-tagged
 * DMA that stalls through the faultlab PASID IOMMU interface. This file has
 * the PCI function, the registers, the interrupt and the QOM glue; the
 * engine is in faultlab-dma-engine.c. Interface:
 * qemu-devices/docs/faultlab-dma.md.
 *
 * The PCIe, PASID, ATS and PRI capabilities Linux 6.12 needs are those of
 * hw/faultlab/pci-pasid.h, without PASID Privileged Mode (Linux uses none
 * for SVA). The engine keeps no page request: PRI reads Stopped whenever
 * it is disabled.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msi.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "faultlab-dma.h"
#include "hw/faultlab/trace.h"

#define FAULTLAB_DMA_VENDOR_ID  0x1234
#define FAULTLAB_DMA_DEVICE_ID  0xfa01
#define FAULTLAB_DMA_CLASS      0x0880
#define FAULTLAB_DMA_PRI_MAX_REQ  256

/* Interrupts */

static void fdma_update_intx(FaultlabDmaState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool level = (s->irq_status & s->irq_mask) != 0;

    pci_set_irq(pdev, level && !msi_enabled(pdev));
}

/* Channels whose bits are in @bits finished or were unmasked. */
static void fdma_signal(FaultlabDmaState *s, uint64_t bits)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (msi_enabled(pdev) && (bits & s->irq_status & s->irq_mask)) {
        msi_notify(pdev, 0);
    }
    fdma_update_intx(s);
}

void faultlab_dma_irq_event(FaultlabDmaState *s, uint32_t index)
{
    s->irq_status |= BIT_ULL(index);
    trace_faultlab_dma_irq(index, s->irq_status, s->irq_mask,
                           msi_enabled(PCI_DEVICE(s)));
    fdma_signal(s, BIT_ULL(index));
}

/* Registers */

static uint64_t fdma_chan_mask(FaultlabDmaState *s)
{
    return MAKE_64BIT_MASK(0, s->nchan);
}

static bool fdma_decode_chan(FaultlabDmaState *s, hwaddr addr,
                             FaultlabDmaChan **c, hwaddr *off)
{
    uint32_t idx = (addr - FAULTLAB_DMA_CHAN_BASE) / FAULTLAB_DMA_CHAN_STRIDE;

    if (idx >= s->nchan) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: access at 0x%" HWADDR_PRIx
                      ": channel %u does not exist (NCHAN %u)\n",
                      TYPE_FAULTLAB_DMA, addr, idx, s->nchan);
        return false;
    }
    *c = &s->chan[idx];
    *off = (addr - FAULTLAB_DMA_CHAN_BASE) % FAULTLAB_DMA_CHAN_STRIDE;
    return true;
}

static uint64_t fdma_read64(FaultlabDmaState *s, hwaddr addr)
{
    FaultlabDmaChan *c;
    hwaddr off;

    if (addr < FAULTLAB_DMA_CHAN_BASE) {
        switch (addr) {
        case A_ID:
            return FAULTLAB_DMA_ID_VALUE;
        case A_NCHAN:
            return s->nchan;
        case A_IRQ_STATUS:
            return s->irq_status;
        case A_IRQ_MASK:
            return s->irq_mask;
        default:
            qemu_log_mask(LOG_GUEST_ERROR, "%s: read of unknown register 0x%"
                          HWADDR_PRIx "\n", TYPE_FAULTLAB_DMA, addr);
            return 0;
        }
    }
    if (!fdma_decode_chan(s, addr, &c, &off)) {
        return 0;
    }
    switch (off) {
    case A_CH_PASID:
        return c->pasid;
    case A_CH_SRC:
        return c->src;
    case A_CH_DST:
        return c->dst;
    case A_CH_LEN:
        return c->len;
    case A_CH_PATTERN:
        return c->pattern;
    case A_CH_STATUS:
        return c->status;
    case A_CH_BYTES_DONE:
        return c->bytes_done;
    case A_CH_FAULT_ADDR:
        return c->fault_addr;
    case A_CH_STALLS:
        return c->stalls;
    case A_CH_RESULT:
        return c->result;
    case A_CH_CMD:
    case A_CH_ABORT:
        return 0;       /* write-only */
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "%s: read of unknown channel %u "
                      "register 0x%" HWADDR_PRIx "\n", TYPE_FAULTLAB_DMA,
                      c->index, off);
        return 0;
    }
}

static uint64_t fdma_read(void *opaque, hwaddr addr, unsigned size)
{
    FaultlabDmaState *s = opaque;
    uint64_t val = fdma_read64(s, addr & ~7ULL);

    if (size == 4) {
        val = extract64(val, (addr & 4) * 8, 32);
    }
    trace_faultlab_dma_read(addr, size, val);
    return val;
}

/* Merge the written bits (@mask) of @val into @reg. */
static void fdma_merge(uint64_t *reg, uint64_t val, uint64_t mask)
{
    *reg = (*reg & ~mask) | (val & mask);
}

static void fdma_write_ro(hwaddr addr)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: write to read-only register 0x%"
                  HWADDR_PRIx " ignored\n", TYPE_FAULTLAB_DMA, addr);
}

/* A write of the bits @mask of @val to the 64-bit register at @addr. */
static void fdma_write64(FaultlabDmaState *s, hwaddr addr, uint64_t val,
                         uint64_t mask)
{
    FaultlabDmaChan *c;
    hwaddr off;
    uint64_t old;

    if (addr < FAULTLAB_DMA_CHAN_BASE) {
        switch (addr) {
        case A_IRQ_STATUS:
            s->irq_status &= ~(val & mask);
            fdma_update_intx(s);
            break;
        case A_IRQ_MASK:
            old = s->irq_mask;
            fdma_merge(&s->irq_mask, val, mask & fdma_chan_mask(s));
            fdma_signal(s, s->irq_mask & ~old);
            break;
        case A_ID:
        case A_NCHAN:
            fdma_write_ro(addr);
            break;
        default:
            qemu_log_mask(LOG_GUEST_ERROR, "%s: write to unknown register 0x%"
                          HWADDR_PRIx "\n", TYPE_FAULTLAB_DMA, addr);
            break;
        }
        return;
    }
    if (!fdma_decode_chan(s, addr, &c, &off)) {
        return;
    }
    switch (off) {
    case A_CH_PASID:
        fdma_merge(&c->pasid, val, mask & FAULTLAB_DMA_PASID_MASK);
        break;
    case A_CH_SRC:
        fdma_merge(&c->src, val, mask);
        break;
    case A_CH_DST:
        fdma_merge(&c->dst, val, mask);
        break;
    case A_CH_LEN:
        fdma_merge(&c->len, val, mask);
        break;
    case A_CH_PATTERN:
        fdma_merge(&c->pattern, val, mask);
        break;
    case A_CH_CMD:
        if (mask & R_CH_CMD_OP_MASK) {
            faultlab_dma_cmd(c, val & mask);
        }
        break;
    case A_CH_ABORT:
        if (val & mask & R_CH_ABORT_ABORT_MASK) {
            faultlab_dma_cancel(c);
        }
        break;
    case A_CH_STATUS:
    case A_CH_BYTES_DONE:
    case A_CH_FAULT_ADDR:
    case A_CH_STALLS:
    case A_CH_RESULT:
        fdma_write_ro(addr);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "%s: write to unknown channel %u "
                      "register 0x%" HWADDR_PRIx "\n", TYPE_FAULTLAB_DMA,
                      c->index, off);
        break;
    }
}

static void fdma_write(void *opaque, hwaddr addr, uint64_t val,
                       unsigned size)
{
    FaultlabDmaState *s = opaque;
    unsigned shift = size == 4 ? (addr & 4) * 8 : 0;
    uint64_t mask = size == 4 ? MAKE_64BIT_MASK(shift, 32) : UINT64_MAX;

    trace_faultlab_dma_write(addr, size, val);
    fdma_write64(s, addr & ~7ULL, val << shift, mask);
}

static const MemoryRegionOps fdma_mmio_ops = {
    .read = fdma_read,
    .write = fdma_write,
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

static void fdma_write_config(PCIDevice *pdev, uint32_t addr, uint32_t val,
                              int len)
{
    FaultlabDmaState *s = FAULTLAB_DMA(pdev);

    faultlab_pci_pasid_write_config(&s->pci_pasid, pdev, addr, val, len,
                                    false);
    /* MSI enable may have changed: move the interrupt to the right wire. */
    fdma_update_intx(s);
}

static void fdma_realize(PCIDevice *pdev, Error **errp)
{
    FaultlabDmaState *s = FAULTLAB_DMA(pdev);
    Error *err = NULL;
    int ret;
    uint32_t i;

    if (s->nchan < 1 || s->nchan > FAULTLAB_DMA_MAX_CHANNELS) {
        error_setg(errp, "%s: channels must be 1..%d", TYPE_FAULTLAB_DMA,
                   FAULTLAB_DMA_MAX_CHANNELS);
        return;
    }
    if (s->pasid_bits < 1 || s->pasid_bits > FAULTLAB_DMA_MAX_PASID_BITS) {
        error_setg(errp, "%s: pasid-bits must be 1..%d", TYPE_FAULTLAB_DMA,
                   FAULTLAB_DMA_MAX_PASID_BITS);
        return;
    }

    pci_config_set_interrupt_pin(pdev->config, 1);

    if (!faultlab_pci_pasid_realize(&s->pci_pasid, pdev, s->pasid_bits,
                                    false, s->ats_pri,
                                    FAULTLAB_DMA_PRI_MAX_REQ, errp)) {
        return;
    }
    ret = msi_init(pdev, 0, 1, true, false, &err);
    if (ret == -ENOTSUP) {
        /* The platform has no working MSI: INTx only. */
        error_free(err);
    } else if (ret < 0) {
        error_propagate(errp, err);
        return;
    }

    memory_region_init_io(&s->mmio, OBJECT(s), &fdma_mmio_ops, s,
                          "faultlab-dma-mmio", FAULTLAB_DMA_BAR_SIZE);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->mmio);

    s->bh = qemu_bh_new_guarded(faultlab_dma_run, s,
                                &DEVICE(pdev)->mem_reentrancy_guard);
    timer_init_ns(&s->slice_timer, QEMU_CLOCK_VIRTUAL,
                  faultlab_dma_slice_timer, s);
    s->vmstate_entry = qemu_add_vm_change_state_handler(faultlab_dma_vm_state,
                                                        s);
    for (i = 0; i < FAULTLAB_DMA_MAX_CHANNELS; i++) {
        s->chan[i].s = s;
        s->chan[i].index = i;
    }
}

static void fdma_exit(PCIDevice *pdev)
{
    FaultlabDmaState *s = FAULTLAB_DMA(pdev);
    uint32_t i;

    for (i = 0; i < s->nchan; i++) {
        faultlab_dma_chan_reset(&s->chan[i]);
    }
    qemu_del_vm_change_state_handler(s->vmstate_entry);
    timer_del(&s->slice_timer);
    qemu_bh_delete(s->bh);
    s->bh = NULL;
    msi_uninit(pdev);
    pcie_cap_exit(pdev);
}

static void fdma_reset_hold(Object *obj, ResetType type)
{
    FaultlabDmaState *s = FAULTLAB_DMA(obj);
    PCIDevice *pdev = PCI_DEVICE(obj);
    uint32_t i;

    for (i = 0; i < s->nchan; i++) {
        faultlab_dma_chan_reset(&s->chan[i]);
    }
    timer_del(&s->slice_timer);
    s->irq_status = 0;
    s->irq_mask = 0;
    faultlab_pci_pasid_reset(&s->pci_pasid, pdev);
    fdma_update_intx(s);
}

/*
 * Migration. The engine does no DMA while the VM is stopped. A hold in the
 * IOMMU is not migrated: a command that was STALLED resumes as RUNNING and
 * translates its access again.
 */

static int fdma_post_load(void *opaque, int version_id)
{
    FaultlabDmaState *s = opaque;
    uint32_t i;
    bool run = false;

    s->irq_status &= fdma_chan_mask(s);
    s->irq_mask &= fdma_chan_mask(s);
    for (i = 0; i < s->nchan; i++) {
        FaultlabDmaChan *c = &s->chan[i];
        uint64_t state = faultlab_dma_state(c);

        c->held = false;
        c->held_iommu = NULL;
        memset(c->xl, 0, sizeof(c->xl));
        if (state != FAULTLAB_DMA_RUNNING && state != FAULTLAB_DMA_STALLED) {
            continue;
        }
        if (c->c_len > FAULTLAB_DMA_MAX_LEN || c->pos >= c->c_len ||
            c->op < FAULTLAB_DMA_OP_COPY || c->op > FAULTLAB_DMA_OP_COMPARE) {
            return -EINVAL;
        }
        c->status = FIELD_DP64(0, CH_STATUS, STATE, FAULTLAB_DMA_RUNNING);
        c->chunk = 0;
        c->phase = 0;
        run = true;
    }
    if (run) {
        qemu_bh_schedule(s->bh);
    }
    return 0;
}

static const VMStateDescription vmstate_fdma_chan = {
    .name = "faultlab-dma/channel",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(pasid, FaultlabDmaChan),
        VMSTATE_UINT64(src, FaultlabDmaChan),
        VMSTATE_UINT64(dst, FaultlabDmaChan),
        VMSTATE_UINT64(len, FaultlabDmaChan),
        VMSTATE_UINT64(pattern, FaultlabDmaChan),
        VMSTATE_UINT64(status, FaultlabDmaChan),
        VMSTATE_UINT64(bytes_done, FaultlabDmaChan),
        VMSTATE_UINT64(fault_addr, FaultlabDmaChan),
        VMSTATE_UINT64(stalls, FaultlabDmaChan),
        VMSTATE_UINT64(result, FaultlabDmaChan),
        VMSTATE_UINT8(op, FaultlabDmaChan),
        VMSTATE_UINT64(c_pasid, FaultlabDmaChan),
        VMSTATE_UINT64(c_src, FaultlabDmaChan),
        VMSTATE_UINT64(c_dst, FaultlabDmaChan),
        VMSTATE_UINT64(c_len, FaultlabDmaChan),
        VMSTATE_UINT64(c_pattern, FaultlabDmaChan),
        VMSTATE_UINT64(pos, FaultlabDmaChan),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_fdma = {
    .name = TYPE_FAULTLAB_DMA,
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = fdma_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, FaultlabDmaState),
        VMSTATE_UINT64(irq_status, FaultlabDmaState),
        VMSTATE_UINT64(irq_mask, FaultlabDmaState),
        VMSTATE_UINT64(stalls_total, FaultlabDmaState),
        VMSTATE_UINT64(faults_total, FaultlabDmaState),
        VMSTATE_UINT32(inject_fault_next, FaultlabDmaState),
        VMSTATE_UINT32(inject_fail_retry, FaultlabDmaState),
        VMSTATE_STRUCT_ARRAY(chan, FaultlabDmaState,
                             FAULTLAB_DMA_MAX_CHANNELS, 1,
                             vmstate_fdma_chan, FaultlabDmaChan),
        VMSTATE_END_OF_LIST()
    },
};

/* QOM */

static const Property fdma_properties[] = {
    DEFINE_PROP_UINT32("channels", FaultlabDmaState, nchan, 8),
    DEFINE_PROP_UINT8("pasid-bits", FaultlabDmaState, pasid_bits, 16),
    DEFINE_PROP_BOOL("ats-pri", FaultlabDmaState, ats_pri, true),
};

static void fdma_instance_init(Object *obj)
{
    FaultlabDmaState *s = FAULTLAB_DMA(obj);

    /* Plain pointer properties: readable and writable at any time. */
    object_property_add_uint64_ptr(obj, "stalls", &s->stalls_total,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint64_ptr(obj, "faults", &s->faults_total,
                                   OBJ_PROP_FLAG_READ);
    object_property_add_uint32_ptr(obj, "x-inject-fault-next",
                                   &s->inject_fault_next,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "x-inject-fail-retry",
                                   &s->inject_fail_retry,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint64_ptr(obj, "x-slice-delay-ns",
                                   &s->slice_delay_ns,
                                   OBJ_PROP_FLAG_READWRITE);
}

static void fdma_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = fdma_realize;
    k->exit = fdma_exit;
    k->config_write = fdma_write_config;
    k->vendor_id = FAULTLAB_DMA_VENDOR_ID;
    k->device_id = FAULTLAB_DMA_DEVICE_ID;
    k->revision = 1;
    k->class_id = FAULTLAB_DMA_CLASS;
    rc->phases.hold = fdma_reset_hold;
    dc->desc = "faultlab PASID DMA test engine";
    dc->vmsd = &vmstate_fdma;
    device_class_set_props(dc, fdma_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo fdma_info = {
    .name = TYPE_FAULTLAB_DMA,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(FaultlabDmaState),
    .instance_init = fdma_instance_init,
    .class_init = fdma_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { }
    },
};

static void fdma_register_types(void)
{
    type_register_static(&fdma_info);
}

type_init(fdma_register_types)
