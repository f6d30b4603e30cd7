/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab PCIe PASID endpoint capabilities: see pci-pasid.h.
 */
#include "qemu/osdep.h"
#include "qemu/range.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/faultlab/pci-pasid.h"

static void faultlab_pci_pasid_cap_init(FaultlabPciPasid *p, PCIDevice *pdev,
                                        uint8_t pasid_bits, bool priv)
{
    uint16_t pos = FAULTLAB_PCI_PASID_OFFSET;

    /* No Execute Permission; Privileged Mode only when asked for. */
    pcie_add_capability(pdev, PCI_EXT_CAP_ID_PASID, 1, pos,
                        PCI_EXT_CAP_PASID_SIZEOF);
    pci_set_word(pdev->config + pos + PCI_PASID_CAP,
                 ((pasid_bits << 8) & PCI_PASID_CAP_WIDTH) |
                 (priv ? PCI_PASID_CAP_PRIV : 0));
    pci_set_word(pdev->config + pos + PCI_PASID_CTRL, 0);
    pci_set_word(pdev->wmask + pos + PCI_PASID_CTRL,
                 PCI_PASID_CTRL_ENABLE | (priv ? PCI_PASID_CTRL_PRIV : 0));
    p->pasid_cap = pos;
}

static void faultlab_pci_ats_pri_cap_init(FaultlabPciPasid *p,
                                          PCIDevice *pdev,
                                          uint32_t pri_max_req)
{
    uint16_t pos = FAULTLAB_PCI_PRI_OFFSET;

    pcie_ats_init(pdev, FAULTLAB_PCI_ATS_OFFSET, true);

    pcie_add_capability(pdev, PCI_EXT_CAP_ID_PRI, 1, pos,
                        PCI_EXT_CAP_PRI_SIZEOF);
    pci_set_word(pdev->config + pos + PCI_PRI_CTRL, 0);
    pci_set_word(pdev->wmask + pos + PCI_PRI_CTRL,
                 PCI_PRI_CTRL_ENABLE | PCI_PRI_CTRL_RESET);
    pci_set_word(pdev->config + pos + PCI_PRI_STATUS,
                 PCI_PRI_STATUS_STOPPED | PCI_PRI_STATUS_PASID);
    pci_set_long(pdev->config + pos + PCI_PRI_MAX_REQ, pri_max_req);
    pci_set_long(pdev->config + pos + PCI_PRI_ALLOC_REQ, 0);
    pci_set_long(pdev->wmask + pos + PCI_PRI_ALLOC_REQ, UINT32_MAX);
    p->pri_cap = pos;
}

bool faultlab_pci_pasid_realize(FaultlabPciPasid *p, PCIDevice *pdev,
                                uint8_t pasid_bits, bool priv, bool ats_pri,
                                uint32_t pri_max_req, Error **errp)
{
    if (pcie_endpoint_cap_init(pdev, 0) < 0) {
        error_setg(errp, "%s: cannot add the PCIe capability",
                   object_get_typename(OBJECT(pdev)));
        return false;
    }
    faultlab_pci_pasid_cap_init(p, pdev, pasid_bits, priv);
    p->pri_cap = 0;
    if (ats_pri) {
        faultlab_pci_ats_pri_cap_init(p, pdev, pri_max_req);
    }
    return true;
}

void faultlab_pci_pasid_reset(FaultlabPciPasid *p, PCIDevice *pdev)
{
    pci_set_word(pdev->config + p->pasid_cap + PCI_PASID_CTRL, 0);
    if (p->pri_cap) {
        pci_set_word(pdev->config + pdev->exp.ats_cap + PCI_ATS_CTRL, 0);
        pci_set_word(pdev->config + p->pri_cap + PCI_PRI_CTRL, 0);
        pci_set_long(pdev->config + p->pri_cap + PCI_PRI_ALLOC_REQ, 0);
        pci_set_word(pdev->config + p->pri_cap + PCI_PRI_STATUS,
                     PCI_PRI_STATUS_STOPPED | PCI_PRI_STATUS_PASID);
    }
}

static void faultlab_pci_pri_update(FaultlabPciPasid *p, PCIDevice *pdev,
                                    bool outstanding)
{
    uint16_t pos = p->pri_cap;
    uint16_t ctrl = pci_get_word(pdev->config + pos + PCI_PRI_CTRL);
    uint16_t status = pci_get_word(pdev->config + pos + PCI_PRI_STATUS);

    if (ctrl & PCI_PRI_CTRL_RESET) {
        /* Reset clears the error bits; it reads back as 0. */
        status &= ~(PCI_PRI_STATUS_RF | PCI_PRI_STATUS_UPRGI);
        ctrl &= ~PCI_PRI_CTRL_RESET;
        pci_set_word(pdev->config + pos + PCI_PRI_CTRL, ctrl);
    }
    /* Stopped: disabled, and no request outstanding. */
    if (!(ctrl & PCI_PRI_CTRL_ENABLE) && !outstanding) {
        status |= PCI_PRI_STATUS_STOPPED;
    } else {
        status &= ~PCI_PRI_STATUS_STOPPED;
    }
    pci_set_word(pdev->config + pos + PCI_PRI_STATUS, status);
}

void faultlab_pci_pasid_write_config(FaultlabPciPasid *p, PCIDevice *pdev,
                                     uint32_t addr, uint32_t val, int len,
                                     bool pri_outstanding)
{
    pci_default_write_config(pdev, addr, val, len);
    if (p->pri_cap && ranges_overlap(addr, len, p->pri_cap,
                                     PCI_EXT_CAP_PRI_SIZEOF)) {
        faultlab_pci_pri_update(p, pdev, pri_outstanding);
    }
}

bool faultlab_pci_pasid_pri_enabled(FaultlabPciPasid *p, PCIDevice *pdev)
{
    return p->pri_cap && (pci_get_word(pdev->config + p->pri_cap +
                                       PCI_PRI_CTRL) & PCI_PRI_CTRL_ENABLE);
}
