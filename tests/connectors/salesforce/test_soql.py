"""The sandbox's SOQL engine against the SOQL and SOSL Reference: datetime literals at the second against stamps
kept to the millisecond ("Date Formats and Date Literals in WHERE"), and semi-joins / anti-joins with the
restrictions the reference lists ("Semi-Joins with IN and Anti-Joins with NOT IN")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.clock import FrozenClock

from connectors.sandbox.salesforce_soql import SoqlError
from connectors.sandbox.salesforce_store import Org


@pytest.fixture
def org(clock: FrozenClock) -> Org:
    return Org(clock)


def ids(org: Org, soql: str, *, include_deleted: bool = False) -> list[str]:
    return [row["Id"] for row in org.run(soql, include_deleted=include_deleted)]


def refused(org: Org, soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        org.run(soql, include_deleted=False)
    return caught.value


def test_stamps_keep_milliseconds_and_literals_compare_at_the_second(org, clock):
    clock.advance(timedelta(milliseconds=700))  # 09:00:00.700
    late = org.insert("Contact", {"LastName": "Late"})
    row = org.run(f"SELECT Id, SystemModstamp FROM Contact WHERE Id = '{late}'", include_deleted=False)[0]
    assert row["SystemModstamp"] == "2026-11-02T09:00:00.700+0000"
    assert ids(org, "SELECT Id FROM Contact WHERE SystemModstamp >= 2026-11-02T09:00:00Z") == [late]
    assert ids(org, "SELECT Id FROM Contact WHERE SystemModstamp > 2026-11-02T09:00:00Z") == [late]
    assert ids(org, "SELECT Id FROM Contact WHERE SystemModstamp >= 2026-11-02T09:00:01Z") == []
    assert ids(org, "SELECT Id FROM Contact WHERE SystemModstamp >= 2026-11-02T10:00:00+01:00") == [late]


@pytest.mark.parametrize("literal", ["2026-11-02T09:00:00.000Z", "2026-11-02T09:00:00.7Z", "2026-11-02T09:00:00",
                                     "2026-11-02T09:00:00+0000"])
def test_a_datetime_literal_outside_the_documented_formats_is_malformed(org, literal):
    assert refused(org, f"SELECT Id FROM Contact WHERE SystemModstamp >= {literal}").code == "MALFORMED_QUERY"


@pytest.fixture
def people(org):
    lead = org.insert("Lead", {"LastName": "Lead", "Company": "Acme"})
    contact = org.insert("Contact", {"LastName": "Contact"})
    other = org.insert("Contact", {"LastName": "Other", "MailingCity": "Twin Falls"})
    tasks = {who: org.insert("Task", {"WhoId": who, "Subject": "Call"}) for who in (lead, contact, other)}
    return lead, contact, other, tasks


def test_a_semi_join_on_the_polymorphic_who_id_selects_the_tasks_of_those_people(org, people):
    lead, contact, other, tasks = people
    by_city = "SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact WHERE MailingCity = 'Twin Falls')"
    assert ids(org, by_city) == [tasks[other]]
    assert ids(org, "SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Lead)") == [tasks[lead]]
    anti = "SELECT Id FROM Task WHERE WhoId NOT IN (SELECT Id FROM Contact) AND Subject = 'Call'"
    assert ids(org, anti) == [tasks[lead]]
    two = ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact) "
           "AND WhoId NOT IN (SELECT Id FROM Contact WHERE MailingCity = 'Twin Falls')")
    assert ids(org, two) == [tasks[contact]]


def test_a_semi_join_ignores_deleted_rows_of_its_subquery(org, people):
    lead, contact, other, tasks = people
    org.delete("Contact", other)
    assert ids(org, "SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact)") == [tasks[contact]]


@pytest.mark.parametrize(("soql", "says"), [
    ("SELECT Id FROM Contact WHERE Id IN (SELECT WhoId FROM Task)", "Entity 'Task' is not supported"),
    ("SELECT Id FROM Contact WHERE Id IN (SELECT WhoId FROM Event)", "Entity 'Event' is not supported"),
    ("SELECT Id FROM Task WHERE Subject = 'x' OR WhoId IN (SELECT Id FROM Contact)", "'OR' operator"),
    ("SELECT Id FROM Task WHERE NOT WhoId IN (SELECT Id FROM Contact)", "NOT"),
    ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact) AND WhoId IN (SELECT Id FROM Lead) "
     "AND OwnerId IN (SELECT Id FROM User)", "Maximum 2"),
    ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact ORDER BY Id)", "ORDER"),
    ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact LIMIT 5)", "LIMIT"),
    ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact WHERE AccountId IN (SELECT Id FROM Account))",
     "Nesting"),
    ("SELECT Id FROM Task WHERE Subject IN (SELECT Id FROM Contact)", "cannot use: 'Subject'"),
    ("SELECT Id FROM Task WHERE WhoId IN (SELECT LastName FROM Contact)", "cannot use: 'LastName'"),
    ("SELECT Id FROM Task WHERE WhoId IN (SELECT Account.Id FROM Contact)", "cannot use: 'Account.Id'"),
    ("SELECT Id FROM Task WHERE WhoId IN (SELECT Id, AccountId FROM Contact)", "one field"),
    ("SELECT Id FROM Contact WHERE Id IN (SELECT Id FROM Contact)", "main query's object"),
])
def test_what_the_reference_forbids_in_semi_joins_is_refused_as_malformed(org, people, soql, says):
    error = refused(org, soql)
    assert error.code == "MALFORMED_QUERY" and says in str(error)


def test_an_unknown_column_in_a_subquery_is_an_invalid_field(org):
    error = refused(org, "SELECT Id FROM Task WHERE WhoId IN (SELECT Id FROM Contact WHERE Nope__c = 1)")
    assert error.code == "INVALID_FIELD"
