/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab PASID IOMMU interface: see pasid-iommu.h.
 */
#include "qemu/osdep.h"
#include "exec/memory.h"
#include "hw/faultlab/pasid-iommu.h"

FaultlabPasidIommu *faultlab_pasid_iommu_of(AddressSpace *as)
{
    Object *root;
    MemoryRegion *sub;

    if (!as || !as->root) {
        return NULL;
    }
    root = OBJECT(as->root);
    if (object_dynamic_cast(root, TYPE_FAULTLAB_PASID_IOMMU)) {
        return FAULTLAB_PASID_IOMMU(root);
    }
    /*
     * VT-d puts its IOMMU region in a container and disables it while
     * translation is off or the device's RID2PASID entry is pass-through;
     * PASID-tagged requests still go to the IOMMU, whose translate() knows
     * these cases: the region is returned whether it is enabled or not.
     */
    QTAILQ_FOREACH(sub, &as->root->subregions, subregions_link) {
        if (object_dynamic_cast(OBJECT(sub), TYPE_FAULTLAB_PASID_IOMMU)) {
            return FAULTLAB_PASID_IOMMU(sub);
        }
    }
    return NULL;
}

static const TypeInfo faultlab_pasid_iommu_info = {
    .name = TYPE_FAULTLAB_PASID_IOMMU,
    .parent = TYPE_INTERFACE,
    .class_size = sizeof(FaultlabPasidIommuClass),
};

static void faultlab_pasid_iommu_register_types(void)
{
    type_register_static(&faultlab_pasid_iommu_info);
}

type_init(faultlab_pasid_iommu_register_types)
