/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab pseries asynchronous page faults: the PAPR Expropriation/
 * Subvention Notification option (H_REG_SNS, the VPA expropriation bytes,
 * the expropriation DSI and the subvention interrupt). See spapr-apf.c and
 * qemu-devices/docs/spapr-apf.md.
 */
#ifndef HW_FAULTLAB_APF_SPAPR_APF_H
#define HW_FAULTLAB_APF_SPAPR_APF_H

#include "exec/hwaddr.h"
#include "target/ppc/cpu.h"

#define TYPE_SPAPR_APF "spapr-apf"

/* PAPR hcall number of H_REG_SNS (as in PAPR's hcall table). */
#define H_REG_SNS                   0x2F8

/*
 * The vhyp data_access_expropriated hook of the pseries machine: true when
 * the data access to @raddr by @cpu must become an expropriation DSI.
 * False when no spapr-apf device exists.
 */
bool spapr_apf_data_access(PPCVirtualHypervisor *vhyp, PowerPCCPU *cpu,
                           hwaddr raddr, bool is_user);

#endif /* HW_FAULTLAB_APF_SPAPR_APF_H */
