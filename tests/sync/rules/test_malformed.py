"""Every file under malformed/ is rejected, with the problem at the right line and column.

The table is the corpus' sidecar: file -> the `LINE:COL: message` fragment its first reported problem must
contain. A file added to the folder without a row here fails `test_every_file_has_an_expectation`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.rules import load_rules

MALFORMED = Path(__file__).parent / "malformed"

EXPECTED = {
    "yaml_syntax_unclosed_flow": "6:46: YAML syntax error: while parsing a flow sequence",
    "yaml_duplicate_key": '10:3: YAML syntax error: while constructing a mapping found duplicate key "fit"',
    "yaml_tab_indent": "7:1: YAML syntax error: while scanning for the next token",
    "not_a_mapping": "1:1: Input should be a valid dictionary",
    "unknown_operator": "8:11: unknown key 'equals' (did you mean 'eq'?)",
    "unknown_condition_kind": "6:9: scoring.fit.rules.0.when: a condition is a mapping with one of the keys",
    "unknown_field": "6:16: scoring.fit.rules.0.when.field: unknown field 'indstry'",
    "wrong_type_points": "7:9: scoring.fit.rules.0.points: Input should be a valid number",
    "duplicate_rule_names": "11:9: duplicate rule name 'target_industry' (first used on line 5)",
    "regex_does_not_compile": "6:34: scoring.fit.rules.0.when.matches: regular expression rejected: not a pattern "
                              "RE2 can run: missing ): (ciso|cto",
    "caps_do_not_add_up": "1:1: the dimension caps must add up to 100",
    "unknown_framework": "11:3: qualification.framework: Input should be 'bant', 'meddic' or 'gpct'",
    "bad_time_zone": "19:5: sla.calendar.timezone: unknown time zone 'Europe/Pariss'",
    "unknown_holiday_country": "19:16: no public holidays known for country 'XX'",
    "unknown_subdivision": "19:29: unknown subdivision 'ZZ' for US",
    "number_operator_on_text_field": "6:33: gte needs a number or date field; 'industry' is text",
    "date_operator_on_number_field": "6:37: within_days does not apply to 'company_size', a number",
    "unknown_ref": "6:16: unknown condition 'target_market'",
    "ref_cycle": "2:3: conditions refer to each other in a loop: a -> b -> a",
    "score_inside_scoring_rule": "6:16: scoring rules cannot test a score",
    "both_when_and_per_event": "5:9: scoring.fit.rules.0: rule 'target_industry' needs exactly one of when or per_event",
    "missing_scoring": "1:1: missing required key 'scoring'",
    "unknown_bant_criterion": "17:7: unknown BANT criterion 'budgte'",
    "required_criterion_without_condition": "13:41: required BANT criterion 'budget' has no condition",
    "chosen_framework_not_defined": "11:3: framework 'meddic' is chosen but has no section qualification.meddic",
    "day_end_before_day_start": "18:3: sla.calendar: day_start 18:00 must be before day_end 09:00",
    "bad_hour_format": "19:5: sla.calendar.day_start: String should match pattern",
    "decay_windows_out_of_order": "11:7: decay windows must be listed from the shortest to the longest",
    "at_most_below_at_least": "6:54: at_most (1) is below at_least (3)",
    "two_operators_in_one_condition": "6:9: scoring.fit.rules.0.when: one operator per field condition (got in, contains)",
    "unknown_top_level_section": "17:1: unknown key 'scorring' (did you mean 'scoring'?)",
    "cap_above_100": "3:5: scoring.fit.cap: Input should be less than or equal to 100",
    "unknown_activity_kind": "6:42: scoring.fit.rules.0.when.activities.kind.1: Input should be 'call', 'email'",
    "bad_rule_name": "5:9: scoring.fit.rules.0.name: String should match pattern",
    # files no input can break: each answered quickly, in bounded memory, with a located message
    "points_true": "7:9: scoring.fit.rules.0.points: Input should be a valid number",
    "regex_repeat_count_2_32": "6:34: scoring.fit.rules.0.when.matches: regular expression rejected: repeat count "
                               "4294967296 is above 1000",
    "regex_nested_groups_5000": "6:34: scoring.fit.rules.0.when.matches: regular expression rejected: the pattern "
                                "is 10,001 characters long",
    "regex_backreference": "6:34: scoring.fit.rules.0.when.matches: regular expression rejected: not a pattern RE2 "
                           "can run: invalid escape sequence: \\1 (backreferences are not supported",
    "regex_look_ahead": "6:34: scoring.fit.rules.0.when.matches: regular expression rejected: not a pattern RE2 can "
                        "run: invalid perl operator: (?= (look-ahead and look-behind are not supported",
    "nested_not_300": "6:369: nested more than 64 levels deep",
    "deep_yaml": "1:73: nested more than 64 levels deep",
    "billion_laughs": "2:56: aliases expand to more than 200,000 values",
    "ref_chain_5000": "2:3: conditions nest 5,001 levels deep, counting the named conditions they refer to",
    "ref_doubling": "2:3: this condition takes more than 10,000 tests to evaluate",
    "closed_date_does_not_exist": "19:32: sla.calendar.closed_dates.1: Input should be a valid date or datetime, "
                                  "day value is outside expected range",
    "time_zone_5000_characters": "19:5: sla.calendar.timezone: String should have at most 64 characters",
    "buying_window_on_a_number": "6:37: buying_window does not apply to 'company_size', a number",
    "buying_window_over_120_months": "6:38: scoring.fit.rules.0.when.buying_window: Input should be less than or "
                                     "equal to 120",
    "not_utf8": "5:18: not UTF-8 text (invalid continuation byte at byte 56)",
}


def test_every_file_has_an_expectation() -> None:
    files = {path.stem for path in MALFORMED.glob("*.yaml")}
    assert len(files) >= 45
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_is_rejected_at_the_right_place(name: str) -> None:
    path = MALFORMED / f"{name}.yaml"
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    reported = [str(issue) for issue in info.value.issues]
    assert all(line.startswith(f"{path}:") for line in reported)
    assert any(EXPECTED[name] in line for line in reported), reported


def test_a_10_mb_rules_file_is_refused_for_its_size(tmp_path: Path) -> None:
    """Generated here rather than kept in the corpus: 10 MB of valid rules (they took 7 minutes and 1.5 GB)."""
    rule = "      - {name: extra_%d, when: {field: industry, in: [software, finance]}, points: 0.01}\n"
    body = "".join(rule % index for index in range(140_000))
    path = tmp_path / "huge.yaml"
    path.write_text((MALFORMED.parent / "malformed" / "wrong_type_points.yaml").read_text()
                    .replace("    rules:\n", "    rules:\n" + body, 1))
    assert path.stat().st_size > 10_000_000
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert [str(issue) for issue in info.value.issues] == [
        f"{path}:1:1: the file is larger than 262,144 bytes, the most crmsync reads (this kind of file is a few KB)"]
