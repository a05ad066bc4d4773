"""The state store: cursors, snapshots, last pushed values, SLA timers, audit log, run history."""
