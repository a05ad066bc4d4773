"""Sandbox CRMs: local servers that speak the HubSpot, Salesforce and Pipedrive APIs, for tests and the demo."""
