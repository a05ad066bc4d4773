"""A person's value in a native field stays unless the policy gives the field to crmsync."""

import pytest

from sync.contract import FieldUpdate
from sync.toolkit.ownership import Ownership, Verdict, decide, needs_current_value, unknown_names

SHARED = Ownership.UNLESS_CHANGED_BY_PERSON


@pytest.mark.parametrize(("policy", "current", "last_written", "expected"), [
    (Ownership.ALWAYS, "Hot", "Cold", Verdict.WRITE),
    (Ownership.NEVER, None, None, Verdict.NOT_OWNED),
    (SHARED, None, None, Verdict.WRITE),                # the CRM holds nothing
    (SHARED, "", None, Verdict.WRITE),
    (SHARED, "Warm", "Warm", Verdict.WRITE),            # still what crmsync wrote last
    (SHARED, "Hot", "Warm", Verdict.KEEP_PERSON_VALUE),  # a person changed it
    (SHARED, "Hot", None, Verdict.KEEP_PERSON_VALUE),    # a person set it before crmsync ever wrote
    (SHARED, "Cold", "Warm", Verdict.UNCHANGED),        # already the target
])
def test_ownership_decisions(policy, current, last_written, expected):
    assert decide(policy, target="Cold", current=current, last_written=last_written) is expected


def test_the_crm_s_own_comparison_decides_sameness():
    verdict = decide(SHARED, target="cold", current="COLD", last_written=None,
                     same=lambda a, b: str(a).lower() == str(b).lower())
    assert verdict is Verdict.UNCHANGED


def test_only_the_shared_policy_needs_the_current_value():
    assert needs_current_value(SHARED)
    assert not needs_current_value(Ownership.ALWAYS) and not needs_current_value(Ownership.NEVER)


def test_unknown_names_are_those_the_update_does_not_hold():
    updates = [FieldUpdate("1", {"stage": "lead"}, crm_values={"lifecyclestage": "lead"}),
               FieldUpdate("2", {"stage": "lead"})]
    assert unknown_names(updates, lambda update: ["lifecyclestage"]) == {"2": ["lifecyclestage"]}
