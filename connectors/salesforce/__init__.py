"""The Salesforce connector: Leads and Contacts with their opportunities, tasks, events and campaign
responses, pulled incrementally by SystemModstamp and written back through sObject Collections."""

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.settings import SalesforceSettings

__all__ = ["SalesforceConnector", "SalesforceSettings"]
