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
#include "exec/address-spaces.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/cutils.h"
#include "hw/qdev-core.h"
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

/*
 * faultlab-portal-tester: lets a test without a running CPU (qtest) hand a
 * block to a portal exactly as the TCG helpers do.
 *
 *   -device faultlab-portal-tester,id=pt
 *   qom-set /machine/peripheral/pt store "KIND ADDR HEX [PASID [priv]]"
 *   qom-get /machine/peripheral/pt answer        (0 none, 1 accepted, 2 retry)
 *
 * KIND is movdir64b, enqcmd, enqcmds or paste; ADDR a system-memory
 * physical address; HEX the block, 64 or 128 bytes as 128 or 256 hex
 * digits. It only ever calls faultlab_portal_store(), so it is as safe as a
 * guest issuing the same instruction.
 */
#define TYPE_FAULTLAB_PORTAL_TESTER "faultlab-portal-tester"
OBJECT_DECLARE_SIMPLE_TYPE(FaultlabPortalTester, FAULTLAB_PORTAL_TESTER)

struct FaultlabPortalTester {
    DeviceState parent_obj;
    int64_t answer;             /* -1 before the first store */
};

static bool portal_tester_kind(const char *word, FaultlabStoreKind *kind)
{
    static const struct {
        const char *name;
        FaultlabStoreKind kind;
    } kinds[] = {
        { "movdir64b", FAULTLAB_STORE_MOVDIR64B },
        { "enqcmd", FAULTLAB_STORE_ENQCMD },
        { "enqcmds", FAULTLAB_STORE_ENQCMDS },
        { "paste", FAULTLAB_STORE_PASTE },
    };

    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!strcmp(word, kinds[i].name)) {
            *kind = kinds[i].kind;
            return true;
        }
    }
    return false;
}

static void portal_tester_set_store(Object *obj, const char *value,
                                    Error **errp)
{
    FaultlabPortalTester *t = FAULTLAB_PORTAL_TESTER(obj);
    g_auto(GStrv) words = g_strsplit_set(value, " \t", -1);
    guint n = g_strv_length(words);
    FaultlabStore st = { .attrs = MEMTXATTRS_UNSPECIFIED };
    uint8_t block[128];
    uint64_t addr, pasid = 0;
    size_t hexlen;

    if (n < 3 || n > 5 || !portal_tester_kind(words[0], &st.kind)) {
        error_setg(errp, "expected \"KIND ADDR HEX [PASID [priv]]\" with KIND "
                   "movdir64b, enqcmd, enqcmds or paste");
        return;
    }
    if (qemu_strtou64(words[1], NULL, 0, &addr)) {
        error_setg(errp, "bad address '%s'", words[1]);
        return;
    }
    hexlen = strlen(words[2]);
    st.len = st.kind == FAULTLAB_STORE_PASTE ? 128 : 64;
    if (hexlen != st.len * 2) {
        error_setg(errp, "a %s block is %u bytes (%u hex digits), got %zu "
                   "digits", words[0], st.len, st.len * 2, hexlen);
        return;
    }
    for (unsigned i = 0; i < st.len; i++) {
        char byte[3] = { words[2][2 * i], words[2][2 * i + 1], 0 };
        unsigned long v;

        if (!g_ascii_isxdigit(byte[0]) || !g_ascii_isxdigit(byte[1])) {
            error_setg(errp, "bad hex digit in the block at %u", 2 * i);
            return;
        }
        v = strtoul(byte, NULL, 16);
        block[i] = v;
    }
    if (n >= 4 && (qemu_strtou64(words[3], NULL, 0, &pasid) ||
                   pasid > 0xfffff)) {
        error_setg(errp, "bad PASID '%s' (20 bits)", words[3]);
        return;
    }
    if (n == 5 && strcmp(words[4], "priv")) {
        error_setg(errp, "the fifth word can only be 'priv'");
        return;
    }
    st.data = block;
    st.pasid = pasid;
    st.priv = n == 5;
    t->answer = faultlab_portal_store(&address_space_memory, addr, &st);
}

static void portal_tester_get_answer(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    visit_type_int64(v, name, &FAULTLAB_PORTAL_TESTER(obj)->answer, errp);
}

static void portal_tester_init(Object *obj)
{
    FAULTLAB_PORTAL_TESTER(obj)->answer = -1;
}

static void portal_tester_class_init(ObjectClass *oc, void *data)
{
    object_class_property_add_str(oc, "store", NULL, portal_tester_set_store);
    object_class_property_set_description(oc, "store",
        "KIND ADDR HEX [PASID [priv]]: hand the block to the portal at ADDR");
    object_class_property_add(oc, "answer", "int", portal_tester_get_answer,
                              NULL, NULL, NULL);
}

static const TypeInfo faultlab_portal_tester_info = {
    .name = TYPE_FAULTLAB_PORTAL_TESTER,
    .parent = TYPE_DEVICE,
    .instance_size = sizeof(FaultlabPortalTester),
    .instance_init = portal_tester_init,
    .class_init = portal_tester_class_init,
};

static const TypeInfo faultlab_portal_info = {
    .name = TYPE_FAULTLAB_PORTAL,
    .parent = TYPE_INTERFACE,
    .class_size = sizeof(FaultlabPortalClass),
};

static void faultlab_portal_register_types(void)
{
    type_register_static(&faultlab_portal_info);
    type_register_static(&faultlab_portal_tester_info);
}

type_init(faultlab_portal_register_types)
