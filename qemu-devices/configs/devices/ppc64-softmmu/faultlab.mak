# faultlab: the lean ppc64 device set: powernv (POWER9) and pseries, virtio-net.
CONFIG_POWERNV=y
CONFIG_PSERIES=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
# POWERNV selects PCA9552/PCA9554, which depend on I2C without selecting it.
CONFIG_I2C=y
# POWERNV's ISA IPMI BT device calls build_ipmi_dev_aml(), whose stub is only
# built under CONFIG_ACPI.
CONFIG_ACPI=y
