"""The rules engine: YAML rules validated into typed objects, compiled once into fast evaluators."""
