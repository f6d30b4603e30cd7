"""The bench's fault scenarios, one module per group (`faultlab scenarios` lists them).

Importing this package registers every scenario in `faultlab.scenario.SCENARIOS`.
"""

from __future__ import annotations

from faultlab.scenarios import (  # noqa: F401
    dsa,
    nx,
    pseries,
    pseries_apf,
    pseries_dlpar,
    selftest,
    smmu,
    vtd,
    x86,
)
