"""The rules engine: YAML rules validated into typed objects, compiled once into fast evaluators.

    from sync.rules import load_rules
    rules = load_rules(None)                      # the shipped default; a path for the admin's file
    decision = rules.evaluate(contact, now, memory)

See docs/rules.md for the file format and the decisions the engine makes.
"""

from sync.rules.decision import ContactMemory, Decision, FiredRule, SlaState, SlaStatus
from sync.rules.engine import (
    CompiledRules,
    ContactError,
    InvalidContact,
    default_rules_path,
    load_rules,
    rules_from_text,
    rules_version,
)
from sync.rules.schema import RulesFile, json_schema

__all__ = [
    "CompiledRules", "ContactError", "ContactMemory", "Decision", "FiredRule", "InvalidContact", "RulesFile",
    "SlaState", "SlaStatus", "default_rules_path", "json_schema", "load_rules", "rules_from_text",
    "rules_version",
]
