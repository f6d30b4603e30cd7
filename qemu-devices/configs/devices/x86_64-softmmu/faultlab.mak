# faultlab: the lean x86_64 device set (configure --without-default-devices
# --with-devices-x86_64=faultlab): q35 with VT-d and virtio-net, nothing else.
CONFIG_Q35=y
CONFIG_VTD=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
# What virtme-ng's QEMU command line uses, for the comparison in `make bench`:
# the host root over 9p, virtio-serial ports and an i6300esb watchdog.
CONFIG_VIRTIO_9P=y
CONFIG_VIRTIO_SERIAL=y
CONFIG_WDT_IB6300ESB=y
# faultlab-dma, the PASID DMA test engine (a plain PCI Express device).
CONFIG_FAULTLAB_DMA=y
# faultlab-dsa, the Intel DSA 2.0 model (a PCI Express RC integrated endpoint).
CONFIG_FAULTLAB_DSA=y
