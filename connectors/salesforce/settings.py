"""Settings of one Salesforce org (one crmsync account), validated at the boundary.

Credentials arrive as `SecretStr`: the daemon resolves environment-variable or file references into
them, and they never print in a repr, a log line or a validation error. Defaults follow the API documentation
("API Request Limits and Allocations", "Query Options Header", "sObject Collections"):
the REST API version simple-salesforce targets (59.0), SOQL pages of 2,000 records (the documented
maximum of `Sforce-Query-Options: batchSize`), sObject Collections batches of 200 records, and the base
daily allocation of an Enterprise org (100,000 calls per rolling 24 h) until the first
`Sforce-Limit-Info` header tells the real figure.

The field mapping is data, not code: admins rename the crmsync custom fields, point a neutral profile
attribute at another Salesforce field, or map their own opportunity stage names onto the five canonical
pipeline stages without touching the connector.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from sync.contract import CanonicalField
from sync.model import PipelineStage, Stage
from sync.toolkit.vocabulary import folded
from sync.toolkit.settings import (ConnectorSettings, contract_months_option, option, pipeline_stages_option,
                                   recurring_field_option)

from connectors.salesforce.mapping import VOCABULARY

API_MAX_QUERY_BATCH = 2000  # Sforce-Query-Options batchSize maximum (and default)
API_MIN_QUERY_BATCH = 200  # ... and minimum
API_MAX_COLLECTION = 200  # records per sObject Collections call
API_MAX_METADATA = 10  # components per createMetadata call

DEFAULT_FIELD_MAP: dict[CanonicalField, str] = {
    CanonicalField.SCORE: "Crmsync_Score__c",
    CanonicalField.SCORE_FIT: "Crmsync_Score_Fit__c",
    CanonicalField.SCORE_ENGAGEMENT: "Crmsync_Score_Engagement__c",
    CanonicalField.SCORE_INTENT: "Crmsync_Score_Intent__c",
    CanonicalField.STAGE: "Crmsync_Stage__c",
    CanonicalField.MATURITY: "Crmsync_Maturity__c",
    CanonicalField.CLIENT_KIND: "Crmsync_Client_Kind__c",
    CanonicalField.CRITERIA_MET: "Crmsync_Criteria_Met__c",
    CanonicalField.SLA_STATUS: "Crmsync_SLA_Status__c",
    CanonicalField.SLA_DUE_AT: "Crmsync_SLA_Due__c",
    CanonicalField.SLA_BREACHED: "Crmsync_SLA_Breached__c",
    CanonicalField.REASON: "Crmsync_Reason__c",
    CanonicalField.RULES_VERSION: "Crmsync_Rules_Version__c",
}

# the custom fields the default org has alike on Lead and Contact: seniority and the qualification answers
PERSON_CUSTOM_FIELDS: dict[str, str] = {
    "seniority": "Seniority__c",
    "need": "Need__c",
    "timing": "Timing__c",
    "budget": "Budget__c",
    "decision_role": "Decision_Role__c",
}

# neutral name -> Lead field. Keys naming a `Contact` attribute fill it; any other key lands in
# `Contact.fields` (qualification answers and other custom data the rules read).
DEFAULT_LEAD_FIELDS: dict[str, str] = {
    "email": "Email",
    "owner_id": "OwnerId",
    "first_name": "FirstName",
    "last_name": "LastName",
    "company": "Company",
    "industry": "Industry",
    "company_size": "NumberOfEmployees",
    "job_title": "Title",
    "country": "Country",
    "source": "LeadSource",
    "created_at": "CreatedDate",
    "phone": "Phone",
    "city": "City",
    "website": "Website",
    "annual_revenue": "AnnualRevenue",
    **PERSON_CUSTOM_FIELDS,
}

# Contacts keep company data on their Account: relationship paths are read in the same SOQL.
DEFAULT_CONTACT_FIELDS: dict[str, str] = {
    "email": "Email",
    "owner_id": "OwnerId",
    "first_name": "FirstName",
    "last_name": "LastName",
    "company": "Account.Name",
    "industry": "Account.Industry",
    "company_size": "Account.NumberOfEmployees",
    "job_title": "Title",
    "country": "MailingCountry",
    "source": "LeadSource",
    "created_at": "CreatedDate",
    "phone": "Phone",
    "city": "MailingCity",
    "website": "Account.Website",
    "annual_revenue": "Account.AnnualRevenue",
    **PERSON_CUSTOM_FIELDS,
}

# the defaults of what a company customises come from the connector's one vocabulary table
DEFAULT_STAGE_MAP: dict[str, PipelineStage] = dict(VOCABULARY.stages)
DEFAULT_CAMPAIGN_EVENTS: dict[str, str] = dict(VOCABULARY.campaign_types)
DEFAULT_LEAD_SOURCES: dict[str, str] = dict(VOCABULARY.lead_sources)


class SalesforceSettings(ConnectorSettings):
    """One Salesforce org. Immutable once validated; a reload builds a new instance."""

    # --- where and who -----------------------------------------------------------------------------
    login_url: str = option(
        "https://login.salesforce.com", "OAuth host: login., test. or the org's My Domain; the token answer "
        "names the instance every later call goes to", "https://acme.my.salesforce.com")
    api_version: str = option("59.0", "the REST API version called", "59.0", pattern=r"^\d{2,3}\.0$")
    auth_flow: Literal["refresh_token", "client_credentials"] = option(
        "refresh_token", "OAuth 2.0 flow: refresh_token (a user authorised the connected app) or "
        "client_credentials (the app runs as its integration user)", "client_credentials")
    client_id: SecretStr = Field(
        description="connected app consumer key", examples=[{"env": "SALESFORCE_CLIENT_ID"}]
    )
    client_secret: SecretStr | None = option(None, "consumer secret (client_credentials; optional for "
                                                   "refresh_token with a public client)",
                                                   {"file": "/run/secrets/salesforce_client_secret"})
    refresh_token: SecretStr | None = option(None, "the refresh token of the refresh_token flow",
                                                   {"env": "SALESFORCE_REFRESH_TOKEN"})
    ca_bundle: Path | None = option(None, "PEM bundle to trust (a private CA or the sandbox's); verification "
                                          "is never switched off", "/etc/ssl/certs/corporate-ca.pem")

    # --- budgets -----------------------------------------------------------------------------------
    daily_limit: int = option(100_000, "rolling-24 h org allocation, until Sforce-Limit-Info reports the "
                                       "org's own", 100_000, gt=0)
    daily_reserve: int = option(1_000, "calls left for people and other integrations", 5_000, ge=0)
    daily_retry_after_s: float = option(3600.0, "when to look again once the allocation is spent (the window "
                                                "rolls; Salesforce names no reset)", 3600, gt=0)
    burst_calls: int = option(25, "client-side pacing: Salesforce documents no per-second limit, only 25 "
                                  "concurrent long requests per org", 25, gt=0)
    burst_window_s: float = option(1.0, "the pacing window, in seconds", 1, gt=0)
    throttle_retry_after_s: float = option(20.0, "wait after a concurrency refusal that names no Retry-After "
                                                 "(long requests run >= 20 s)", 20, gt=0)

    # --- sizes -------------------------------------------------------------------------------------
    page_size: int = option(API_MAX_QUERY_BATCH, "records per SOQL page (Sforce-Query-Options batchSize, 200 "
                                                 "to 2,000)",
                                                 2000, ge=API_MIN_QUERY_BATCH, le=API_MAX_QUERY_BATCH)
    batch_size: int = option(API_MAX_COLLECTION, "records per sObject Collections update; Salesforce's "
                                                 "maximum is 200", 200, ge=1, le=API_MAX_COLLECTION)
    max_query_chars: int = option(15_000, "encoded length of one SOQL URL with an Id IN (...) list; "
                                          "Salesforce answers 414 past ~16 kB", 15_000, ge=2_000, le=16_000)

    # --- write-back mapping --------------------------------------------------------------------------
    field_map: dict[CanonicalField, str | None] = option(
        DEFAULT_FIELD_MAP, "canonical field -> custom field on Lead and Contact; null: not written",
        {"score": "Lead_Score__c", "sla_breached": None})
    lead_rating_field: str | None = option("Rating", "Lead field that receives maturity as Hot/Warm/Cold; "
                                                     "null: not written", "Rating")
    lead_status_by_stage: dict[Stage, str] = option({}, "Lead Status value per crmsync stage; empty: Status "
                                                        "is left to sales",
                                                        {"prospect": "Working - Contacted"})

    # --- pull mapping ------------------------------------------------------------------------------
    lead_fields: dict[str, str] = option(
        DEFAULT_LEAD_FIELDS, "neutral name -> Lead field it is read from (contact attributes, or `fields` "
        "keys the rules read)", {"seniority": "Level__c"})
    contact_fields: dict[str, str] = option(
        DEFAULT_CONTACT_FIELDS, "neutral name -> Contact field or relationship path it is read from",
        {"company_size": "Account.NumberOfEmployees"})

    # --- pull mapping: opportunities and campaign responses --------------------------------------------
    stage_map: dict[str, PipelineStage] = pipeline_stages_option(DEFAULT_STAGE_MAP, "Opportunity StageName",
                                                                 {"Discovery Call": "discovery"})
    campaign_events: dict[str, str] = option(
        DEFAULT_CAMPAIGN_EVENTS, "Campaign Type -> engagement event type of a response",
        {"Webinar": "webinar"})
    recurring_field: str | None = recurring_field_option(
        "Type", "the Opportunity field", "a checkbox, or a picklist whose values `recurring_values`, "
        "`recurring_opportunity_types` and `one_off_opportunity_types` sort", "Is_Subscription__c")
    recurring_opportunity_types: tuple[str, ...] = option(
        ("Subscription", "Renewal", "Existing Customer - Renewal"), "values of `recurring_field` that make a "
        "deal recurring", ["Subscription", "Renewal"])
    one_off_opportunity_types: tuple[str, ...] = option(
        ("New Business", "One-off"), "values of `recurring_field` that make a deal one-off", ["New Business"])
    lead_sources: dict[str, str] = option(
        DEFAULT_LEAD_SOURCES, "LeadSource value -> the neutral source the rules read; a value not listed is "
        "read as it is", {"Web": "website_form", "Trade Show": "trade_show"})
    contract_months_field: str | None = contract_months_option("Contract_Term_Months__c",
                                                               "the Opportunity number field")
    corporate_currency: str | None = option(None, "currency of single-currency orgs (no CurrencyIsoCode "
                                                  "column exists there)", "EUR")
    multi_currency: bool = option(False, "the org has multiple currencies enabled (CurrencyIsoCode)", False)
    automation_user_ids: tuple[str, ...] = option((), "users whose tasks are marketing automation, never a "
                                                      "sales touch", ["005000000000AUTAAA"])

    # --- what the org offers -------------------------------------------------------------------------
    describe_every_s: float = option(
        3600.0, "how long what describe told (the objects and fields the integration user can read) is "
        "trusted before it is asked again; each object is described at most once per run", 3600, ge=60)

    @field_validator("login_url")
    @classmethod
    def _https_only(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(
                "login_url must be an https:// URL (Salesforce and simple-salesforce are HTTPS only)"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials_fit_the_flow(self) -> SalesforceSettings:
        if self.auth_flow == "refresh_token" and self.refresh_token is None:
            raise ValueError("auth_flow refresh_token needs refresh_token")
        if self.auth_flow == "client_credentials" and self.client_secret is None:
            raise ValueError("auth_flow client_credentials needs client_secret")
        if self.daily_reserve >= self.daily_limit:
            raise ValueError("daily_reserve must be below daily_limit")
        return self

    @cached_property
    def picklist_recurring(self) -> dict[str, bool]:
        """`recurring_opportunity_types` (True) and `one_off_opportunity_types` (False), folded once as
        `sync.toolkit.vocabulary` looks values up."""
        return folded({**{value: True for value in self.recurring_opportunity_types},
                       **{value: False for value in self.one_off_opportunity_types}})

    def custom_field(self, canonical: CanonicalField) -> str | None:
        return self.field_map.get(canonical)
