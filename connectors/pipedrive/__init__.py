"""The Pipedrive connector: API v2 for persons, deals, activities and stages, v1 for person fields."""

from connectors.pipedrive.connector import PipedriveConnector
from connectors.pipedrive.settings import PipedriveOAuth, PipedriveSettings, Plan

__all__ = ["PipedriveConnector", "PipedriveOAuth", "PipedriveSettings", "Plan"]
