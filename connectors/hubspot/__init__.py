"""The hubspot connector."""
