"""The words every stage shares: the run's window, a change, strategy and state names, the store's key layout."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum


class Strategy(StrEnum):
    """Where a change comes from (the `strategy` of a change, a decision and a config's `changes` entry)."""

    ROUTING = "routing"
    EXPERIMENT = "experiment"
    CASCADE = "cascade"
    RELIABILITY = "reliability"
    MAX_TOKENS = "max_tokens"
    PROMPT_CACHING = "prompt_caching"
    ROLLBACK = "rollback"
    EXPLORATION = "exploration"
    CANARY = "canary"


class ChangeState(StrEnum):
    """A change in a run: `approved` is publishable; `pending` waits for a person; the others end it."""

    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"
    EXPIRED = "expired"


class DecisionState(StrEnum):
    """A persisted decision: proposed → approved | rejected | expired → published → monitoring → confirmed | rolled_back."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    PUBLISHED = "published"
    MONITORING = "monitoring"
    CONFIRMED = "confirmed"
    ROLLED_BACK = "rolled_back"


def redact_url(url: str) -> str:
    """`url` with any password in it replaced by `***` (for logs, errors, MLflow params and reports)."""
    return re.sub(r"(?P<scheme>[A-Za-z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]*)@",
                  lambda m: f"{m['scheme']}{m['user']}:***@", url)


def last_complete_hour(now: datetime | None = None) -> datetime:
    """Start of the hour before the current one, in UTC."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def utc(ts: datetime) -> datetime:
    """`ts` in UTC; a naive timestamp is taken to be UTC already."""
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


@dataclass(frozen=True)
class Window:
    """The half-open time window [start, end) a run looks at, in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def resolve(cls, start: datetime | None = None, end: datetime | None = None,
                now: datetime | None = None) -> Window:
        """Default: the last complete hour. Only `start`: one hour from it. Only `end`: the hour before it.

        Raises:
            ValueError: `end` is not after `start`.
        """
        if start is None and end is None:
            start = last_complete_hour(now)
        if start is None:
            start = utc(end) - timedelta(hours=1)
        if end is None:
            end = utc(start) + timedelta(hours=1)
        start, end = utc(start), utc(end)
        if end <= start:
            raise ValueError(f"window: end {end.isoformat()} must be after start {start.isoformat()}")
        return cls(start, end)

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def label(self) -> str:
        return f"window {self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True)
class Change:
    """A proposed configuration change with its evidence and decision.

    `state` is `approved` (publishable) or `pending` (waits for a person; nothing is published).
    `from_settings` / `to_settings` carry what a settings strategy changes (timeout_s, retries,
    fallbacks, max_tokens, prompt_caching, cascade), beside the model and provider.
    """

    service: str
    task_type: str
    strategy: Strategy
    from_model: str
    from_provider: str
    to_model: str
    to_provider: str
    expected_savings_usd_per_day: float
    evidence: dict
    state: ChangeState
    decided_by: str
    decided_at: str
    decision_id: int | None = None
    from_settings: dict | None = None
    to_settings: dict | None = None

    def __post_init__(self) -> None:
        # parse once at the boundary: a bare string becomes its enum, an unknown one fails here
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        object.__setattr__(self, "state", ChangeState(self.state))

    @property
    def target(self) -> dict:
        """What the change moves to: model, provider and its settings (a decision's `to_route`)."""
        return {"model": self.to_model, "provider": self.to_provider, **(self.to_settings or {})}

    @property
    def origin(self) -> dict:
        """What the change moves from (a decision's `from_route`)."""
        return {"model": self.from_model, "provider": self.from_provider, **(self.from_settings or {})}

    def to_config_entry(self) -> dict:
        """The change as it appears in a published config."""
        return {
            "strategy": str(self.strategy), "task_type": self.task_type, "from": self.origin, "to": self.target,
            "expected_savings_usd_per_day": round(self.expected_savings_usd_per_day, 6),
            "evidence": self.evidence,
            "decision": {"state": str(self.state), "by": self.decided_by, "at": self.decided_at,
                         "id": self.decision_id},
        }

    def to_dict(self) -> dict:
        return asdict(self)


class ConfigKeys:
    """The config store's layout, in one place.

    `<service>/v<version:06d>.json` (immutable), `<service>/v<version:06d>.<export>`, and the pointers
    `<service>/latest.json` / `<service>/latest.<export>`, written last.
    """

    VERSION = re.compile(r"^(?P<service>[^/]+)/v(?P<version>\d{6})\.json$")
    # the contract quarantines other service names; this guard keeps a key inside its store whatever the caller
    SAFE_NAME = re.compile(r"^[^\W_][\w.-]{0,127}$")

    @classmethod
    def version(cls, service: str, version: int, suffix: str = "json") -> str:
        return f"{cls.safe(service)}/v{version:06d}.{suffix}"

    @classmethod
    def latest(cls, service: str, suffix: str = "json") -> str:
        return f"{cls.safe(service)}/latest.{suffix}"

    @classmethod
    def safe(cls, service: str) -> str:
        """`service` if it can be a key prefix (no `/`, no leading `.`), else ValueError naming it."""
        if not cls.SAFE_NAME.match(service):
            raise ValueError(f"service {service!r} cannot name a config: letters, digits, '.', '_', '-' only")
        return service

    @classmethod
    def parse_version(cls, key: str) -> tuple[str, int] | None:
        """(service, version) of a version file's key, or None for any other key."""
        m = cls.VERSION.match(key)
        return (m["service"], int(m["version"])) if m else None
