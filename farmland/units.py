"""Area units used in Chinese land statistics, and the smallest overlaps that count as land.

1 亩 = 10000/15 m² exactly, so m² → 亩 is a multiplication by 0.0015; dividing by the common
approximation 666.67 is off by ~0.0005 %, enough to flip a knife-edge target comparison
(docs/background.md §3.6).
"""

from __future__ import annotations

import numpy as np

M2_TO_MU = 0.0015
"""亩 per square metre (exact)."""

MU_PER_WANMU = 10_000.0


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

    A tolerance of a few units in the last place absorbs binary representation error, so a
    typed 2.675 (stored as 2.67499999999999982…) rounds to 2.68 as a person expects; it is far
    too small to move anything else, even at county-sized areas in m² × 100 (~1e11).
    """
    values = np.asarray(values, dtype="float64")
    scaled = np.abs(values) * 10.0**decimals
    whole = np.trunc(scaled)
    rounded = whole + (scaled - whole >= 0.5 - 4 * np.spacing(scaled))
    return np.copysign(rounded, values) / 10.0**decimals


SLIVER_M2 = 0.01
"""Overlaps below this (m²) are floating-point slivers between touching polygons, not land."""

SLIVER_WIDTH_M = 0.05
"""Overlaps thinner than this on average are slivers too: a county delivered in zone 38 and
brought to zone 39 has its straight edges bent by ~1 mm, so parcels that only touch in their own
zone overlap in hair-thin strips of up to a square metre along long edges."""
