"""crmsync engine: rules, scheduling, state and the CLI. Connectors live in the sibling `connectors` package."""

__version__ = "0.1.0"
