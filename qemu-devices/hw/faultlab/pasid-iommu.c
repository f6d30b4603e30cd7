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

    if (!as || !as->root) {
        return NULL;
    }
    root = OBJECT(as->root);
    if (!object_dynamic_cast(root, TYPE_FAULTLAB_PASID_IOMMU)) {
        return NULL;
    }
    return FAULTLAB_PASID_IOMMU(root);
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
