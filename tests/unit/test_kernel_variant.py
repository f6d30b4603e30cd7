"""A scenario asking for a kernel variant boots kernels/ARCH-VARIANT, or names its target."""

from __future__ import annotations

import pytest

from fakes import FakeCache, write_bench_kernel
from faultlab import paths
from faultlab.errors import MissingArtifactError
from faultlab.scenario import Scenario, ScenarioContext, run_scenario

pytestmark = pytest.mark.unit


def _body(ctx: ScenarioContext) -> None:
    ctx.expect_eq("guest ran", ctx.sh("true").exit_code, 0)


def test_variant_path() -> None:
    base = paths.kernel("ppc64le")
    assert paths.kernel("ppc64le", "apf") == base.parent.parent / "ppc64le-apf" / base.name
    assert base.parent.parent.name == paths.DEFAULT_SERIES
    assert paths.kernel("ppc64le", series="7.3").parent.parent.name == "7.3"


def test_missing_variant_names_its_make_target(cache: FakeCache) -> None:
    sc = Scenario("t/variant", "x86_64", "test", _body, kernel_variant="apf")
    with pytest.raises(MissingArtifactError, match=r"make kernel-x86_64-apf"):
        run_scenario(sc, result_dir=cache.results / "variant-missing")


def test_variant_kernel_is_booted(cache: FakeCache) -> None:
    variant = write_bench_kernel("x86_64", "apf")
    sc = Scenario("t/variant", "x86_64", "test", _body, kernel_variant="apf")
    outcome = run_scenario(sc, result_dir=cache.results / "variant")
    assert outcome.verdict == "pass", outcome.reason
    assert outcome.result is not None
    assert str(variant) in (cache.results / "variant" / "qemu-cmdline.txt").read_text()
