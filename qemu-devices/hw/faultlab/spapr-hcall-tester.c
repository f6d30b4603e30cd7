/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab-hcall-tester: lets a test without a running CPU (qtest) make a
 * pseries hypercall exactly as a guest's "sc 1" does, so the hcalls' answers
 * to hostile arguments can be checked without a guest kernel.
 *
 *   -device faultlab-hcall-tester,id=hc
 *   qom-set /machine/peripheral/hc call "OPCODE [ARG...]"     (up to 9 arguments, r4..r12)
 *   qom-get /machine/peripheral/hc result    "RET R4 R5 ... R12" in hex, after the call
 *
 * The call runs on the first vCPU with the BQL held, like the TCG path
 * (emulate_spapr_hypercall); the hcalls themselves validate what they are
 * given, the tester adds nothing.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "hw/qdev-core.h"
#include "hw/core/cpu.h"
#include "hw/ppc/spapr.h"

#define TYPE_FAULTLAB_HCALL_TESTER "faultlab-hcall-tester"
OBJECT_DECLARE_SIMPLE_TYPE(FaultlabHcallTester, FAULTLAB_HCALL_TESTER)

#define HCALL_TESTER_ARGS 9

struct FaultlabHcallTester {
    DeviceState parent_obj;
    char *result;
};

static void hcall_tester_set_call(Object *obj, const char *value, Error **errp)
{
    FaultlabHcallTester *t = FAULTLAB_HCALL_TESTER(obj);
    g_auto(GStrv) words = g_strsplit_set(value, " \t", -1);
    guint n = g_strv_length(words);
    target_ulong args[HCALL_TESTER_ARGS] = { 0 };
    uint64_t opcode, v;
    target_ulong ret;
    GString *out;

    if (!object_dynamic_cast(qdev_get_machine(), TYPE_SPAPR_MACHINE)) {
        error_setg(errp, "hypercalls need a pseries machine");
        return;
    }
    if (!first_cpu) {
        error_setg(errp, "no vCPU to make the call on");
        return;
    }
    if (n < 1 || n > 1 + HCALL_TESTER_ARGS ||
        qemu_strtou64(words[0], NULL, 0, &opcode)) {
        error_setg(errp, "expected \"OPCODE [ARG...]\" with up to %d "
                   "arguments", HCALL_TESTER_ARGS);
        return;
    }
    for (guint i = 1; i < n; i++) {
        if (qemu_strtou64(words[i], NULL, 0, &v)) {
            error_setg(errp, "bad argument '%s'", words[i]);
            return;
        }
        args[i - 1] = v;
    }
    ret = spapr_hypercall(POWERPC_CPU(first_cpu), opcode, args);
    out = g_string_new(NULL);
    g_string_append_printf(out, "0x" TARGET_FMT_lx, ret);
    for (int i = 0; i < HCALL_TESTER_ARGS; i++) {
        g_string_append_printf(out, " 0x" TARGET_FMT_lx, args[i]);
    }
    g_free(t->result);
    t->result = g_string_free(out, false);
}

static char *hcall_tester_get_result(Object *obj, Error **errp)
{
    FaultlabHcallTester *t = FAULTLAB_HCALL_TESTER(obj);

    return g_strdup(t->result ? t->result : "");
}

static void hcall_tester_finalize(Object *obj)
{
    g_free(FAULTLAB_HCALL_TESTER(obj)->result);
}

static void hcall_tester_class_init(ObjectClass *oc, void *data)
{
    object_class_property_add_str(oc, "call", NULL, hcall_tester_set_call);
    object_class_property_set_description(oc, "call",
        "OPCODE [ARG...]: make the hypercall on the first vCPU");
    object_class_property_add_str(oc, "result", hcall_tester_get_result,
                                  NULL);
}

static const TypeInfo faultlab_hcall_tester_info = {
    .name = TYPE_FAULTLAB_HCALL_TESTER,
    .parent = TYPE_DEVICE,
    .instance_size = sizeof(FaultlabHcallTester),
    .instance_finalize = hcall_tester_finalize,
    .class_init = hcall_tester_class_init,
};

static void faultlab_hcall_tester_register_types(void)
{
    type_register_static(&faultlab_hcall_tester_info);
}

type_init(faultlab_hcall_tester_register_types)
