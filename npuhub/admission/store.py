"""Persistence of the admission: every state change one transaction, and a full reload after a crash.

The service is the only writer. After each call into the core it commits what
changed (requests, ledger entries, budget accounts, reservations, fair-share
usage) in one transaction. If that fails, the database holds the state before
the call: the service reloads from it (``open``), so nothing half-done survives
and nothing is granted twice. The pool is never stored: it is rebuilt from the
granted requests.
"""

from __future__ import annotations

from fractions import Fraction
from importlib import resources
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from ..pool import Grant
from ..shares import format_share
from ..site_config import SiteConfig
from ..sqlite_wal import sqlite_durable_wal
from . import tables as t
from .clusters import Cluster
from .core import Admission
from .model import CoreState, Request, Reservation, State
from .quota import WINDOW, Account, QuotaRule

__all__ = ["AdmissionStore", "StoreUnavailable", "upgrade"]

ACTIVE = (State.WAITING.value, State.GRANTED.value)


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the transaction; nothing was written."""


def _frac(value) -> Fraction:
    return Fraction(value) if value is not None else Fraction(0)


def _text(value: Fraction) -> str:
    return format_share(value) if value > 0 and (value <= 1 or value.denominator == 1) else str(value)


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (alembic), creating it on an empty database."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("npuhub.admission") / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


class AdmissionStore:
    """Loads an Admission from the database and commits its changes."""

    def __init__(self, db_url: str, **engine_kwargs):
        if db_url.startswith("sqlite"):
            engine_kwargs.setdefault("connect_args", {"timeout": 30})
        else:
            engine_kwargs.setdefault("pool_pre_ping", True)
        self.engine = sa.create_engine(db_url, **engine_kwargs)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", sqlite_durable_wal)
        self._upserts = _upsert_statements(self.engine.dialect.name)
        #: the meta rows as last committed (each is written only when it changes)
        self._meta_written: dict[str, str] = {}
        self._migrated = False

    def _ensure_schema(self) -> None:
        if not self._migrated:
            upgrade(self.engine)
            self._migrated = True

    # -- loading ----------------------------------------------------------------------
    def open(self, site: SiteConfig, clock: Callable[[], float], **admission_kwargs) -> Admission:
        """A fresh Admission with the stored state: active requests, reservations, budgets, usage."""
        try:
            self._ensure_schema()
            with self.engine.connect() as db:
                adm = Admission(site, clock, **admission_kwargs)
                self._load(db, adm)
        except SQLAlchemyError as e:
            raise StoreUnavailable(str(e).splitlines()[0]) from e
        return adm

    def _load(self, db, adm: Admission) -> None:
        meta = {row.key: row.value for row in db.execute(sa.select(t.meta))}
        self._meta_written = dict(meta)
        state = CoreState(seq=int(meta.get("seq", 0)),
                          session_mean=float(meta.get("session_mean", adm.default_session)))
        for row in db.execute(sa.select(t.accounts)):
            rule = row.rule
            adm.budgets.accounts[row.name] = Account(
                row.name,
                QuotaRule(rule["scope"], frozenset(rule.get("groups", [])), Fraction(rule["device_hours"]),
                          rule["period"], Fraction(rule["cap"]) if rule.get("cap") is not None else None,
                          rule.get("starts")),
                Fraction(row.balance), row.period_end)
            if rule["period"] == WINDOW:
                adm.budgets.windows.add(row.name)
        for row in db.execute(sa.select(t.usage)):
            adm.fairshare.load(row.account, row.value, row.at)
        reservations = [Reservation(row.id, row.group, row.flavor, row.count, row.starts, row.ends, row.created_by,
                                    row.hold)
                        for row in db.execute(sa.select(t.reservations).where(t.reservations.c.ended.is_(False)))]
        requests = [_request_from_row(row) for row in db.execute(
            sa.select(t.requests).where(t.requests.c.state.in_(ACTIVE)).order_by(t.requests.c.seq))]
        adm.restore(state, requests, reservations)
        adm.restore_clusters(_cluster_from_row(row) for row in db.execute(
            sa.select(t.clusters).where(t.clusters.c.state != "closed")))
        # sessions still running on a reservation whose window ended: when it ended (stopped after it)
        ended = {r.reservation for r in requests if r.reservation} - adm.reservation_ends.keys()
        if ended:
            adm.reservation_ends.update({row.id: row.ends for row in db.execute(
                sa.select(t.reservations.c.id, t.reservations.c.ends).where(t.reservations.c.id.in_(sorted(ended))))})
        adm.schedule()  # reservations' placeholders, and anything that fits after a restart

    # -- committing ---------------------------------------------------------------------
    def commit(self, adm: Admission) -> None:
        """Write every change the core made since the last commit, in one transaction."""
        changed = [adm.requests[i] for i in sorted(adm.dirty) if i in adm.requests]
        entries = list(adm.budgets.pending)
        account_names = {e["account"] for e in entries}
        usage_names = set(adm.fairshare.dirty)
        reservation_ids = set(adm.dirty_reservations)
        state = adm.snapshot()
        meta = {key: value for key, value in (("seq", str(state.seq)), ("session_mean", repr(state.session_mean)))
                if self._meta_written.get(key) != value}
        ended = [rid for rid in sorted(reservation_ids) if rid not in adm.reservations]
        clusters = [adm.clusters[c] for c in sorted(adm.dirty_clusters) if c in adm.clusters]
        try:
            self._ensure_schema()
            with self.engine.begin() as db:
                # one statement per table, whatever the number of rows: a group of decisions costs
                # about what one does (the rows are built before, so the transaction is short)
                self._upsert(db, t.requests, "id", [{"id": req.id, **_request_row(req)} for req in changed])
                if entries:
                    db.execute(sa.insert(t.ledger), [_ledger_row(e) for e in entries])
                self._upsert(db, t.accounts, "name", [
                    {"name": name, "balance": str(acct.balance), "period_end": acct.period_end,
                     "rule": _rule_json(acct.rule)}
                    for name in sorted(account_names) for acct in [adm.budgets.accounts[name]]])
                self._upsert(db, t.usage, "account", [
                    {"account": name, "value": value, "at": at}
                    for name in sorted(usage_names) for value, at in [adm.fairshare.raw(name)]])
                for rid in ended:
                    db.execute(sa.update(t.reservations).where(t.reservations.c.id == rid).values(ended=True))
                self._upsert(db, t.reservations, "id", [
                    {"id": rid, "group": res.group, "flavor": res.flavor, "count": res.count, "starts": res.starts,
                     "ends": res.ends, "created_by": res.created_by, "hold": res.hold, "ended": False}
                    for rid in sorted(reservation_ids) if (res := adm.reservations.get(rid)) is not None])
                self._upsert(db, t.meta, "key", [{"key": k, "value": v} for k, v in meta.items()])
                self._upsert(db, t.clusters, "id", [_cluster_row(c) for c in clusters])
        except SQLAlchemyError as e:
            raise StoreUnavailable(str(e).splitlines()[0]) from e
        self._meta_written.update(meta)
        adm.dirty.clear()
        adm.dirty_reservations.clear()
        adm.dirty_clusters.clear()
        for cluster in clusters:  # closed clusters live on in the database only
            if cluster.state == "closed":
                adm.clusters.pop(cluster.id, None)
        adm.fairshare.dirty.clear()
        del adm.budgets.pending[: len(entries)]
        # Finished requests live on in the database only.
        for req in changed:
            if req.state.final:
                adm.requests.pop(req.id, None)

    def _upsert(self, db, table: sa.Table, key: str, rows: list[dict]) -> None:
        """Insert or update ``rows`` (each with every column it sets, the key included), in one statement."""
        if not rows:
            return
        statement = self._upserts(table, key)
        if statement is not None:
            db.execute(statement, rows)
            return
        for row in rows:  # a database with no INSERT ... ON CONFLICT: one update, else one insert, per row
            values = {c: v for c, v in row.items() if c != key}
            if db.execute(sa.update(table).where(table.c[key] == row[key]).values(**values)).rowcount == 0:
                db.execute(sa.insert(table).values(row))

    # -- reading history -------------------------------------------------------------------
    def get_request(self, request_id: str) -> Request | None:
        try:
            with self.engine.connect() as db:
                row = db.execute(sa.select(t.requests).where(t.requests.c.id == request_id)).first()
        except SQLAlchemyError as e:
            raise StoreUnavailable(str(e).splitlines()[0]) from e
        return _request_from_row(row) if row else None

    def requests(self, user: str | None = None, states: Iterable[str] | None = None,
                 limit: int = 500) -> list[Request]:
        query = sa.select(t.requests).order_by(t.requests.c.seq.desc()).limit(limit)
        if user is not None:
            query = query.where(t.requests.c.user == user)
        if states:
            query = query.where(t.requests.c.state.in_(list(states)))
        try:
            with self.engine.connect() as db:
                return [_request_from_row(row) for row in db.execute(query)]
        except SQLAlchemyError as e:
            raise StoreUnavailable(str(e).splitlines()[0]) from e

    def clusters(self, user: str | None = None, cluster_id: str | None = None, limit: int = 100) -> list[Cluster]:
        """Clusters from the database (closed ones too), newest first."""
        query = sa.select(t.clusters).order_by(t.clusters.c.created.desc()).limit(limit)
        if user is not None:
            query = query.where(t.clusters.c.user == user)
        if cluster_id is not None:
            query = query.where(t.clusters.c.id == cluster_id)
        try:
            with self.engine.connect() as db:
                return [_cluster_from_row(row) for row in db.execute(query)]
        except SQLAlchemyError as e:
            raise StoreUnavailable(str(e).splitlines()[0]) from e

    def ledger(self, account: str | None = None, limit: int = 500) -> list[dict]:
        query = sa.select(t.ledger).order_by(t.ledger.c.id.desc()).limit(limit)
        if account is not None:
            query = query.where(t.ledger.c.account == account)
        try:
            with self.engine.connect() as db:
                return [dict(row._mapping) for row in db.execute(query)]
        except SQLAlchemyError as e:
            raise StoreUnavailable(str(e).splitlines()[0]) from e

    def close(self) -> None:
        self.engine.dispose()


def _upsert_statements(dialect: str) -> Callable[[sa.Table, str], sa.Insert | None]:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` per table, built once (SQLite and PostgreSQL); None elsewhere."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return lambda table, key: None
    built: dict[str, sa.Insert] = {}

    def statement(table: sa.Table, key: str) -> sa.Insert:
        if table.name not in built:
            stmt = insert(table)
            built[table.name] = stmt.on_conflict_do_update(
                index_elements=[key], set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != key})
        return built[table.name]

    return statement


def _rule_json(rule: QuotaRule) -> dict:
    return {"scope": rule.scope, "groups": sorted(rule.groups), "device_hours": str(rule.device_hours),
            "period": rule.period, "cap": str(rule.cap) if rule.cap is not None else None,
            **({"starts": rule.starts} if rule.starts is not None else {})}


def _ledger_row(entry: dict) -> dict:
    return {
        "account": entry["account"], "kind": entry["kind"], "amount": str(entry["amount"]),
        "before": str(entry["before"]), "after": str(entry["after"]), "at": entry["at"],
        "actor": entry["actor"], "reason": entry["reason"], "request": entry.get("request"),
    }


def _request_row(req: Request) -> dict:
    return {
        "user": req.user, "server": req.server, "groups": sorted(req.groups), "flavor": req.flavor,
        "model": req.model, "share": format_share(req.share) if req.share else "0", "state": req.state.value,
        "reason": req.reason, "arrived": req.arrived, "seq": req.seq, "charge_group": req.charge_group,
        "grant": req.grant.to_dict() if req.grant else None, "granted_at": req.granted_at,
        "ended_at": req.ended_at, "ended_by": req.ended_by, "reservation": req.reservation, "charged": str(req.charged),
        "metered_until": req.metered_until, "cluster": req.cluster,
    }


def _request_from_row(row) -> Request:
    return Request(
        id=row.id, user=row.user, groups=frozenset(row.groups or []), flavor=row.flavor, model=row.model,
        share=Fraction(row.share), arrived=row.arrived, charge_group=row.charge_group, state=State(row.state),
        reason=row.reason, grant=Grant.from_dict(row.grant) if row.grant else None, granted_at=row.granted_at,
        ended_at=row.ended_at, ended_by=row.ended_by, reservation=row.reservation, charged=_frac(row.charged),
        metered_until=row.metered_until, seq=row.seq, server=row.server, cluster=row.cluster,
    )


def _cluster_row(c: Cluster) -> dict:
    return {
        "id": c.id, "user": c.user, "name": c.name, "flavor": c.flavor, "groups": sorted(c.groups),
        "server": c.server, "wanted": c.wanted, "adaptive_min": c.adaptive[0] if c.adaptive else None,
        "adaptive_max": c.adaptive[1] if c.adaptive else None, "state": c.state, "reason": c.reason,
        "refusal": c.refusal, "created": c.created, "last_activity": c.last_activity, "expires_at": c.expires_at,
        "idle_timeout": c.idle_timeout, "ended_at": c.ended_at, "ended_by": c.ended_by,
    }


def _cluster_from_row(row) -> Cluster:
    adaptive = (row.adaptive_min, row.adaptive_max) if row.adaptive_min is not None else None
    return Cluster(id=row.id, user=row.user, name=row.name, flavor=row.flavor, groups=frozenset(row.groups or []),
                   server=row.server, wanted=row.wanted, created=row.created, last_activity=row.last_activity,
                   expires_at=row.expires_at, idle_timeout=row.idle_timeout, adaptive=adaptive, state=row.state,
                   reason=row.reason, refusal=row.refusal, ended_at=row.ended_at, ended_by=row.ended_by)
