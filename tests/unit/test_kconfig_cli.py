"""`faultlab kconfig` and `faultlab patches`: fragments and patch lists for a user's own tree."""

from __future__ import annotations

import pytest

from faultlab import cli, kconfig, kernel_patches
from faultlab.kernel_info import parse_config
from faultlab.platforms import PLATFORMS, get_platform
from faultlab.scenario import load_scenarios

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_signal_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "install_signal_handlers", lambda: None)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def settings(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("CONFIG_") or ln.endswith("not set")]


def test_kconfig_smmu(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "kconfig", "aarch64", "smmu/stall-retry")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "CONFIG_ARM_SMMU_V3_SVA=y" in lines
    for header in (
        "# ---- guest-kernel/configs/base.config",
        "# ---- guest-kernel/configs/arm64.config",
        "# ---- guest-kernel/configs/series-6.12.config",
        "# ---- platform aarch64: what every boot and its probe need",
        "# ---- scenario smmu/stall-retry",
    ):
        assert header in lines
    assert "our modules (guest-kernel/modules/, built against this tree): faultlab_dma" in out
    assert "make ARCH=arm64 olddefconfig" in out
    assert "x86_64.config" not in out
    assert len(settings(out)) == len(set(settings(out)))  # each option once


def test_kconfig_whole_platform_groups_identical_needs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "kconfig", "aarch64")
    assert code == 0
    assert "# ---- scenarios smmu/stall-retry, smmu/unmapped-abort, smmu/readonly-abort," in out
    assert "# ---- scenario smmu/file-backed" in out
    assert "bench/guest-basics" in out


def test_kconfig_base_kernel_leaves_the_variant_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "kconfig", "ppc64-pseries", "--series", "7.3")
    assert code == 0
    assert "series-6.12.config" not in out and "ppc64le-apf.config" not in out
    assert "# CONFIG_PSERIES_APF is not set" in settings(out)  # pseries/apf-hcall-hostile
    assert "# ---- not included: pseries/apf-user," in out
    assert "(they run the 'apf' kernel variant):" in out
    assert "`faultlab kconfig ppc64-pseries pseries/apf-user pseries/apf-wake-before-fault" in out


def test_kconfig_variant(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "kconfig", "ppc64-pseries", "pseries/apf-user", "pseries/apf-kernel")
    assert code == 0
    assert "# ---- guest-kernel/configs/ppc64le-apf.config" in out
    assert "CONFIG_PSERIES_APF=y" in settings(out)
    assert "# ---- scenarios pseries/apf-user, pseries/apf-kernel" in out
    assert "test-only patch pseries-apf (CONFIG_PSERIES_APF)" in out
    assert "not included" not in out


