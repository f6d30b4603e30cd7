"""needs: option/module/patch needs against synthetic .config files; the patch catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultlab import kernel_patches
from faultlab.kernel_info import parse_config
from faultlab.needs import NO_NEEDS, Needs, OptionNeed, PatchNeed, missing

pytestmark = pytest.mark.unit

SVA_BIND = PatchNeed("FAULTLAB_SVA_BIND_X86", since="6.12.64", until="6.13")

DOT_CONFIG = """\
CONFIG_ARM_SMMU_V3=y
# CONFIG_ARM_SMMU_V3_SVA is not set
CONFIG_KPROBES=y
CONFIG_MODULES=y
CONFIG_INTEL_IDXD=m
CONFIG_NR_CPUS=8
CONFIG_LOCALVERSION="-faultlab"
CONFIG_PSERIES_APF=y
"""


def config(extra: str = "") -> dict[str, str]:
    return parse_config(DOT_CONFIG + extra)


# -- specs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "name", "values", "line"),
    [
        ("ARM_SMMU_V3_SVA", "ARM_SMMU_V3_SVA", ("y",), "CONFIG_ARM_SMMU_V3_SVA=y"),
        ("CONFIG_KPROBES", "KPROBES", ("y",), "CONFIG_KPROBES=y"),
        ("INTEL_IDXD=y|m", "INTEL_IDXD", ("y", "m"), "CONFIG_INTEL_IDXD=y"),
        ("NR_CPUS=8", "NR_CPUS", ("8",), "CONFIG_NR_CPUS=8"),
        ('LOCALVERSION="-x|y"', "LOCALVERSION", ('"-x|y"',), 'CONFIG_LOCALVERSION="-x|y"'),
        ("PSERIES_APF=n", "PSERIES_APF", ("n",), "# CONFIG_PSERIES_APF is not set"),
    ],
)
def test_option_specs(spec: str, name: str, values: tuple[str, ...], line: str) -> None:
    need = OptionNeed.parse(spec)
    assert (need.name, need.values, need.config_line()) == (name, values, line)


@pytest.mark.parametrize("spec", ["", "A B", "A=", "A=y|", "-A"])
def test_bad_option_specs_fail_at_declaration(spec: str) -> None:
    with pytest.raises(ValueError, match="bad option need"):
        Needs(options=(spec,))


def test_bad_patch_range_fails_at_declaration() -> None:
    with pytest.raises(ValueError, match="not a kernel release"):
        PatchNeed("FAULTLAB_X", since="six")


def test_combined_needs() -> None:
    a = Needs(options=("A", "B=y|m"), modules=("m1",), patches=("FAULTLAB_X",))
    b = Needs(options=("B=m", "C"), modules=("m1", "m2"), patches=(SVA_BIND, "FAULTLAB_X"))
    both = a | b
    assert both.options == ("A", "B=m", "C")
    assert both.modules == ("m1", "m2")
    assert both.patch_needs == (PatchNeed("FAULTLAB_X"), SVA_BIND)
    assert (a | NO_NEEDS) == a and not NO_NEEDS and bool(a)
    assert (Needs(variant="apf") | a).variant == "apf"


def test_conflicting_needs() -> None:
    with pytest.raises(ValueError, match="conflicting needs for CONFIG_A"):
        Needs(options=("A",)) | Needs(options=("A=n",))
    with pytest.raises(ValueError, match="two kernel variants"):
        Needs(variant="apf") | Needs(variant="other")


# -- missing --------------------------------------------------------------------------------
def test_nothing_missing() -> None:
    needs = Needs(options=("ARM_SMMU_V3", "KPROBES", "INTEL_IDXD=y|m", "SWAP=n"))
    assert missing(needs, config(), "6.12.117-faultlab", set()) == []


def test_missing_option_names_it_and_how_to_get_it() -> None:
    needs = Needs(options=("ARM_SMMU_V3_SVA", "KPROBES", "PCI_PASID"))
    lines = missing(
        needs, config(), "7.3.4-faultlab", None, platform="aarch64", scenario="smmu/stall-retry"
    )
    assert lines == [
        "CONFIG_ARM_SMMU_V3_SVA=y is not set (merge `faultlab kconfig aarch64 smmu/stall-retry` "
        "into your .config)",
        "CONFIG_PCI_PASID=y is not set (merge `faultlab kconfig aarch64 smmu/stall-retry` into "
        "your .config)",
    ]


def test_wrong_value_and_unwanted_option() -> None:
    needs = Needs(options=("INTEL_IDXD", "NR_CPUS=64", "PSERIES_APF=n"))
    lines = missing(needs, config(), None, None, platform="x86_64")
    assert lines[0].startswith(
        "CONFIG_INTEL_IDXD=y is not set (the kernel has CONFIG_INTEL_IDXD=m;"
    )
    assert "`faultlab kconfig x86_64`" in lines[0]
    assert lines[1].startswith("CONFIG_NR_CPUS=64 is not set (the kernel has CONFIG_NR_CPUS=8;")
    assert lines[2].startswith("CONFIG_PSERIES_APF must not be set (the kernel has CONFIG_PSERIES")
    assert len(lines) == 3


def test_missing_module() -> None:
    needs = Needs(modules=("faultlab_dma", "faultlab_hcall"))
    assert missing(needs, config(), "7.3.4-faultlab", {"faultlab_hcall"}) == [
        "module faultlab_dma is not built for 7.3.4-faultlab (run with --kernel-tree DIR so "
        "faultlab builds it)"
    ]
    # unknown: not judged
    assert missing(needs, config(), "7.3.4-faultlab", None) == []
    assert missing(needs, config(), None, set())[0].startswith(
        "module faultlab_dma is not built for this kernel"
    )


@pytest.mark.parametrize(
    ("release", "needed"),
    [
        ("6.12.64-faultlab", True),
        ("6.12.117-faultlab", True),
        ("6.12.63-faultlab", False),
        ("6.12", False),
        ("6.13.0", False),
        ("7.3.4-faultlab", False),
        (None, False),  # unknown release: a ranged need is not judged
    ],
)
def test_patch_marker_missing_only_inside_its_range(release: str | None, needed: bool) -> None:
    needs = Needs(patches=(SVA_BIND,))
    lines = missing(needs, config(), release, None, platform="x86_64")
    if not needed:
        assert lines == []
        return
    assert lines == [
        "test-only patch sva-bind-x86 (CONFIG_FAULTLAB_SVA_BIND_X86) is missing (needed for "
        "6.12.64 <= release < 6.13; `faultlab patches x86_64 --series 6.12` prints it)"
    ]
    assert missing(needs, config("CONFIG_FAULTLAB_SVA_BIND_X86=y\n"), release, None) == []


def test_patch_without_a_version_for_the_series() -> None:
    needs = Needs(patches=("FAULTLAB_PASID_SWITCH",))
    lines = missing(needs, config(), "6.12.117-faultlab", None)
    # without a platform the hint names the first platform of the patch's arch
    assert lines == [
        "test-only patch pasid-switch (CONFIG_FAULTLAB_PASID_SWITCH) is missing "
        "(`faultlab patches x86_64 --series 6.12` prints it)"
    ]
    # a series faultlab has no port for (7.3 has one)
    (line,) = missing(needs, config(), "6.13.2-rc1", None)
    assert "(faultlab has no version of it for 6.13 yet, only for 6.12, 7.3:" in line
    assert missing(needs, config("CONFIG_FAULTLAB_PASID_SWITCH=y\n"), "7.3.4", None) == []


def test_unknown_marker_and_variant_patch() -> None:
    (line,) = missing(Needs(patches=("FAULTLAB_NOPE",)), config(), "6.12.1", None)
    assert line == (
        "test-only patch marker CONFIG_FAULTLAB_NOPE is missing (no patch under "
        "guest-kernel/patches adds it)"
    )
    apf = Needs(patches=("PSERIES_APF",), variant="apf")
    assert missing(apf, config(), "7.3.4-faultlab", None) == []
    (line,) = missing(apf, {}, "7.3.4-faultlab", None, platform="ppc64-pseries")
    assert line == (
        "test-only patch pseries-apf (CONFIG_PSERIES_APF) is missing "
        "(`faultlab patches ppc64-pseries --series 7.3` prints it)"
    )


def test_unknown_config_judges_only_modules() -> None:
    needs = Needs(options=("PCI_PASID",), modules=("faultlab_dma",), patches=("PSERIES_APF",))
    assert missing(needs, None, "6.12.1", {"faultlab_dma"}) == []
    assert missing(needs, None, "6.12.1", set())[0].startswith("module faultlab_dma")


def test_order_is_options_patches_modules() -> None:
    needs = Needs(options=("PCI_PASID",), modules=("faultlab_dma",), patches=("PSERIES_APF",))
    lines = missing(needs, {}, "6.12.1", set())
    assert [ln.split()[0] for ln in lines] == ["CONFIG_PCI_PASID=y", "test-only", "module"]


# -- the patch catalog ----------------------------------------------------------------------
def test_catalog_of_the_checkout() -> None:
    found = {p.marker: p for p in kernel_patches.all_patches()}
    assert {"FAULTLAB_SVA_BIND_X86", "FAULTLAB_PASID_SWITCH", "PSERIES_APF"} <= set(found)
    bind = found["FAULTLAB_SVA_BIND_X86"]
    assert (bind.arch, bind.variant, bind.name) == ("x86_64", None, "sva-bind-x86")
    assert "6.12" in bind.series
    assert bind.subject.startswith("iommu/sva: allow iommu_sva_bind_device() on x86")
    assert bind.reason[0].startswith("Reason: 6.12.64 and later stable kernels")
    apf = found["PSERIES_APF"]
    assert (apf.arch, apf.variant, apf.series) == ("ppc64le", "apf", ("6.12", "7.3"))


def write_patch(root: Path, rel: str, header: str, kconfig: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"From: someone\nSubject: [PATCH v2] x: a subject\n that is folded\n\n{header}\n---\n"
        "--- a/drivers/Kconfig\n+++ b/drivers/Kconfig\n@@ -1,1 +1,4 @@\n"
        f"{kconfig} menu\n"
    )
    return path


def test_catalog_reads_any_patch(tmp_path: Path) -> None:
    write_patch(
        tmp_path,
        "common/0001-a.patch",
        "Why: one.\nTwo.\n\nMore.\n\nFaultlab-Series: 6.12 7.3",
        "+config HELPER\n+\tbool\n+config FAULTLAB_A\n+\tdef_bool y\n",
    )
    write_patch(tmp_path, "arm64-v/0001-b.patch", "B.\n\nFaultlab-Series: 7.3", "+config ONLY\n")
    write_patch(tmp_path, "arm64/0001-c.patch", "C.", "+config X\n+config Y\n")
    a, c, b = kernel_patches.all_patches(tmp_path)  # common/, arm64/, arm64-v/
    assert (a.arch, a.variant, a.series, a.marker, a.name) == (
        None,
        None,
        ("6.12", "7.3"),
        "FAULTLAB_A",
        "a",
    )
    assert (a.subject, a.reason) == ("x: a subject that is folded", ("Why: one.", "Two."))
    assert (b.arch, b.variant, b.series, b.marker) == ("arm64", "v", ("7.3",), "ONLY")
    assert (c.series, c.marker, c.name) == ((), None, "0001-c")  # no marker: the file's name
    assert [p.relpath for p in kernel_patches.for_platform_arch("arm64", "7.3", tmp_path)] == [
        "common/0001-a.patch",
        "arm64-v/0001-b.patch",
    ]
    assert [p.name for p in kernel_patches.for_platform_arch("x86_64", None, tmp_path)] == ["a"]
    assert kernel_patches.markers(tmp_path) == {"FAULTLAB_A", "ONLY"}
