/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab pseries VAS/NX front end: the PowerVM hcalls of the Virtual
 * Accelerator Switchboard (H_QUERY_VAS_CAPABILITIES, H_QUERY_NX_CAPABILITIES,
 * H_ALLOCATE/MODIFY/DEALLOCATE_VAS_WINDOW, H_GET_NX_FAULT), per-window paste
 * addresses and fault interrupts, in front of the NX-GZIP engine (nx-gzip.h).
 * See spapr-vas.c.
 */
#ifndef HW_FAULTLAB_NX_SPAPR_VAS_H
#define HW_FAULTLAB_NX_SPAPR_VAS_H

#include "qom/object.h"

#define TYPE_SPAPR_VAS "spapr-vas"

/* PAPR hcall numbers (Linux arch/powerpc/include/asm/hvcall.h). */
#define H_ALLOCATE_VAS_WINDOW       0x388
#define H_MODIFY_VAS_WINDOW         0x38C
#define H_DEALLOCATE_VAS_WINDOW     0x390
#define H_QUERY_VAS_WINDOW          0x394
#define H_QUERY_VAS_CAPABILITIES    0x398
#define H_QUERY_NX_CAPABILITIES     0x39C
#define H_GET_NX_FAULT              0x3A0

struct SpaprMachineState;

/*
 * Called by spapr_build_fdt(): adds /ibm,platform-facilities with the
 * ibm,compression-v1 node when a spapr-vas device exists, nothing otherwise.
 */
void spapr_vas_dt_populate(struct SpaprMachineState *spapr, void *fdt);

#endif /* HW_FAULTLAB_NX_SPAPR_VAS_H */
