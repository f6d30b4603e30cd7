"""A `faultlab run` as a KCIDB v5.3 report (kernelci.org's kcidb-io schema); pure.

Objects, all with origin "faultlab" and ids "faultlab:...":

* checkouts: the kernel source each scenario's kernel came from: the bench's kernels are
  Debian's linux-source-SERIES (the version the build used) with faultlab's test-only patches
  for one arch (and variant), so one checkout per series, version, arch and variant; a user's
  tree is its `git describe`; an image given alone its release. Ids are made of these, so
  every run against the same kernel names the same checkout and build.
* builds: one per kernel: arch, release, config hash, the build manifest in misc.
* tests: one per scenario, path ``faultlab.PLATFORM.GROUP.NAME`` (every character outside
  ``[A-Za-z0-9_-]`` becomes '_'), an id unique to the run (``faultlab:RUN/GROUP/NAME``),
  status (``status`` below), start_time, duration, log_excerpt (verdict and reason, each
  failed check, then the console excerpt; at most LOG_EXCERPT_MAX characters), environment
  (QEMU machine and version, accelerator, kernel release and series, in misc) and misc (the
  verdict, every check, the result directory).
* issues and incidents: each known-issue entry applied to a scenario is an issue
  (``faultlab:known-issue/ID``, culprit: the code), and each scenario it was judged against an
  incident: present when the run printed the report, absent when the run concluded without
  it. This is how KCIDB marks a failure as known (its triage), so a known issue's test is
  FAIL with an incident, not a status of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from faultlab.platforms import get_platform
from faultlab.run_record import NOT_RUN_NEEDS, ScenarioRecord

ORIGIN = "faultlab"
SCHEMA_VERSION = {"major": 5, "minor": 3}
LOG_EXCERPT_MAX = 16384  # the schema's maxLength of every log_excerpt
_TRUNCATED = "\n[... cut by faultlab: the schema keeps at most {} characters]\n"
ISSUE_VERSION = 0  # the known-issue file has no revision numbers; 0 is the first
_PATH_SEGMENT = re.compile(r"[^A-Za-z0-9_-]")
_URL = re.compile(r"https?://\S+")


def status(record: ScenarioRecord) -> str:
    """The KCIDB status of a scenario's verdict. The schema's status descriptions
    (kcidb_io.schema.v05_03, $defs/status) decide:

    * pass -> PASS: "the test completed and reported the tested code as correct".
    * fail -> FAIL: "completed and reported the tested code as faulty": a check that did not
      hold, a kernel report, a guest that died; faultlab keeps "fail" for kernel or model
      misbehaviour.
    * known-issue -> FAIL: every check held but the kernel printed a report (a WARNING, a
      BUG...), which is the tested code being faulty; that the failure is known is said the
      KCIDB way, by an incident linking the test to the issue (report below). PASS would
      claim the code correct, SKIP or MISS that the test did not run.
    * error -> ERROR: "didn't complete due to a failure in its code, and the status of the
      tested code is unknown": QEMU would not start, QMP broke, a harness bug.
    * skip -> SKIP: "did not run or complete, because it was not applicable": the scenario
      found its feature absent here (ScenarioContext.skip).
    * NOT RUN because the kernel lacks an option, patch or module the scenario needs -> SKIP:
      the test does not apply to this kernel build; nothing failed.
    * NOT RUN for bad input (a missing build product, a wrong kernel file) and a skip for a
      file missing from the guest image -> MISS: "didn't run due to a failure in the test
      harness, and the status of both the test and the tested code is unknown": the bench
      was not set up to run it.
    """
    verdict = record.verdict
    if verdict == "pass":
        return "PASS"
    if verdict in ("fail", "known-issue"):
        return "FAIL"
    if verdict == "skip":
        if record.not_run == NOT_RUN_NEEDS:
            return "SKIP"
        if record.not_run is not None or record.failure == "missing_guest_file":
            return "MISS"
        return "SKIP"
    return "ERROR"


def kcidb_path(record: ScenarioRecord) -> str:
    """``faultlab.PLATFORM.GROUP.NAME``, each part in the schema's path alphabet."""
    parts = (ORIGIN, record.platform, record.group, record.name)
    return ".".join(_PATH_SEGMENT.sub("_", p) or "_" for p in parts)


def headline(record: ScenarioRecord) -> str:
    """``NAME: VERDICT: reason`` as `faultlab run` prints it (``NAME: NOT RUN: ...``)."""
    if record.reason.startswith("NOT RUN"):
        return f"{record.scenario}: {record.reason}"
    return f"{record.scenario}: {record.verdict.upper().replace('-', ' ')}: {record.reason}"


