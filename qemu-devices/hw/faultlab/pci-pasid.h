/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab PCIe PASID endpoint: the PCI Express capabilities of a faultlab
 * device that does PASID-tagged DMA through the PASID IOMMU interface
 * (pasid-iommu.h), as Linux 6.12 needs them (faultlab-dma, faultlab-dsa).
 *
 * Before pci_enable_pasid() succeeds:
 *  - a PCIe capability with DEVCAP2.EETLPP (End-End TLP Prefix Supported,
 *    set by pcie_cap_init) on an RC integrated endpoint, which QEMU makes of
 *    a PCIe device on a root bus (pci_configure_eetlp_prefix);
 *  - the PASID extended capability (at 0x100), with Privileged Mode if the
 *    device asks for it;
 *  - single function, no ACS capability: pci_acs_enabled() is then true
 *    for an RC integrated endpoint, so pci_acs_path_enabled() holds.
 * And, optionally, for I/O page faults (intel_iommu_enable_iopf,
 * pci_enable_pri):
 *  - an ATS capability with Page Aligned Request (otherwise Linux never
 *    enables ATS); the devices cache no translation, so invalidation
 *    requests have nothing to invalidate;
 *  - a PRI capability reading Stopped while disabled with no request
 *    outstanding, and "PRG Response PASID Required". The IOMMU reads its
 *    Enable bit before it turns a fault into a page request; the device
 *    keeps its page requests itself and says when it has some outstanding.
 */
#ifndef HW_FAULTLAB_PCI_PASID_H
#define HW_FAULTLAB_PCI_PASID_H

#include "hw/pci/pci_device.h"

/* Extended capability layout: PASID, then ATS, then PRI. */
#define FAULTLAB_PCI_PASID_OFFSET   PCI_CONFIG_SPACE_SIZE
#define FAULTLAB_PCI_ATS_OFFSET     (FAULTLAB_PCI_PASID_OFFSET + \
                                     PCI_EXT_CAP_PASID_SIZEOF)
#define FAULTLAB_PCI_PRI_OFFSET     (FAULTLAB_PCI_ATS_OFFSET + \
                                     PCI_EXT_CAP_ATS_SIZEOF)

typedef struct FaultlabPciPasid {
    uint16_t pasid_cap;         /* config space offset of the PASID cap */
    uint16_t pri_cap;           /* config space offset of the PRI cap, or 0 */
} FaultlabPciPasid;

/*
 * Add the PCIe capability and the PASID extended capability (@pasid_bits
 * wide; with Privileged Mode when @priv) to @pdev, and ATS and PRI (with
 * @pri_max_req outstanding page requests) when @ats_pri. Call it from
 * realize, before the other capabilities of standard config space: the
 * PCIe capability is the first in the list.
 */
bool faultlab_pci_pasid_realize(FaultlabPciPasid *p, PCIDevice *pdev,
                                uint8_t pasid_bits, bool priv, bool ats_pri,
                                uint32_t pri_max_req, Error **errp);

/* Device reset: PASID, ATS and PRI disabled, PRI Stopped. */
void faultlab_pci_pasid_reset(FaultlabPciPasid *p, PCIDevice *pdev);

/*
 * A config space write (the device's config_write): the default write,
 * then the PRI Reset bit and the Stopped status. @pri_outstanding: the
 * device has page requests outstanding (PRI does not read Stopped then).
 */
void faultlab_pci_pasid_write_config(FaultlabPciPasid *p, PCIDevice *pdev,
                                     uint32_t addr, uint32_t val, int len,
                                     bool pri_outstanding);

/* PRI is present and enabled: the device may make page requests. */
bool faultlab_pci_pasid_pri_enabled(FaultlabPciPasid *p, PCIDevice *pdev);

#endif
