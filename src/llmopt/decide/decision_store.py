"""Persisted decisions and their audit trail, in the metrics database (SQLAlchemy).

States: proposed → approved | rejected | expired → published → monitoring → confirmed | rolled_back.
Every transition is an event row: when, by whom (a person or `policy:…`), with what note and config version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, insert, select, \
    update

from sqlalchemy.engine import Engine

from llmopt.domain import Change, ChangeState, DecisionState
from llmopt.extract.sql_source import missing_sqlite_file

S = DecisionState
TRANSITIONS: dict[DecisionState, set[DecisionState]] = {
    S.PROPOSED: {S.APPROVED, S.REJECTED, S.EXPIRED}, S.APPROVED: {S.PUBLISHED}, S.PUBLISHED: {S.MONITORING},
    S.MONITORING: {S.CONFIRMED, S.ROLLED_BACK},
    S.REJECTED: set(), S.EXPIRED: set(), S.CONFIRMED: set(), S.ROLLED_BACK: set()}


class DecisionStateError(ValueError):
    """A transition the lifecycle does not allow (e.g. approving a rejected decision)."""


def check_transition(decision_id: int, state: str, to_state: str) -> None:
    """Raise `DecisionStateError` unless a decision in `state` may become `to_state`."""
    allowed = sorted(map(str, TRANSITIONS[DecisionState(state)]))
    if to_state not in allowed:
        raise DecisionStateError(f"decision {decision_id} is {state}; it cannot become {to_state}"
                                 f" (allowed: {', '.join(allowed) or 'none, it is final'})")


@dataclass(frozen=True)
class Decision:
    """One persisted decision."""

    id: int
    service: str
    task_type: str
    strategy: str
    from_route: dict
    to_route: dict
    state: DecisionState
    evidence: dict
    expected_savings_usd_per_day: float
    config_version: int | None
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", DecisionState(self.state))

    def approved_change(self, decided_by: str, decided_at: str) -> Change:
        """The decision as the approved change a run would have published (its routes, settings and evidence).

        Args:
            decided_by: who approved it (`person:<name>`).
            decided_at: when, ISO 8601.
        """
        def split(route: dict) -> tuple[str, str, dict | None]:
            rest = {k: v for k, v in route.items() if k not in ("model", "provider")}
            return route["model"], route["provider"], rest or None

        (from_model, from_provider, from_settings), (to_model, to_provider, to_settings) = \
            split(self.from_route), split(self.to_route)
        return Change(self.service, self.task_type, self.strategy, from_model, from_provider, to_model, to_provider,
                      self.expected_savings_usd_per_day or 0.0, self.evidence, ChangeState.APPROVED, decided_by,
                      decided_at, self.id, from_settings, to_settings)


class DecisionStore:
    """Decisions and their events in two tables next to the request log."""

    def __init__(self, database_url: str, prefix: str = "llmopt", engine: Engine | None = None):
        self.engine = engine if engine is not None else create_engine(database_url)
        meta = MetaData()
        self.decisions = Table(
            f"{prefix}_decisions", meta,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("service", String(200), nullable=False), Column("task_type", String(200), nullable=False),
            Column("strategy", String(40), nullable=False), Column("from_route", JSON, nullable=False),
            Column("to_route", JSON, nullable=False), Column("state", String(20), nullable=False),
            Column("evidence", JSON, nullable=False), Column("expected_savings_usd_per_day", JSON),
            Column("config_version", Integer), Column("created_at", DateTime(timezone=True), nullable=False),
            Column("updated_at", DateTime(timezone=True), nullable=False))
        self.events = Table(
            f"{prefix}_decision_events", meta,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("decision_id", Integer, nullable=False, index=True),
            Column("at", DateTime(timezone=True), nullable=False), Column("from_state", String(20)),
            Column("to_state", String(20), nullable=False), Column("actor", String(200), nullable=False),
            Column("note", Text), Column("config_version", Integer))
        if (missing := missing_sqlite_file(self.engine)) is not None:   # llmopt's own store: made when first used
            missing.parent.mkdir(parents=True, exist_ok=True)
        meta.create_all(self.engine, checkfirst=True)

    def propose(self, change: Change, actor: str, now: datetime | None = None) -> int:
        """Persist a change as `proposed`; returns its id."""
        now = now or datetime.now(timezone.utc)
        evidence = json.loads(json.dumps(change.evidence, default=str, allow_nan=True).replace("NaN", "null"))
        with self.engine.begin() as conn:
            decision_id = conn.execute(insert(self.decisions).values(
                service=change.service, task_type=change.task_type, strategy=change.strategy,
                from_route={"model": change.from_model, "provider": change.from_provider,
                            **(change.from_settings or {})},
                to_route={"model": change.to_model, "provider": change.to_provider, **(change.to_settings or {})},
                state="proposed",
                evidence=evidence, expected_savings_usd_per_day=change.expected_savings_usd_per_day,
                created_at=now, updated_at=now)).inserted_primary_key[0]
            conn.execute(insert(self.events).values(decision_id=decision_id, at=now, from_state=None,
                                                    to_state="proposed", actor=actor, note=None))
        return int(decision_id)

    def open_proposal(self, change: Change) -> int | None:
        """The id of a still-proposed decision for the same switch, so hourly runs don't pile up duplicates."""
        d = self.decisions.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(d.id, d.from_route, d.to_route).where(
                d.state == "proposed", d.service == change.service, d.task_type == change.task_type,
                d.strategy == change.strategy).order_by(d.id)).all()
        wanted = ({"model": change.from_model, "provider": change.from_provider, **(change.from_settings or {})},
                  {"model": change.to_model, "provider": change.to_provider, **(change.to_settings or {})})
        return next((int(i) for i, f, t in rows if (f, t) == wanted), None)

    def transition(self, decision_id: int, to_state: str, actor: str, note: str | None = None,
                   config_version: int | None = None, now: datetime | None = None) -> Decision:
        """Move a decision to `to_state`, recording who did it and why.

        Raises:
            DecisionStateError: unknown decision, or a transition the lifecycle forbids.
        """
        now = now or datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            row = conn.execute(select(self.decisions).where(self.decisions.c.id == decision_id)
                               .with_for_update()).mappings().first()
            if row is None:
                raise DecisionStateError(f"decision {decision_id} does not exist")
            check_transition(decision_id, row["state"], to_state)
            values = {"state": to_state, "updated_at": now}
            if config_version is not None:
                values["config_version"] = config_version
            conn.execute(update(self.decisions).where(self.decisions.c.id == decision_id).values(**values))
            conn.execute(insert(self.events).values(decision_id=decision_id, at=now, from_state=row["state"],
                                                    to_state=to_state, actor=actor, note=note,
                                                    config_version=config_version))
        return self.get(decision_id)

    def get(self, decision_id: int) -> Decision:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.decisions).where(self.decisions.c.id == decision_id)).mappings().first()
        if row is None:
            raise DecisionStateError(f"decision {decision_id} does not exist")
        return Decision(**dict(row))

    def list(self, state: str | None = None, service: str | None = None) -> list[Decision]:
        query = select(self.decisions).order_by(self.decisions.c.id)
        if state:
            query = query.where(self.decisions.c.state == state)
        if service:
            query = query.where(self.decisions.c.service == service)
        with self.engine.connect() as conn:
            return [Decision(**dict(r)) for r in conn.execute(query).mappings()]

    def history(self, decision_id: int) -> list[dict]:
        """The audit trail of one decision, oldest first."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(self.events).where(self.events.c.decision_id == decision_id)
                                                  .order_by(self.events.c.id)).mappings()]
