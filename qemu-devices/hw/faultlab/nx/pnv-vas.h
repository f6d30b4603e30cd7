/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab PowerNV (POWER9) VAS and NX: the xscom registers skiboot
 * programs, the HV and user window contexts Linux writes, paste addresses
 * per window, the fault window FIFO and its interrupt, in front of the
 * NX-GZIP engine (nx-gzip.h). See pnv-vas.c.
 */
#ifndef HW_FAULTLAB_NX_PNV_VAS_H
#define HW_FAULTLAB_NX_PNV_VAS_H

#include "qom/object.h"

#define TYPE_PNV_VAS "pnv-vas"

/* xscom bases (P9 SCOM assignment; skiboot include/vas.h, HDAT's NX unit) */
#define PNV9_XSCOM_VAS_BASE         0x3011800
#define PNV9_XSCOM_VAS_SIZE         0x100
#define PNV9_XSCOM_NX_BASE          0x2010000
#define PNV9_XSCOM_NX_SIZE          0x4000

struct PnvChip;

/*
 * Called by pnv_chip_power9_realize(): creates the chip's "vas" child
 * (VAS and NX xscom units, device-tree nodes under the chip's xscom node).
 */
bool pnv_vas_create(struct PnvChip *chip, Error **errp);

#endif /* HW_FAULTLAB_NX_PNV_VAS_H */
