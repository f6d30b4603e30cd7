"""What a scenario (or a platform's boot) needs of the guest kernel, and what a kernel lacks.

A `Needs` names:

* options: Kconfig options without the CONFIG_ prefix. ``"ARM_SMMU_V3_SVA"`` means it must be
  ``y``; ``"NAME=VALUE"`` asks for that exact .config value (``"NR_CPUS=8"``,
  ``'LOCALVERSION="-x"'``); ``"NAME=y|m"`` accepts any of the listed values, the first being
  the one `faultlab kconfig` writes; ``"NAME=n"`` means the option must be unset (absent
  counts as unset). Tristate drivers are needed as ``y``: the guest's initramfs carries no
  modules of the kernel's own tree, so a driver built as ``m`` would never be loaded.
* modules: our out-of-tree modules (guest-kernel/modules/<name>) that the scenario insmods.
* patches: test-only kernel patches (guest-kernel/patches/), named by their Kconfig marker
  (``"FAULTLAB_PASID_SWITCH"``), optionally limited to a release range with `PatchNeed`
  (``PatchNeed("FAULTLAB_SVA_BIND_X86", since="6.12.64", until="6.13")``: only releases
  6.12.64 <= r < 6.13 need it).
* variant: the kernel build variant the scenario boots (``"apf"``: kernels/ARCH-apf, built
  with configs/ARCH-apf.config and patches/ARCH-apf/), None for the base kernel.

``a | b`` is what both need. `missing` compares needs with a kernel's config, release and
built modules and returns one line per missing item, each saying how to get it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from faultlab import kernel_patches
from faultlab.kernel_info import in_release_range, release_version, series_of

_OPTION = re.compile(r"^(?:CONFIG_)?([A-Za-z0-9_]+)(?:=(.+))?$")


@dataclass(frozen=True)
class OptionNeed:
    name: str  # without CONFIG_
    values: tuple[str, ...] = ("y",)  # accepted .config values; the first is the one to set

    @classmethod
    def parse(cls, spec: str) -> OptionNeed:
        m = _OPTION.match(spec.strip())
        if not m:
            raise ValueError(f"bad option need {spec!r} (NAME, NAME=VALUE or NAME=y|m)")
        if m[2] is None:
            return cls(m[1])
        values = tuple(v.strip() for v in m[2].split("|")) if m[2][:1] != '"' else (m[2],)
        if not all(values):
            raise ValueError(f"bad option need {spec!r} (an empty value)")
        return cls(m[1], values)

    @property
    def key(self) -> str:
        return f"CONFIG_{self.name}"

    @property
    def spec(self) -> str:
        return self.name if self.values == ("y",) else f"{self.name}={'|'.join(self.values)}"

    def satisfied_by(self, config: Mapping[str, str]) -> bool:
        return config.get(self.key, "n") in self.values

    def config_line(self) -> str:
        """The .config line that meets the need."""
        if self.values[0] == "n":
            return f"# {self.key} is not set"
        return f"{self.key}={self.values[0]}"

    def describe(self) -> str:
        if self.values == ("n",):
            return f"{self.key} unset"
        return f"{self.key}=" + " or =".join(self.values)

    def __str__(self) -> str:
        return self.spec


@dataclass(frozen=True)
class PatchNeed:
    marker: str  # the patch's Kconfig marker, without CONFIG_
    since: str | None = None  # first release that needs it (inclusive), e.g. "6.12.64"
    until: str | None = None  # first release that no longer needs it (exclusive), e.g. "6.13"

    def __post_init__(self) -> None:
        object.__setattr__(self, "marker", self.marker.removeprefix("CONFIG_"))
        for bound in (self.since, self.until):
            if bound is not None:
                release_version(bound)  # ValueError for a typo, at import

    @property
    def key(self) -> str:
        return f"CONFIG_{self.marker}"

    @property
    def ranged(self) -> bool:
        return self.since is not None or self.until is not None

    def applies(self, release: str | None) -> bool | None:
        """Whether a kernel of `release` needs the patch; None when the release is unknown
        (or unreadable) and the need is limited to a range."""
        if not self.ranged:
            return True
        if release is None:
            return None
        try:
            return in_release_range(release, self.since, self.until)
        except ValueError:
            return None

    def applies_to_series(self, series: str) -> bool:
        """Whether some release of `series` ("6.12") falls in the need's range."""
        major, minor, _ = release_version(series)
        if self.since is not None and release_version(self.since)[:2] > (major, minor):
            return False
        return not (self.until is not None and release_version(self.until) <= (major, minor, 0))

    def range_text(self) -> str:
        if self.since and self.until:
            return f"{self.since} <= release < {self.until}"
        if self.since:
            return f"release >= {self.since}"
        if self.until:
            return f"release < {self.until}"
        return "every release"

    def __str__(self) -> str:
        return self.marker if not self.ranged else f"{self.marker} ({self.range_text()})"


