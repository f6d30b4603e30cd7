/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab portals: CPU stores that reach a device as one unit.
 * See portal.h.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "exec/memory.h"
#include "hw/faultlab/portal.h"
#include "trace.h"

FaultlabPortalAnswer faultlab_portal_store(AddressSpace *as, hwaddr addr,
                                           FaultlabStore *st)
{
    FaultlabPortalAnswer answer = FAULTLAB_PORTAL_NONE;
    hwaddr xlat, len = st->len;
    MemoryRegion *mr;
    Object *owner;
    bool take_bql = !bql_locked();

    if (take_bql) {
        bql_lock();
    }
    WITH_RCU_READ_LOCK_GUARD() {
        mr = address_space_translate(as, addr, &xlat, &len, true, st->attrs);
        owner = memory_region_owner(mr);
        if (len >= st->len && owner &&
            object_dynamic_cast(owner, TYPE_FAULTLAB_PORTAL)) {
            st->mr = mr;
            st->offset = xlat;
            answer = FAULTLAB_PORTAL_GET_CLASS(owner)->store(
                FAULTLAB_PORTAL(owner), st);
        }
    }
    if (take_bql) {
        bql_unlock();
    }
    trace_faultlab_portal_store(st->kind, addr, st->len, st->pasid, answer);
    return answer;
}

static uint64_t faultlab_portal_mmio_read(void *opaque, hwaddr addr,
                                          unsigned size)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: load from paste address "
                  "offset 0x%" HWADDR_PRIx "\n",
                  object_get_typename(OBJECT(opaque)), addr);
    return 0;
}

static void faultlab_portal_mmio_write(void *opaque, hwaddr addr,
                                       uint64_t val, unsigned size)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: ordinary store to paste "
                  "address offset 0x%" HWADDR_PRIx " ignored\n",
                  object_get_typename(OBJECT(opaque)), addr);
}

/* Loads read 0 and stores are dropped, so byte order does not matter. */
const MemoryRegionOps faultlab_portal_mmio_ops = {
    .read = faultlab_portal_mmio_read,
    .write = faultlab_portal_mmio_write,
    .endianness = DEVICE_BIG_ENDIAN,
    .valid.min_access_size = 1,
    .valid.max_access_size = 8,
};

static const TypeInfo faultlab_portal_info = {
    .name = TYPE_FAULTLAB_PORTAL,
    .parent = TYPE_INTERFACE,
    .class_size = sizeof(FaultlabPortalClass),
};

static void faultlab_portal_register_types(void)
{
    type_register_static(&faultlab_portal_info);
}

type_init(faultlab_portal_register_types)
