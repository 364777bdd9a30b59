"""Scoring: rule sets (TOML) applied to unit metrics — points, totals, ranks, outcomes, triggers, trails.

Stage four of the pipeline (DESIGN.md): it takes the wide metrics frame of one phase and year and
returns plain frames. Nothing here reads workspace data or calls the CLI.

>>> from farmland.scoring import calendar_text, load_rules, robustness, score, what_if
>>> rules = load_rules(phase="annual")            # the shipped default (聊政办发〔2018〕17号 第八条)
>>> result = score(metrics.wide(level="county", phase="annual"), rules, year=2020,
...                evidence=metrics)               # doctest: +SKIP
>>> print(explain_unit(result, "371521"))          # doctest: +SKIP
>>> print(robustness(result).to_text("371521"))    # doctest: +SKIP
>>> print(what_if(wide, rules, ["371521.supplemented_mu+=120"]).to_text())  # doctest: +SKIP
>>> print(calendar_text(2016))                     # doctest: +SKIP
"""

from farmland.scoring.engine import RuleOutcome, ScoreResult, score
from farmland.scoring.explain import annotated_trail, explain_unit
from farmland.scoring.robust import Robustness, boundaries, rank_intervals, robustness
from farmland.scoring.rules import (
    KNOWN_METRICS,
    PHASES,
    RULE_KINDS,
    BasisPolicy,
    Band,
    Fold,
    Grade,
    Outcome,
    Outcomes,
    Rule,
    RuleSet,
    default_rules_path,
    load_rules,
    loads_rules,
)
from farmland.scoring.schedule import calendar, calendar_text
from farmland.scoring.triggers import find_triggers
from farmland.scoring.whatif import Assumption, WhatIf, load_assumptions, parse_assumption, what_if

__all__ = [
    "Assumption",
    "KNOWN_METRICS",
    "PHASES",
    "RULE_KINDS",
    "Band",
    "BasisPolicy",
    "Fold",
    "Grade",
    "Outcome",
    "Outcomes",
    "Rule",
    "RuleOutcome",
    "RuleSet",
    "Robustness",
    "ScoreResult",
    "WhatIf",
    "boundaries",
    "calendar",
    "calendar_text",
    "annotated_trail",
    "explain_unit",
    "find_triggers",
    "default_rules_path",
    "load_assumptions",
    "load_rules",
    "loads_rules",
    "parse_assumption",
    "rank_intervals",
    "robustness",
    "score",
    "what_if",
]
