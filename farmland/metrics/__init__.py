"""Metrics: per unit (county, township, city) and year, the figures the assessment scores.

Stocks at the year end (retained arable land, basic farmland, quality grade), flows in the year
(arable change, construction on arable land reported and derived, high-standard farmland,
占补平衡, basic farmland occupied and re-designated), the arable-land ledger, mid-term and final
figures over the period, and the indicators of the city's opinion (聊政发〔2018〕34号). Every
figure carries its unit of measure, survey basis (口径) and the ids of the features behind it.

>>> from farmland import Workspace
>>> from farmland.metrics import compute_metrics
>>> result = compute_metrics(Workspace.load("demo"), [2017])      # doctest: +SKIP
>>> result.wide()                                                 # doctest: +SKIP
>>> result.evidence("371502", "illegal_arable_mu", "annual", 2017)  # doctest: +SKIP
"""

from .catalogue import CONTRACT_METRICS, METRICS, metric_info
from .compute import PHASES, compute_metrics, metrics_for_scoring
from .result import TABLE_COLUMNS, MetricsResult

__all__ = [
    "CONTRACT_METRICS",
    "METRICS",
    "PHASES",
    "TABLE_COLUMNS",
    "MetricsResult",
    "compute_metrics",
    "metric_info",
    "metrics_for_scoring",
]
