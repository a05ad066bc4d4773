"""SLA reminders and escalation, written into each CRM.

Before a prospect's SLA is due, a task for its owner in the CRM where the contact lives; on breach, a task
for the owner's manager (or a configured user) and a signed webhook. Each is an outbox entry of its own
(`sync.state.reminders`), decided by the SLA sweep (`run.py`) from the SLA clocks the decisions left, and
done exactly once across crashes: a task carries a marker the CRM can be searched for. The webhook is
delivered by its own job (`sync.webhook`), never by the sync.
"""
