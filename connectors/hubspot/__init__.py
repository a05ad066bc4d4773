"""The HubSpot connector: `HubSpotConnector` behind `sync.contract.Connector`, configured by `HubSpotSettings`."""

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.settings import HubSpotLimits, HubSpotSettings

__all__ = ["HubSpotConnector", "HubSpotLimits", "HubSpotSettings"]