def _unique(items: Iterable[object]) -> tuple[object, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Needs:
    """What a kernel must have; see the module docstring. Specs are validated at creation."""

    options: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    patches: tuple[PatchNeed | str, ...] = ()
    variant: str | None = None
    _parsed: tuple[OptionNeed, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = _merge_options(OptionNeed.parse(s) for s in self.options)
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "options", tuple(o.spec for o in parsed))
        object.__setattr__(self, "modules", tuple(str(m) for m in _unique(self.modules)))
        patches = (p if isinstance(p, PatchNeed) else PatchNeed(p) for p in self.patches)
        object.__setattr__(self, "patches", _unique(patches))

    @property
    def option_needs(self) -> tuple[OptionNeed, ...]:
        return self._parsed

    @property
    def patch_needs(self) -> tuple[PatchNeed, ...]:
        return tuple(p for p in self.patches if isinstance(p, PatchNeed))

    def __or__(self, other: Needs) -> Needs:
        if self.variant and other.variant and self.variant != other.variant:
            raise ValueError(
                f"needs of two kernel variants cannot be combined: {self.variant}, {other.variant}"
            )
        return Needs(
            options=self.options + other.options,
            modules=self.modules + other.modules,
            patches=self.patches + other.patches,
            variant=self.variant or other.variant,
        )

    def __bool__(self) -> bool:
        return bool(self.options or self.modules or self.patches or self.variant)


def _merge_options(options: Iterable[OptionNeed]) -> tuple[OptionNeed, ...]:
    """One need per option: two needs of one option accept the values both accept."""
    merged: dict[str, OptionNeed] = {}
    for need in options:
        have = merged.get(need.name)
        if have is None:
            merged[need.name] = need
            continue
        values = tuple(v for v in have.values if v in need.values)
        if not values:
            raise ValueError(f"conflicting needs for CONFIG_{need.name}: {have.spec}, {need.spec}")
        merged[need.name] = OptionNeed(need.name, values)
    return tuple(merged.values())


NO_NEEDS = Needs()


# -- what a kernel lacks --------------------------------------------------------------------
def _patches_hint(platform: str | None, arch: str | None, series: str | None) -> str:
    name = platform or _platform_for_arch(arch) or "PLATFORM"
    return f"`faultlab patches {name}" + (f" --series {series}`" if series else "`")


def _platform_for_arch(arch: str | None) -> str | None:
    from faultlab.platforms import PLATFORMS  # platforms imports this module

    return next((p.name for p in PLATFORMS.values() if p.kernel_arch == arch), None)


def _patch_line(need: PatchNeed, release: str | None, platform: str | None) -> str:
    files = kernel_patches.by_marker(need.marker)
    if not files:
        return (
            f"test-only patch marker {need.key} is missing (no patch under "
            "guest-kernel/patches adds it)"
        )
    head = f"test-only patch {files[0].name} ({need.key}) is missing"
    when = f"needed for {need.range_text()}; " if need.ranged else ""
    try:
        series = series_of(release) if release else None
    except ValueError:
        series = None
    arch = files[0].arch
    if series is not None and not any(p.for_series(series) for p in files):
        have = sorted({s for p in files for s in p.series}, key=release_version)
        if not have:
            return f"{head} (its patch names no series it applies to: {files[0].relpath})"
        return (
            f"{head} ({when}faultlab has no version of it for {series} yet, only for "
            f"{', '.join(have)}: {_patches_hint(platform, arch, have[-1])} prints that one)"
        )
    return f"{head} ({when}{_patches_hint(platform, arch, series)} prints it)"


def _option_line(need: OptionNeed, have: str, hint: str) -> str:
    if need.values == ("n",):
        return f"{need.key} must not be set (the kernel has {need.key}={have}; {hint})"
    now = "" if have == "n" else f"the kernel has {need.key}={have}; "
    return f"{need.describe()} is not set ({now}{hint})"


def missing(
    needs: Needs,
    config: Mapping[str, str] | None,
    release: str | None,
    have_modules: Collection[str] | None,
    *,
    platform: str | None = None,
    scenario: str | None = None,
) -> list[str]:
    """One line per thing `needs` asks for that the kernel lacks, each saying how to get it.

    `config` is the kernel's .config as parsed by kernel_info.parse_config (keys CONFIG_X;
    None: unknown, e.g. an image without IKCONFIG, so options and patches are not judged);
    `release` its release (None: unknown, so patch needs limited to a release range are not
    judged); `have_modules` the names of our modules built for this kernel (None: unknown, so
    module needs are not judged). `platform` and `scenario` only make the hints precise.
    """
    hint_target = " ".join(filter(None, ("faultlab kconfig", platform or "PLATFORM", scenario)))
    hint = f"merge `{hint_target}` into your .config"
    lines: list[str] = []
    if config is not None:
        lines.extend(
            _option_line(need, config.get(need.key, "n"), hint)
            for need in needs.option_needs
            if not need.satisfied_by(config)
        )
        lines.extend(
            _patch_line(pneed, release, platform)
            for pneed in needs.patch_needs
            if pneed.applies(release) and config.get(pneed.key, "n") != "y"
        )
    if have_modules is not None:
        built_for = f"for {release}" if release else "for this kernel"
        lines.extend(
            f"module {name} is not built {built_for} (run with --kernel-tree DIR so faultlab "
            "builds it)"
            for name in needs.modules
            if name not in have_modules
        )
    return lines
