"""Setup problems that switch a feature off without stopping the account: a maturity label missing from the
account, a custom field its plan refused to create, a recurring-deal field that does not exist.

Each used to be an INFO line nobody reads while a feature silently did nothing. Each is now a
`sync.contract.SetupWarning` (what is missing, what is lost, how to get it back) that stays in the
connector's `setup_warnings` for as long as it holds: the engine logs it once as a WARNING and keeps it for
`crmsync status`. A topic is cleared
when it is checked again (the next `ensure_fields`), so a fixed problem leaves the list.
"""

from __future__ import annotations

import threading

import structlog

from sync.contract import SetupWarning

log = structlog.get_logger("crmsync.pipedrive")


class SetupWarnings:
    """The current setup warnings of one account, by topic (fields, labels, deals). Thread-safe."""

    def __init__(self, crm: str, account: str) -> None:
        self.crm = crm
        self.account = account
        self._by_topic: dict[str, list[SetupWarning]] = {}
        self._lock = threading.Lock()

    def add(self, topic: str, warning: SetupWarning) -> str:
        """Record `warning` under `topic`; logged as a warning the first time it appears. Returns its text."""
        with self._lock:
            held = self._by_topic.setdefault(topic, [])
            if warning in held:
                return str(warning)
            held.append(warning)
        # the engine logs each new warning once as a WARNING, the same way for every CRM (and keeps it for
        # `crmsync status`): here a debug line only, so an operator reads it once
        log.debug("setup_warning", crm=self.crm, account=self.account, topic=topic, message=str(warning))
        return str(warning)

    def clear(self, topic: str) -> None:
        """Forget `topic`: it is being checked again."""
        with self._lock:
            self._by_topic.pop(topic, None)

    @property
    def warnings(self) -> list[SetupWarning]:
        with self._lock:
            return [warning for held in self._by_topic.values() for warning in held]

    @property
    def messages(self) -> list[str]:
        return [str(warning) for warning in self.warnings]


__all__ = ["SetupWarnings"]
