"""Area units used in Chinese land statistics.

1 亩 = 10000/15 m² exactly, so m² → 亩 is a multiplication by 0.0015; dividing by the common
approximation 666.67 is off by ~0.0005 %, enough to flip a knife-edge target comparison
(domain.md §3.6).
"""

from __future__ import annotations

import numpy as np

M2_TO_MU = 0.0015
"""亩 per square metre (exact)."""

MU_PER_WANMU = 10_000.0
MU_PER_HECTARE = 15.0


def m2_to_mu(area_m2):
    """Convert m² to 亩 (exact: × 0.0015). Accepts scalars, arrays and Series."""
    return area_m2 * M2_TO_MU


def mu_to_m2(area_mu):
    """Convert 亩 to m² (exact: ÷ 0.0015)."""
    return area_mu / M2_TO_MU


def mu_to_wanmu(area_mu):
    """Convert 亩 to 万亩 (÷ 10 000), the unit targets are published in."""
    return area_mu / MU_PER_WANMU


def round_half_up(values, decimals: int = 2):
    """Round half away from zero, as the official area tools do (not banker's rounding).

    A small relative nudge absorbs binary representation error, so 0.125 → 0.13 and
    2.675 → 2.68 like a person rounding the printed decimal.
    """
    values = np.asarray(values, dtype="float64")
    scale = 10.0**decimals
    scaled = np.abs(values) * scale
    rounded = np.floor(scaled + 0.5 + 1e-12 * scaled)
    return np.sign(values) * rounded / scale
