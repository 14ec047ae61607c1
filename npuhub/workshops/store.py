"""Workshop codes and their guests in SQL (SQLite, or PostgreSQL in production), one transaction per change.

"At most N guests" holds however many sign-ins race, in one hub or several
processes: a seat is taken by one conditional ``UPDATE ... SET guests =
guests + 1 WHERE <open and not full>``, which both SQLite (one writer at a
time) and PostgreSQL (the row is locked, and the condition re-checked on the
newest row) apply atomically. The guest's row is written in the same
transaction, so a seat is never counted without its guest, nor the reverse.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from importlib import resources
from typing import Callable, Iterable

from sqlalchemy import create_engine, delete, insert, or_, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from .policy import (
    Guest,
    Materials,
    Workshop,
    WorkshopError,
    format_code,
    guest_usernames,
    is_code,
    new_code,
)
from .tables import workshop_guests, workshop_roster, workshops

__all__ = ["WorkshopStore", "make_engine", "upgrade"]


def upgrade(engine: Engine) -> None:
    """Bring the workshop tables to the newest revision (alembic), creating them on an empty database."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("npuhub.workshops") / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def make_engine(db_url: str) -> Engine:
    """An engine for ``db_url``; an in-memory SQLite database is shared by all its connections."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        # Wait for another writer rather than fail at once (several sign-ins at the same moment).
        return create_engine(url, connect_args={"timeout": 30})
    return create_engine(url, pool_pre_ping=True)


def _workshop(row) -> Workshop:
    return Workshop(
        code=row.code,
        group=row.group_name,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        created_at=row.created_at,
        flavor=row.flavor,
        max_guests=row.max_guests,
        guests=row.guests,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        materials=(Materials(row.materials_repo, row.materials_branch or "main", row.materials_path or "")
                   if row.materials_repo else None),
        reserved_count=row.reserved_count,
        reservation_id=row.reservation_id,
        budget_hours=row.budget_hours,
    )


def _guest(row) -> Guest:
    return Guest(row.username, row.code, row.display_name, row.signed_in_at, row.removed_at)


class WorkshopStore:
    """The workshop tables of the npuhub database. Every method is one transaction."""

    def __init__(self, db_url: str):
        self.engine = make_engine(db_url)
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- codes ---------------------------------------------------------------------
    def create(
        self,
        *,
        group: str,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        now: datetime,
        flavor: str | None = None,
        max_guests: int | None = None,
        code_factory: Callable[[], str] = new_code,
        roster: Iterable[str] = (),
        materials: Materials | None = None,
        reserved_count: int | None = None,
        budget_hours: str | None = None,
    ) -> Workshop:
        """A new workshop for ``group`` with its roster; the caller has checked the teacher, window and flavor."""
        roster = list(dict.fromkeys(roster))
        for _ in range(16):
            code = code_factory()
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(workshops).values(
                        code=code, group_name=group, flavor=flavor, starts_at=starts_at, ends_at=ends_at,
                        max_guests=max_guests, guests=0, created_by=created_by, created_at=now,
                        materials_repo=materials.repo if materials else None,
                        materials_branch=materials.branch if materials else None,
                        materials_path=materials.urlpath if materials else None,
                        reserved_count=reserved_count, budget_hours=budget_hours,
                    ))
                    if roster:
                        conn.execute(insert(workshop_roster), [{"code": code, "username": n} for n in roster])
            except IntegrityError:  # the code is taken (about 1 in 10^11 per existing code): draw again
                continue
            return Workshop(code, group, starts_at, ends_at, created_by, now, flavor, max_guests,
                            materials=materials, reserved_count=reserved_count, budget_hours=budget_hours)
        raise RuntimeError("no unused workshop code after 16 draws; is code_factory random?")

    def set_reservation(self, code: str, reservation_id: str) -> None:
        """Record the service's reservation that holds the workshop's slices."""
        with self.engine.begin() as conn:
            conn.execute(update(workshops).where(workshops.c.code == code).values(reservation_id=reservation_id))

    def roster(self, code: str) -> list[str]:
        """The university accounts on a workshop's roster, in name order."""
        query = (select(workshop_roster.c.username).where(workshop_roster.c.code == code)
                 .order_by(workshop_roster.c.username))
        with self.engine.connect() as conn:
            return [name for (name,) in conn.execute(query)]

    def open_for(self, username: str, now: datetime) -> list[Workshop]:
        """Workshops open now (not revoked) whose roster lists ``username``."""
        query = (select(workshops)
                 .join(workshop_roster, workshop_roster.c.code == workshops.c.code)
                 .where(workshop_roster.c.username == username, workshops.c.revoked_at.is_(None),
                        workshops.c.starts_at <= now, workshops.c.ends_at > now)
                 .order_by(workshops.c.starts_at))
        with self.engine.connect() as conn:
            return [_workshop(row) for row in conn.execute(query)]

    def get(self, code: str) -> Workshop | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(workshops).where(workshops.c.code == code)).first()
        return _workshop(row) if row else None

    def list(self, groups: Iterable[str] | None = None) -> list[Workshop]:
        """The codes of ``groups`` (all when None), newest first."""
        query = select(workshops).order_by(workshops.c.created_at.desc(), workshops.c.code)
        if groups is not None:
            query = query.where(workshops.c.group_name.in_(sorted(set(groups))))
        with self.engine.connect() as conn:
            return [_workshop(row) for row in conn.execute(query)]

    def revoke(self, code: str, *, by: str, now: datetime) -> Workshop:
        """Revoke a code at once (again is a no-op). Raises WorkshopError ``workshop_not_found``."""
        with self.engine.begin() as conn:
            conn.execute(
                update(workshops)
                .where(workshops.c.code == code, workshops.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=by)
            )
            row = conn.execute(select(workshops).where(workshops.c.code == code)).first()
        if row is None:
            raise WorkshopError("workshop_not_found", status=404)
        return _workshop(row)

    # -- guests ------------------------------------------------------------------------
    def admit(
        self,
        code: str,
        display_name: str,
        *,
        now: datetime,
        zone: tzinfo = timezone.utc,
        name_taken: Callable[[str], bool] = lambda name: False,
    ) -> tuple[Workshop, Guest]:
        """Take a seat of workshop ``code`` for a new guest and give her a unique account name.

        ``display_name`` must be clean already (policy.clean_display_name);
        ``name_taken`` says whether the hub already has an account of that name.
        Raises WorkshopError: code_unknown, code_not_started, code_expired,
        code_revoked or workshop_full.
        """
        if not is_code(code):
            raise WorkshopError("code_unknown", status=404, code=code[:16])
        for _ in range(8):
            try:
                with self.engine.begin() as conn:
                    seat = conn.execute(
                        update(workshops)
                        .where(
                            workshops.c.code == code,
                            workshops.c.revoked_at.is_(None),
                            workshops.c.starts_at <= now,
                            workshops.c.ends_at > now,
                            or_(workshops.c.max_guests.is_(None),
                                workshops.c.guests < workshops.c.max_guests),
                        )
                        .values(guests=workshops.c.guests + 1)
                    )
                    row = conn.execute(select(workshops).where(workshops.c.code == code)).first()
                    if seat.rowcount != 1:
                        raise self._refusal(row, code, now, zone)
                    def ours(name: str) -> bool:  # every guest ever admitted keeps her name
                        return conn.execute(select(workshop_guests.c.username)
                                            .where(workshop_guests.c.username == name)).first() is not None

                    username = self._free_name(display_name, ours, name_taken)
                    conn.execute(insert(workshop_guests).values(
                        username=username, code=code, display_name=display_name, signed_in_at=now,
                    ))
            except IntegrityError:  # a guest signing in at the same moment took that name: next one
                continue
            return _workshop(row), Guest(username, code, display_name, now)
        raise RuntimeError(f"no free guest name for {display_name!r} in workshop {code}")

    @staticmethod
    def _refusal(row, code: str, now: datetime, zone: tzinfo) -> WorkshopError:
        if row is None:
            return WorkshopError("code_unknown", status=404, code=format_code(code))
        workshop = _workshop(row)
        return workshop.refusal(now, zone) or WorkshopError(
            "workshop_full", status=403, max_guests=workshop.max_guests)

    @staticmethod
    def _free_name(display_name: str, ours: Callable[[str], bool], name_taken: Callable[[str], bool]) -> str:
        for n, name in enumerate(guest_usernames(display_name)):
            if not ours(name) and not name_taken(name):
                return name
            if n > 100:  # 31**4 tags per name: only a broken ``name_taken`` gets here
                break
        raise RuntimeError(f"no free guest name for {display_name!r}")

    def guests(self, code: str) -> list[Guest]:
        """The guests of a code, in the order they came."""
        query = (select(workshop_guests).where(workshop_guests.c.code == code)
                 .order_by(workshop_guests.c.signed_in_at, workshop_guests.c.username))
        with self.engine.connect() as conn:
            return [_guest(row) for row in conn.execute(query)]

    def guest(self, username: str) -> Guest | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(workshop_guests).where(workshop_guests.c.username == username)).first()
        return _guest(row) if row else None

    def due_for_removal(self, now: datetime) -> list[Guest]:
        """Guests still present whose workshop has ended or was revoked."""
        query = (
            select(workshop_guests)
            .join(workshops, workshops.c.code == workshop_guests.c.code)
            .where(
                workshop_guests.c.removed_at.is_(None),
                or_(workshops.c.revoked_at.is_not(None), workshops.c.ends_at <= now),
            )
            .order_by(workshop_guests.c.signed_in_at)
        )
        with self.engine.connect() as conn:
            return [_guest(row) for row in conn.execute(query)]

    def mark_removed(self, username: str, now: datetime) -> None:
        """Record that a guest's account is gone (again is a no-op)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(workshop_guests)
                .where(workshop_guests.c.username == username, workshop_guests.c.removed_at.is_(None))
                .values(removed_at=now)
            )
