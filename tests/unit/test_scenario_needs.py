"""Scenario and platform needs: declared, consistent with the variant, and real (the modules,
patches and variants they name exist for the platform's arch)."""

from __future__ import annotations

import re

import pytest

from faultlab import kernel_patches, paths
from faultlab.needs import Needs
from faultlab.platforms import PLATFORMS, get_platform
from faultlab.scenario import Scenario, ScenarioContext, load_scenarios

pytestmark = pytest.mark.unit

SCENARIOS = load_scenarios()
_GUEST_MODULE = re.compile(r"^/opt/faultlab/modules/(\w+)\.ko$")


def _body(ctx: ScenarioContext) -> None:
    ctx.expect_eq("unused", 1, 1)


def test_variant_from_kernel_variant_or_needs() -> None:
    a = Scenario("t/a", "ppc64-pseries", "s", _body, kernel_variant="apf")
    assert a.needs.variant == "apf"
    b = Scenario("t/b", "ppc64-pseries", "s", _body, needs=Needs(options=("X",), variant="apf"))
    assert b.kernel_variant == "apf" and b.needs.options == ("X",)
    c = Scenario("t/c", "ppc64-pseries", "s", _body)
    assert (c.kernel_variant, c.needs) == (None, Needs())
    with pytest.raises(ValueError, match="kernel_variant 'apf' but needs variant 'other'"):
        Scenario(
            "t/d", "ppc64-pseries", "s", _body, kernel_variant="apf", needs=Needs(variant="other")
        )


def test_all_needs_include_the_platform() -> None:
    sc = SCENARIOS["smmu/stall-retry"]
    assert set(get_platform("aarch64").needs.options) <= set(sc.all_needs.options)
    assert "ARM_SMMU_V3_SVA" in sc.all_needs.options
    assert sc.all_needs.modules == ("faultlab_dma",)


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_platform_needs_cover_boot_and_probe(name: str) -> None:
    options = set(get_platform(name).needs.options)
    assert {"BLK_DEV_INITRD", "VIRTIO_NET", "DEVTMPFS"} <= options
    probe = {
        "x86_64": {"INTEL_IOMMU", "INTEL_IDXD", "SERIAL_8250_CONSOLE"},
        "aarch64": {"ARM_SMMU_V3", "ARM_SMMU_V3_SVA", "SERIAL_AMBA_PL011_CONSOLE"},
        "ppc64-powernv": {"PPC_POWERNV", "HVC_OPAL"},
        "ppc64-pseries": {"PPC_PSERIES", "HVC_CONSOLE"},
    }[name]
    assert probe <= options


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_modules_exist_for_the_platform_arch(name: str) -> None:
    sc = SCENARIOS[name]
    arch = get_platform(sc.platform).kernel_arch
    for module in sc.needs.modules:
        mdir = paths.repo_root() / "guest-kernel" / "modules" / module
        assert (mdir / "Kbuild").is_file(), f"{name}: no guest-kernel/modules/{module}"
        arches = (mdir / "arches").read_text().split() if (mdir / "arches").is_file() else [arch]
        assert arch in arches, f"{name}: {module} is not built for {arch}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_guest_modules_are_declared(name: str) -> None:
    """A module the scenario needs in the guest image is one of its module needs."""
    sc = SCENARIOS[name]
    used = {m[1] for m in map(_GUEST_MODULE.match, sc.guest_files) if m}
    assert used <= set(sc.needs.modules)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_patches_and_variant_exist(name: str) -> None:
    sc = SCENARIOS[name]
    arch = get_platform(sc.platform).kernel_arch
    for pneed in sc.needs.patch_needs:
        files = kernel_patches.by_marker(pneed.marker)
        assert files, f"{name}: no patch adds CONFIG_{pneed.marker}"
        assert all(p.for_arch(arch) for p in files)
        if any(p.variant for p in files):
            assert {p.variant for p in files} == {sc.needs.variant}
    assert sc.kernel_variant == sc.needs.variant
    if sc.needs.variant:
        fragment = f"{arch}-{sc.needs.variant}.config"
        assert (paths.repo_root() / "guest-kernel" / "configs" / fragment).is_file()


def test_needs_declared_per_group() -> None:
    """The groups' needs, as README's scenario table tells them apart."""

    def need(name: str) -> Needs:
        return SCENARIOS[name].needs

    pasid = {
        n for n, sc in SCENARIOS.items() if "FAULTLAB_PASID_SWITCH" in map(str, sc.needs.patches)
    }
    assert pasid == {
        "dsa/cr-fault",
        "dsa/drain-cr-fault",
        "dsa/enqcmd-switch",
        "dsa/accel-config-test",
    }
    bind = {
        n
        for n, sc in SCENARIOS.items()
        for p in sc.needs.patch_needs
        if p.marker == "FAULTLAB_SVA_BIND_X86" and (p.since, p.until) == ("6.12.64", "6.13")
    }
    assert bind == {n for n in SCENARIOS if n.startswith(("dsa/", "vtd/"))}
    apf = {n for n, sc in SCENARIOS.items() if sc.needs.variant == "apf"}
    assert apf == {n for n in SCENARIOS if n.startswith("pseries/apf-")} - {
        "pseries/apf-hcall-hostile"
    }
    assert "PSERIES_APF=n" in need("pseries/apf-hcall-hostile").options
    assert "KPROBES" in need("smmu/never-resumed").options
    assert "DEBUG_FS" in need("smmu/file-backed").options
    assert "DEBUG_FS" in need("dsa/sysfs").options
    assert "CRYPTO_DEV_NX_COMPRESS_POWERNV" in need("nx/selftests").options
    assert "CRYPTO_DEV_NX_COMPRESS_PSERIES" in need("pseries/nx-fault").options
    assert not need("bench/guest-basics")
