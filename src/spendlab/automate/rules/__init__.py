"""Rule spec, shared feature tables, compilation to Ibis and evaluation."""

from spendlab.automate.rules.evaluate import Evaluation, evaluate
from spendlab.automate.rules.spec import Rule, load_rules, parse_rules

__all__ = ["Evaluation", "Rule", "evaluate", "load_rules", "parse_rules"]