def _clean(text: str) -> str:
    return text.replace("\0", "")


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` without the empty ones (KCIDB: "no properties can be null")."""
    return {k: v for k, v in fields.items() if v not in (None, "", [], {})}


def log_excerpt(record: ScenarioRecord, limit: int = LOG_EXCERPT_MAX) -> str | None:
    """Verdict and reason, the failed checks, the console excerpt; None for a pass without
    an excerpt. Cut to `limit` characters (the console part first)."""
    if record.verdict == "pass" and not record.excerpt:
        return None
    head = [headline(record)]
    head += [
        f"FAIL {c.name}: observed {c.observed}; expected {c.expected}"
        for c in record.checks
        if not c.ok
    ]
    text = _clean("\n".join(head) + "\n")
    if record.excerpt:
        text += "----- console excerpt -----\n" + _clean(record.excerpt).rstrip("\n") + "\n"
    if len(text) <= limit:
        return text
    marker = _TRUNCATED.format(limit)
    return text[: limit - len(marker)] + marker


# -- kernels: checkouts and builds ------------------------------------------------------------
def _version_used(manifest: dict[str, Any]) -> str | None:
    version = manifest.get("version")
    if isinstance(version, dict):
        used = version.get("used") or version.get("pinned")
        return str(used) if used else None
    return str(version) if version else None


def _kernel_name(arch: str, gk: dict[str, Any]) -> str:
    return f"{arch}-{gk['variant']}" if gk.get("variant") else arch


def _checkout(record: ScenarioRecord) -> dict[str, Any]:
    gk, manifest = record.guest_kernel, record.kernel_manifest
    arch = get_platform(record.platform).kernel_arch
    source = gk.get("source")
    release = gk.get("release") or "unknown"
    series = gk.get("series") or "unknown"
    out: dict[str, Any] = {"origin": ORIGIN}
    if source == "bench":
        version = _version_used(manifest) or "unknown"
        package = f"linux-source-{series}"
        out |= {
            "id": f"{ORIGIN}:checkout/{package}/{version}/{_kernel_name(arch, gk)}",
            "tree_name": package,
            "comment": f"Debian {package} {version} with faultlab's test-only patches "
            f"for {_kernel_name(arch, gk)}",
            "valid": True,
            "misc": _present(
                {
                    "package": package,
                    "version": manifest.get("version"),
                    "arch": arch,
                    "variant": gk.get("variant"),
                    "patches": manifest.get("patches"),
                }
            ),
        }
    elif source == "tree":
        name = gk.get("git_describe") or f"config-{(gk.get('config_sha256') or '')[:16]}"
        out |= {
            "id": f"{ORIGIN}:checkout/tree/{release}/{name}",
            "comment": f"a user's kernel tree {gk.get('tree')}",
            "valid": True,
            "misc": {"tree": gk.get("tree")},
        }
        if gk.get("git_describe"):
            out["git_commit_name"] = gk["git_describe"]
    elif source == "image":
        out |= {
            "id": f"{ORIGIN}:checkout/image/{release}",
            "comment": f"a user's kernel image {gk.get('image')} (its source is unknown)",
            "misc": {"image": gk.get("image")},
        }
    else:
        out |= {
            "id": f"{ORIGIN}:checkout/unknown/{series}/{arch}",
            "comment": "the kernel could not be determined (nothing was booted)",
        }
    return out


def _build(record: ScenarioRecord, checkout_id: str) -> dict[str, Any]:
    gk, manifest = record.guest_kernel, record.kernel_manifest
    arch = get_platform(record.platform).kernel_arch
    release = gk.get("release") or "unknown"
    config = (gk.get("config_sha256") or "")[:16] or "config-unknown"
    checkout = checkout_id.removeprefix(f"{ORIGIN}:checkout/")
    out: dict[str, Any] = {
        "id": f"{ORIGIN}:build/{checkout}/{release}/{config}",
        "checkout_id": checkout_id,
        "origin": ORIGIN,
        "architecture": arch,
    }
    source = gk.get("source")
    if source:  # the image was there: it was built
        out["status"] = "PASS"
        out["comment"] = f"{release} ({source} kernel)"
        out["config_name"] = (
            ("faultlab-" + gk["variant"] if gk.get("variant") else "faultlab")
            if source == "bench"
            else "user"
        )
    misc = _present(gk)
    if manifest and not {"missing", "unreadable"} & manifest.keys():
        misc["manifest"] = manifest
    if misc:
        out["misc"] = misc
    if isinstance(manifest.get("built_seconds"), int | float):
        out["duration"] = manifest["built_seconds"]
    return out


# -- known issues: issues and incidents --------------------------------------------------------
def issue_id(ident: str) -> str:
    return f"{ORIGIN}:known-issue/{ident}"


def _issue(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": issue_id(entry["id"]),
        "version": ISSUE_VERSION,
        "origin": ORIGIN,
        "culprit": {"code": True, "tool": False, "harness": False},
        "categories": ["runtime." + _PATH_SEGMENT.sub("_", str(entry.get("kind") or "report"))],
        "misc": _present(entry),
    }
    if entry.get("note"):
        out["comment"] = _clean(str(entry["note"]))
    upstream = str(entry.get("upstream") or "")
    url = _URL.search(upstream) if upstream.startswith("reported") else None
    if url:
        out["report_url"] = url.group(0)
    return out


def _incidents(record: ScenarioRecord, test_id: str) -> list[dict[str, Any]]:
    """One per entry the run was judged against: present when its report was printed; absent
    only when the run concluded from its checks (a skip or an error proves nothing)."""
    matched: dict[str, str] = {}
    for m in record.known_issues.get("matched", []):
        matched.setdefault(m["issue"], m.get("title", ""))
    concluded = record.verdict in ("pass", "known-issue") or record.failure == "check"
    out = []
    for entry in record.known_issues.get("applied", []):
        ident = entry["id"]
        present = ident in matched
        if not present and not concluded:
            continue
        out.append(
            {
                "id": f"{test_id}/{ident}",
                "origin": ORIGIN,
                "issue_id": issue_id(ident),
                "issue_version": ISSUE_VERSION,
                "test_id": test_id,
                "present": present,
                "comment": _clean(matched[ident]) if present else "did not reproduce this run",
            }
        )
    return out


# -- tests ------------------------------------------------------------------------------------
def _environment(record: ScenarioRecord) -> dict[str, Any]:
    platform = get_platform(record.platform)
    gk = record.guest_kernel
    misc = {
        "platform": platform.name,
        "qemu_machine": platform.machine,
        "qemu_version": _version_used(record.qemu_manifest),
        "accelerator": record.accel,
        "kernel_release": gk.get("release"),
        "kernel_series": gk.get("series"),
        "kernel_variant": gk.get("variant"),
        "kernel_source": gk.get("source"),
    }
    how = f"under {record.accel}" if record.accel else "not booted"
    return {
        "comment": f"QEMU {platform.machine} ({platform.name}), {how}",
        "misc": _present(misc),
    }


def _test(record: ScenarioRecord, test_id: str, build_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": test_id,
        "build_id": build_id,
        "origin": ORIGIN,
        "path": kcidb_path(record),
        "status": status(record),
        "start_time": record.started_utc,
        "duration": record.seconds,
        "comment": _clean(headline(record)),
        "environment": _environment(record),
    }
    excerpt = log_excerpt(record)
    if excerpt:
        out["log_excerpt"] = excerpt
    misc: dict[str, Any] = {
        "scenario": record.scenario,
        "verdict": record.verdict,
        "failure": record.failure,
        "not_run": record.not_run,
        "checks": [c.as_dict() for c in record.checks],
        "known_issues": record.known_issue_ids,
        "result_dir": record.result_dir,
    }
    out["misc"] = _present(misc)
    return out


def report(records: Sequence[ScenarioRecord], run_id: str) -> dict[str, Any]:
    """The KCIDB report of a run whose scenarios came to `records`; `run_id` makes the tests'
    ids unique to the run."""
    checkouts: dict[str, dict[str, Any]] = {}
    builds: dict[str, dict[str, Any]] = {}
    issues: dict[str, dict[str, Any]] = {}
    tests: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    for record in records:
        checkout = _checkout(record)
        checkouts.setdefault(checkout["id"], checkout)
        build = _build(record, checkout["id"])
        builds.setdefault(build["id"], build)
        test_id = f"{ORIGIN}:{run_id}/{record.scenario}"
        tests.append(_test(record, test_id, build["id"]))
        for entry in record.known_issues.get("applied", []):
            issues.setdefault(issue_id(entry["id"]), _issue(entry))
        incidents.extend(_incidents(record, test_id))
    data: dict[str, Any] = {
        "version": dict(SCHEMA_VERSION),
        "checkouts": list(checkouts.values()),
        "builds": list(builds.values()),
        "tests": tests,
    }
    if issues:
        data["issues"] = list(issues.values())
        data["incidents"] = incidents
    return data


def validate(data: dict[str, Any]) -> str | None:
    """Why `data` is no valid KCIDB v5.3 report (kcidb-io's schema), or None; None too when
    kcidb-io is not installed."""
    try:
        import jsonschema
        import kcidb_io
    except ImportError:
        return None
    try:
        kcidb_io.schema.V5_3.validate_exactly(data)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        return f"{where}: {exc.message}"
    return None
