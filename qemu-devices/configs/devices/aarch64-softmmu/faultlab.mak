# faultlab: the lean aarch64 device set: virt (with its SMMUv3) and virtio-net.
CONFIG_ARM_VIRT=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
# faultlab-dma, the PASID DMA test engine (a plain PCI Express device).
CONFIG_FAULTLAB_DMA=y
