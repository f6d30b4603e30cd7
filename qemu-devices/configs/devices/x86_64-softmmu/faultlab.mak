# faultlab: the lean x86_64 device set (configure --without-default-devices
# --with-devices-x86_64=faultlab): q35 with VT-d and virtio-net, nothing else.
CONFIG_Q35=y
CONFIG_VTD=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
