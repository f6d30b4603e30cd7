"""`faultlab kconfig` and `faultlab patches`: what a user's own kernel tree must carry.

`kconfig_fragment` writes the config fragment to merge into a tree: the fragment files
guest-kernel/build.sh merges on allnoconfig for the platform's arch (base, arch, series and,
for a kernel variant, the variant's file), then the option needs of the platform and of the
scenarios, each block with a comment naming where it comes from (as kselftest `config` files
do) and each option written once. `patch_report` lists the test-only patches of the platform's
arch for one series and which scenarios need them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

from faultlab import kernel_patches, lock, paths
from faultlab.errors import UsageError
from faultlab.kernel_info import parse_config
from faultlab.kernel_patches import KernelPatch
from faultlab.needs import Needs, OptionNeed
from faultlab.platforms import Platform
from faultlab.scenario import Scenario

DEFAULT_SERIES = "6.12"
LINUX_ARCH = {"x86_64": "x86_64", "arm64": "arm64", "ppc64le": "powerpc"}  # make ARCH=
_WIDTH = 98


def configs_dir() -> Path:
    return paths.repo_root() / "guest-kernel" / "configs"


def pinned_series(lock_path: Path | None = None) -> list[str]:
    """The kernel series pinned in images/lock.json (entries linux-source-SERIES)."""
    prefix = "linux-source-"
    return [e.id[len(prefix) :] for e in lock.load(lock_path).entries if e.id.startswith(prefix)]


def require_series(series: str, lock_path: Path | None = None) -> str:
    pinned = pinned_series(lock_path)
    if series not in pinned:
        raise UsageError(
            f"unknown kernel series {series!r}; pinned in images/lock.json: {', '.join(pinned)}"
        )
    return series


def fragment_files(arch: str, series: str, variant: str | None = None) -> list[Path]:
    """The fragments build.sh merges for `arch`/`series` (and the variant's, as the Makefile
    passes it in FAULTLAB_KERNEL_FRAGMENTS), in merge order; the optional ones when present."""
    d = configs_dir()
    files = [d / "base.config", d / f"{arch}.config"]
    optional = [d / f"series-{series}.config", d / f"series-{series}-{arch}.config"]
    if variant:
        optional.append(d / f"{arch}-{variant}.config")
    return files + [f for f in optional if f.is_file()]


def _comment(text: str, hanging: bool = True) -> list[str]:
    return textwrap.wrap(
        text,
        _WIDTH,
        initial_indent="# ",
        subsequent_indent="#   " if hanging else "# ",
        break_on_hyphens=False,
    )


def _names(scenarios: Iterable[Scenario]) -> str:
    return ", ".join(sc.name for sc in scenarios)


def _blocks(platform: Platform, scenarios: Sequence[Scenario]) -> list[tuple[str, Needs]]:
    """The platform's needs, then one block per distinct set of scenario needs."""
    blocks: list[tuple[str, Needs]] = [
        (f"platform {platform.name}: what every boot and its probe need", platform.needs)
    ]
    grouped: dict[Needs, list[Scenario]] = {}
    for sc in scenarios:
        grouped.setdefault(sc.needs, []).append(sc)
    for needs, members in grouped.items():
        label = "scenario" if len(members) == 1 else "scenarios"
        blocks.append((f"{label} {_names(members)}", needs))
    return blocks


def _block_lines(
    platform: Platform, series: str, needs: Needs, have: dict[str, str]
) -> tuple[list[str], list[OptionNeed]]:
    """The option lines a block adds (and the needs already met above), updating `have`."""
    lines: list[str] = []
    met: list[OptionNeed] = []
    for need in needs.option_needs:
        explicit = need.key in have
        if need.satisfied_by(have) and (explicit or need.values != ("n",)):
            met.append(need)
            continue
        if explicit:
            lines.extend(_comment(f"overrides {need.key}={have[need.key]} above"))
        lines.append(need.config_line())
        have[need.key] = need.values[0]
    if needs.modules:
        lines.extend(
            _comment(
                "our modules (guest-kernel/modules/, built against this tree): "
                + ", ".join(needs.modules)
            )
        )
    for pneed in needs.patch_needs:
        if not pneed.applies_to_series(series):
            continue
        files = kernel_patches.by_marker(pneed.marker)
        name = files[0].name if files else pneed.marker
        when = f", for {pneed.range_text()}" if pneed.ranged else ""
        lines.extend(
            _comment(
                f"test-only patch {name} ({pneed.key}{when}): "
                f"`faultlab patches {platform.name} --series {series}` lists it"
            )
        )
    return lines, met


def kernel_variant_of(scenarios: Sequence[Scenario]) -> str | None:
    """The one kernel variant the scenarios run (None: the base kernel); UsageError if they
    need different kernels."""
    kernels: dict[str | None, list[Scenario]] = {}
    for sc in scenarios:
        kernels.setdefault(sc.needs.variant, []).append(sc)
    if len(kernels) > 1:
        parts = [
            f"{'the ' + v + ' variant' if v else 'the base kernel'}: {_names(scs)}"
            for v, scs in kernels.items()
        ]
        raise UsageError(
            "these scenarios run on different kernels (" + "; ".join(parts) + "); "
            "ask for one kernel at a time"
        )
    return next(iter(kernels), None)


