"""The pipedrive connector."""
