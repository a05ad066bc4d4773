"""What RevOps sees and acts on: the funnel and SLA report, and the calibration of the scoring weights.

Read-only over the state store (`sync.state.reporting`) and the rules' public interface (a Decision and the
rules it says fired); nothing here writes to a CRM or changes the rules in force. The chart library is imported
only by `sync.insight.charts`, which only the report command and the daemon's `/report` load.
"""