def test_kconfig_group_and_patch_hints(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "kconfig", "x86_64", "dsa", "--series", "6.12")
    assert code == 0
    assert "smmu" not in out and "vtd/" not in out
    assert "test-only patch sva-bind-x86 (CONFIG_FAULTLAB_SVA_BIND_X86, for 6.12.64 <=" in out
    assert "test-only patch pasid-switch (CONFIG_FAULTLAB_PASID_SWITCH)" in out
    # 7.3: the bind patch's range (< 6.13) excludes the series
    out = run(capsys, "kconfig", "x86_64", "dsa/cr-fault", "--series", "7.3")[1]
    assert "sva-bind-x86" not in out and "pasid-switch" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("kconfig", "sparc64"), "faultlab: unknown platform 'sparc64'; valid platforms: "),
        (("kconfig", "x86_64", "nope"), "faultlab: unknown scenario 'nope' (groups: "),
        (
            ("kconfig", "x86_64", "smmu/stall-retry"),
            "faultlab: scenario smmu/stall-retry runs on aarch64, not x86_64",
        ),
        (
            ("kconfig", "ppc64-pseries", "pseries/apf-user", "pseries/nx-fault"),
            "faultlab: these scenarios run on different kernels (the apf variant: "
            "pseries/apf-user; the base kernel: pseries/nx-fault); ask for one kernel at a time",
        ),
        (
            ("kconfig", "aarch64", "--series", "6.1"),
            "faultlab: unknown kernel series '6.1'; pinned in images/lock.json: 6.12, 7.3",
        ),
        (("patches", "mips"), "faultlab: unknown platform 'mips'"),
        (("patches", "x86_64", "--series", "5.10"), "faultlab: unknown kernel series '5.10'"),
    ],
)
def test_bad_input_is_one_line_exit_3(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 3
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(message), err


@pytest.mark.parametrize("series", ["6.12", "7.3"])
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_faultlab_kernels_meet_every_need(platform: str, series: str) -> None:
    """The fragments build.sh merges meet every option need of the platform and its scenarios
    (a need naming an option the bench's kernels lack is a typo or a missing fragment line)."""
    plat = get_platform(platform)
    for sc in load_scenarios().values():
        if sc.platform != platform:
            continue
        files = kconfig.fragment_files(plat.kernel_arch, series, sc.needs.variant)
        have: dict[str, str] = {}
        for f in files:
            have.update(parse_config(f.read_text()))
        unmet = [n.spec for n in sc.all_needs.option_needs if not n.satisfied_by(have)]
        assert not unmet, f"{sc.name}: {unmet} not set by {[f.name for f in files]}"


def test_patches_x86_64(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "patches", "x86_64")
    assert (code, err) == (0, "")
    assert out.startswith("test-only kernel patches for x86_64 (x86_64 kernels), series 6.12:")
    assert "sva-bind-x86: guest-kernel/patches/x86_64/0001-iommu-sva-allow-bind" in out
    assert "  marker:    CONFIG_FAULTLAB_SVA_BIND_X86" in out
    assert "vtd/prq-retry (for 6.12.64 <= release < 6.13)" in out
    assert "pasid-switch: guest-kernel/patches/x86_64/0002-" in out
    assert "  marker:    CONFIG_FAULTLAB_PASID_SWITCH" in out
    assert "Reason: on CPUs with ENQCMD, IA32_PASID is supervisor XSAVE state" in out
    assert "no version for" not in out


def test_patches_of_a_series_are_its_ports(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "patches", "x86_64", "--series", "7.3")
    assert code == 0
    assert (
        "pasid-switch: guest-kernel/patches/x86_64/"
        "0002-x86-process-switch-ia32-pasid-without-xsaves-test-only-7.x.patch" in out
    )
    assert "no version for 7.3" not in out
    assert "sva-bind-x86" not in out  # 6.12 only, and not needed on 7.3


def test_patches_print(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "patches", "x86_64", "--print")
    assert (code, err) == (0, "")
    files = kernel_patches.for_platform_arch("x86_64", "6.12")
    assert [p.path.name for p in files][:2] == [
        "0001-iommu-sva-allow-bind-on-x86-test-only.patch",
        "0002-x86-process-switch-ia32-pasid-without-xsaves-test-only.patch",
    ]
    assert out == "".join(p.path.read_text() for p in files)
    code, out, err = run(capsys, "patches", "x86_64", "--print", "--series", "7.3")
    assert (code, err) == (0, "")
    (port,) = kernel_patches.for_platform_arch("x86_64", "7.3")
    assert port.path.name.endswith("-7.x.patch") and out == port.path.read_text()


def test_patches_other_platforms(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "patches", "aarch64")[1]
    assert out.splitlines()[1:] == ["  (none)"]
    out = run(capsys, "patches", "ppc64-pseries", "--series", "7.3")[1]
    assert "pseries-apf: guest-kernel/patches/ppc64le-apf/0001-" in out
    assert "variant:   apf" in out
    assert "needed by: pseries/apf-user," in out
    out = run(capsys, "patches", "ppc64-powernv")[1]
    assert "needed by: no scenario of this platform" in out
