"""faultlab: boot QEMU guests and run commands in them over SSH."""

__version__ = "0.1.0"
