"""What a pull reads, decided from what the org offers: each optional source the org lacks is switched off
with one warning naming what is lost and how to enable it (`org.OrgSchema.warn`), and the account runs.

The optional sources and what their absence costs:
- mapped Lead / Contact fields (the default mapping's qualification answers need, timing, budget, decision
  role, and seniority, are custom fields a stock org does not have): those values are unknown to the rules;
- Task and Event: no call, email, meeting or task is read, so no sales touch (the SLA is never met);
- CampaignMember (needs Read on Campaigns): no campaign response, so webinars, downloads and demo requests
  score nothing;
- OpportunityContactRole and Opportunity: no deal, so nobody becomes a client;
- the Opportunity fields the settings name (contract term, recurring flag, currency): unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connectors.salesforce.mapping import RecordMapper
from connectors.salesforce.org import Described, OrgSchema
from connectors.salesforce.related import (
    EVENT_COLUMNS,
    MEMBER_COLUMNS,
    ROLE_COLUMNS,
    TASK_COLUMNS,
    TASK_OPTIONAL,
    RelatedSource,
)
from connectors.salesforce.settings import SalesforceSettings

PARENTS = ("Lead", "Contact")
GRANT = "grant the integration user's profile or a permission set Read on"


LOST_PARENT = {"Lead": "leads are not read: only Contacts are scored (an org that keeps no leads loses nothing)",
               "Contact": "contacts are not read: only Leads are scored, and no deal is seen"}


def plan_pull(schema: OrgSchema, settings: SalesforceSettings, mapper: RecordMapper) -> tuple[
        dict[str, dict[str, str]], dict[str, dict[str, str]], dict[str, list[str]], list[RelatedSource]]:
    """(field paths, their describe types, select lists) per parent the user can read, and the related
    sources to read. Raises PermanentError when it can read neither Leads nor Contacts."""
    paths: dict[str, dict[str, str]] = {}
    types: dict[str, dict[str, str]] = {}
    columns: dict[str, list[str]] = {}
    readable = [sobject for sobject in PARENTS if _available(
        schema, schema.objects(), (sobject,), LOST_PARENT[sobject], f"{GRANT} {sobject}s")]
    if not readable:
        schema.require("Contact")  # raises, naming the permission to grant
    for sobject in readable:
        described = schema.require(sobject)
        paths[sobject] = _mapped_fields(schema, described, mapper.field_paths(sobject), sobject)
        types[sobject] = {path: kind for path in paths[sobject].values()
                          if (kind := described.type_of(path)) is not None}
        extra = ["IsConverted", "ConvertedContactId"] if sobject == "Lead" else []
        if sobject == "Lead":
            extra += [name for name in (settings.lead_rating_field, "Status") if name and described.has(name)]
        columns[sobject] = list(dict.fromkeys(["Id", "SystemModstamp", *extra, *paths[sobject].values()]))
    sources = [source for source in _related_sources(schema, settings)
               if any(source.relates_to(sobject) for sobject in readable)]
    return paths, types, columns, sources


def _mapped_fields(schema: OrgSchema, described: Described, wanted: Mapping[str, str],
                   sobject: str) -> dict[str, str]:
    kept = {name: path for name, path in wanted.items() if described.has(path)}
    missing = {name: path for name, path in wanted.items() if name not in kept}
    source = f"{sobject} fields"
    if missing:
        setting = "lead_fields" if sobject == "Lead" else "contact_fields"
        schema.warn(source, f"{', '.join(sorted(missing))} not read ({', '.join(sorted(set(missing.values())))} "
                            f"missing or without field-level security): the rules see them as unknown",
                    f"create {', '.join(sorted(set(missing.values())))} on {sobject} and grant the integration "
                    f"user Read on them, or map other fields in `{setting}`")
    else:
        schema.clear(source)
    return kept


def _related_sources(schema: OrgSchema, settings: SalesforceSettings) -> list[RelatedSource]:
    objects = schema.objects()
    sources: list[RelatedSource] = []
    if _available(schema, objects, ("Task",), "calls, emails and tasks are not read: no sales touch is seen "
                                              "and the SLA is never met", f"{GRANT} Tasks"):
        task = schema.describe("Task")
        task_columns = tuple(column for column in TASK_COLUMNS
                             if column not in TASK_OPTIONAL or (task is not None and task.has(column)))
        sources.append(RelatedSource("Task", task_columns, (("Lead", "WhoId"), ("Contact", "WhoId")),
                                     "activities"))
    if _available(schema, objects, ("Event",), "meetings are not read: no meeting counts as a touch",
                  f"{GRANT} Events"):
        sources.append(RelatedSource("Event", EVENT_COLUMNS, (("Lead", "WhoId"), ("Contact", "WhoId")),
                                     "activities"))
    if _available(schema, objects, ("CampaignMember",),
                  "campaign responses are not read: webinars, downloads, demo requests and other campaign "
                  "responses score nothing", f"{GRANT} Campaigns (which opens CampaignMember to it)"):
        sources.append(RelatedSource("CampaignMember", MEMBER_COLUMNS,
                                     (("Contact", "ContactId"), ("Lead", "LeadId")), "activities",
                                     condition="HasResponded = true"))
    if _available(schema, objects, ("OpportunityContactRole", "Opportunity"),
                  "opportunities are not read: no deal is seen, nobody becomes a client",
                  f"{GRANT} Opportunities"):
        sources.append(RelatedSource("OpportunityContactRole", tuple(_role_columns(schema, settings)),
                                     (("Contact", "ContactId"),), "deals"))
    return sources


def _available(schema: OrgSchema, objects: frozenset[str], needed: Sequence[str], lost: str, enable: str) -> bool:
    source = " and ".join(needed)
    if all(name in objects for name in needed):
        schema.clear(source)
        return True
    schema.warn(source, lost, enable)
    return False


def _role_columns(schema: OrgSchema, settings: SalesforceSettings) -> list[str]:
    """The roles' columns with the Opportunity fields the settings name, those the org has."""
    opportunity = schema.describe("Opportunity")
    columns = list(ROLE_COLUMNS)
    optional = {
        "contract_months_field": (settings.contract_months_field, "the contract length of deals is unknown: "
                                  "a client's kind is decided from the recurring flag and repeat wins only"),
        "recurring_field": (settings.recurring_field, "whether a deal recurs is unknown: a client's kind is "
                            "decided from contract length and repeat wins only"),
        "multi_currency": ("CurrencyIsoCode" if settings.multi_currency else None,
                           "deal amounts have no currency: amount conditions compare them as they are"),
    }
    for setting, (field, lost) in optional.items():
        source = f"Opportunity.{field}" if field else None
        if field is None or source is None:
            continue
        if opportunity is not None and opportunity.has(field):
            columns.append(f"Opportunity.{field}")
            schema.clear(source)
        else:
            enable = (f"create the field {field} on Opportunity and grant the integration user Read on it, or "
                      f"set `{setting}` to the org's own field (null to stop reading it)")
            if setting == "multi_currency":
                enable = "enable multiple currencies in the org, or set `multi_currency: false`"
            schema.warn(source, lost, enable)
    return columns