def kconfig_fragment(
    platform: Platform,
    scenarios: Sequence[Scenario],
    series: str,
    left_out: Sequence[Scenario] = (),
) -> str:
    """The fragment for `platform`'s kernel of `series` with what `scenarios` need.
    `left_out`: scenarios of the platform not included (another kernel variant), named in a
    comment with the command that gives theirs."""
    arch = platform.kernel_arch
    variant = kernel_variant_of(scenarios)
    repo = paths.repo_root()
    kernel = f"the {variant!r} variant of the {arch} kernel" if variant else f"the {arch} kernel"
    out = _comment(
        f"faultlab kernel config fragment: platform {platform.name}, {kernel}, series {series}. "
        "First the fragments faultlab's own kernels are built from (allnoconfig + these, "
        "guest-kernel/build.sh), then what the platform and the scenarios need. Merge it into "
        "your tree with:",
        hanging=False,
    )
    out.append(
        "#   scripts/kconfig/merge_config.sh -m .config THIS-FILE && "
        f"make ARCH={LINUX_ARCH.get(arch, arch)} olddefconfig"
    )
    have: dict[str, str] = {}
    for f in fragment_files(arch, series, variant):
        text = f.read_text()
        out += ["", f"# ---- {f.relative_to(repo)}", text.rstrip()]
        have.update(parse_config(text))
    for title, needs in _blocks(platform, scenarios):
        lines, met = _block_lines(platform, series, needs, have)
        out += ["", *_comment(f"---- {title}")]
        if met:
            out += _comment("set above: " + ", ".join(n.config_line() for n in met))
        out += lines
    by_kernel: dict[str | None, list[Scenario]] = {}
    for sc in left_out:
        by_kernel.setdefault(sc.needs.variant, []).append(sc)
    for other, members in by_kernel.items():
        what = f"the {other!r} kernel variant" if other else "the base kernel"
        out += ["", *_comment(f"---- not included: {_names(members)} (they run {what}):")]
        out += _comment(
            f"`faultlab kconfig {platform.name} {' '.join(sc.name for sc in members)} "
            f"--series {series}`"
        )
    return "\n".join(out) + "\n"


# -- faultlab patches -----------------------------------------------------------------------
def needed_by(patch: KernelPatch, series: str, scenarios: Iterable[Scenario]) -> str:
    """Which scenarios need `patch` on a kernel of `series` (with the release range, if any)."""
    by_range: dict[str, list[str]] = {}
    for sc in scenarios:
        for pneed in sc.all_needs.patch_needs:
            if pneed.marker == patch.marker and pneed.applies_to_series(series):
                by_range.setdefault(pneed.range_text() if pneed.ranged else "", []).append(sc.name)
    return "; ".join(
        ", ".join(names) + (f" (for {span})" if span else "") for span, names in by_range.items()
    )


def _field(label: str, text: str) -> list[str]:
    return textwrap.wrap(
        text,
        _WIDTH,
        initial_indent=f"  {label + ':':<11}",
        subsequent_indent=" " * 13,
        break_on_hyphens=False,
    ) or [f"  {label}:"]


def patch_report(platform: Platform, series: str, scenarios: Sequence[Scenario]) -> str:
    """The test-only patches for `platform`'s arch and `series`: name, file, marker, why,
    which scenarios need them; then the needed markers with no patch for `series`."""
    arch = platform.kernel_arch
    patches = kernel_patches.for_platform_arch(arch, series)
    out = [f"test-only kernel patches for {platform.name} ({arch} kernels), series {series}:"]
    if not patches:
        out.append("  (none)")
    for p in patches:
        out += ["", f"{p.name}: guest-kernel/patches/{p.relpath}"]
        marker = f"CONFIG_{p.marker}" if p.marker else "none (a kernel cannot show it)"
        out += _field("marker", marker)
        out += _field("series", " ".join(p.series))
        if p.variant:
            out += _field(
                "variant",
                f"{p.variant}: its code is behind the option, which only the {p.variant} "
                f"variant sets (guest-kernel/configs/{arch}-{p.variant}.config)",
            )
        out += _field(
            "needed by", needed_by(p, series, scenarios) or "no scenario of this platform"
        )
        out += _field("why", p.subject)
        out += [" " * 13 + line.strip() for line in p.reason]
    gaps = unavailable(arch, series, scenarios)
    if gaps:
        out += ["", f"needed, but faultlab has no version for {series} yet:"]
        for marker, (users, have) in gaps.items():
            name = kernel_patches.KernelPatch.short_name(marker)
            out += textwrap.wrap(
                f"{name} (CONFIG_{marker}; exists for {', '.join(have) or 'no series'}): "
                f"needed by {', '.join(users)}",
                _WIDTH,
                initial_indent="  ",
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
    return "\n".join(out) + "\n"


def unavailable(
    arch: str, series: str, scenarios: Iterable[Scenario]
) -> dict[str, tuple[list[str], list[str]]]:
    """{marker: (scenarios needing it on `series`, series it exists for)} for the patch needs
    of `arch` that no patch file covers for `series`."""
    gaps: dict[str, tuple[list[str], list[str]]] = {}
    for sc in scenarios:
        for pneed in sc.all_needs.patch_needs:
            files = [p for p in kernel_patches.by_marker(pneed.marker) if p.for_arch(arch)]
            if not pneed.applies_to_series(series) or any(p.for_series(series) for p in files):
                continue
            users, have = gaps.setdefault(pneed.marker, ([], []))
            users.append(sc.name)
            have[:] = sorted({s for p in files for s in p.series})
    return gaps


def patch_texts(platform: Platform, series: str) -> str:
    """Every test-only patch for `platform`'s arch and `series`, concatenated in apply order."""
    return "".join(p.text() for p in kernel_patches.for_platform_arch(platform.kernel_arch, series))
