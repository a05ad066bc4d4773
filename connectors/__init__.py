"""One package per CRM behind the `sync.contract.Connector` protocol, plus the sandboxes that emulate them."""
