"""Staff accounts, sign-in sessions, sign-in failures and the audit log (SQLAlchemy, SQLite by default).

Every method is synchronous and runs one short transaction; the web handlers call them through
`asyncio.to_thread`. Passwords are argon2id hashes (argon2-cffi); session cookies carry a random
token of which only the SHA-256 is stored, so a copy of the database opens no session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Text, UniqueConstraint, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import declarative_base, sessionmaker

from bot.case_service.store import AwareDateTime, make_engine

logger = logging.getLogger(__name__)

Base = declarative_base()
ROLES = ("staff", "admin")
ROLE_LABELS = {"staff": "工作人员", "admin": "管理员"}
USERNAME_MAX = 32
MIN_PASSWORD_LENGTH = 10

# Sessions end after this long without a request, and in any case this long after sign-in.
SESSION_IDLE = dt.timedelta(hours=2)
SESSION_MAX = dt.timedelta(hours=12)


@dataclass(frozen=True)
class ThrottlePolicy:
    """Failed sign-ins per account name / per client address within `window` that lock it for `window`."""

    per_user: int = 5
    per_client: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)


_hasher = PasswordHasher()
# Verified against when the name is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A Chinese message for the person at the keyboard (bad name, short password, duplicate)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UserRow(Base):
    __tablename__ = "console_users"
    __table_args__ = (UniqueConstraint("username", name="uq_console_users_username"),)

    id = Column(Integer, primary_key=True)
    username = Column(String(USERNAME_MAX), nullable=False)
    display_name = Column(String(64), nullable=False, default="")
    role = Column(String(16), nullable=False)
    password_hash = Column(String(255), nullable=False)
    disabled = Column(Boolean, nullable=False, default=False)
    created_at = Column(AwareDateTime, nullable=False)
    password_changed_at = Column(AwareDateTime, nullable=False)


class SessionRow(Base):
    __tablename__ = "console_sessions"

    token_hash = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(AwareDateTime, nullable=False)
    last_seen = Column(AwareDateTime, nullable=False)


class LoginFailureRow(Base):
    """Failed sign-ins of one key (`user:<name>` or `client:<address>`), counted whether the name exists or not."""

    __tablename__ = "console_login_failures"

    key = Column(String(128), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)
    first_failed_at = Column(AwareDateTime, nullable=False)
    locked_until = Column(AwareDateTime, nullable=True)


class AuditRow(Base):
    __tablename__ = "console_audit"

    id = Column(Integer, primary_key=True)
    at = Column(AwareDateTime, nullable=False, index=True)
    username = Column(String(USERNAME_MAX), nullable=False)
    action = Column(String(64), nullable=False)
    target = Column(String(128), nullable=False, default="")
    detail = Column(Text, nullable=False, default="")
    client = Column(String(64), nullable=False, default="")


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    created_at: dt.datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def name(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True)
class StaffSession:
    user: StaffUser
    csrf_token: str


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    username: str
    action: str
    target: str
    detail: str
    client: str


def _user(row: UserRow) -> StaffUser:
    return StaffUser(row.id, row.username, row.display_name or "", row.role, bool(row.disabled), row.created_at)


def check_username(username: str) -> str:
    name = (username or "").strip()
    if not name or len(name) > USERNAME_MAX or not all(c.isalnum() or c in "._-" for c in name):
        raise AccountError(f"账号名应为 1–{USERNAME_MAX} 个字母、数字或 . _ -")
    return name


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    return password


def new_password() -> str:
    return secrets.token_urlsafe(12)


class ConsoleStore:
    def __init__(self, database_url: str, policy: ThrottlePolicy = ThrottlePolicy()):
        self.engine = make_engine(database_url)
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)
        self.policy = policy

    def create_tables(self) -> None:
        """Brings the database to the newest schema (bot.migrations, history "console"): an empty one
        gets every table, one created before migrations is adopted with its accounts."""
        from bot import migrations

        migrations.upgrade(self.engine, "console")

    def dispose(self) -> None:
        self.engine.dispose()

    # --- accounts ---

    def count_users(self) -> int:
        with self._sessions() as session, session.begin():
            return session.execute(select(func.count()).select_from(UserRow)).scalar_one()

    def create_user(self, username: str, password: str, role: str = "staff", display_name: str = "") -> StaffUser:
        name = check_username(username)
        check_password(password)
        if role not in ROLES:
            raise AccountError("角色只能是 staff（工作人员）或 admin（管理员）")
        now = _now()
        row = UserRow(
            username=name, display_name=(display_name or "").strip()[:64], role=role,
            password_hash=_hasher.hash(password), disabled=False, created_at=now, password_changed_at=now,
        )
        try:
            with self._sessions() as session, session.begin():
                session.add(row)
                session.flush()
                return _user(row)
        except IntegrityError as exc:
            raise AccountError(f"账号 {name} 已存在") from exc

    def create_first_admin(self, password: str, username: str) -> StaffUser | None:
        """The admin account when there is no account at all; None when one exists already."""
        if self.count_users():
            return None
        try:
            return self.create_user(username, password, "admin")
        except AccountError:
            if self.count_users():  # another process made it first
                return None
            raise

    def list_users(self) -> list[StaffUser]:
        with self._sessions() as session, session.begin():
            return [_user(r) for r in session.execute(select(UserRow).order_by(UserRow.id)).scalars()]

    def get_user(self, username: str) -> StaffUser | None:
        with self._sessions() as session, session.begin():
            row = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
            return _user(row) if row is not None else None

    def _row(self, session, username: str) -> UserRow:
        row = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
        if row is None:
            raise AccountError(f"没有账号 {username}")
        return row

    def set_disabled(self, username: str, disabled: bool) -> StaffUser:
        """Disabling also ends the account's sessions at once."""
        with self._sessions() as session, session.begin():
            row = self._row(session, username)
            if disabled and row.role == "admin" and not row.disabled:
                admins = session.execute(
                    select(func.count()).select_from(UserRow).where(UserRow.role == "admin", UserRow.disabled.is_(False))
                ).scalar_one()
                if admins <= 1:
                    raise AccountError("这是唯一可用的管理员账号，不能停用")
            row.disabled = disabled
            if disabled:
                session.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
            return _user(row)

    def verify_password(self, username: str, password: str) -> bool:
        with self._sessions() as session, session.begin():
            row = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
            try:
                return row is not None and _hasher.verify(row.password_hash, password or "")
            except (VerificationError, InvalidHashError):
                return False

    def set_password(self, username: str, password: str) -> StaffUser:
        """A new password ends every session of the account."""
        check_password(password)
        with self._sessions() as session, session.begin():
            row = self._row(session, username)
            row.password_hash = _hasher.hash(password)
            row.password_changed_at = _now()
            session.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
            return _user(row)

    # --- sign-in, throttling and sessions ---

    def locked_seconds(self, keys: list[str], now: dt.datetime | None = None) -> float:
        now = now or _now()
        with self._sessions() as session, session.begin():
            rows = session.execute(select(LoginFailureRow).where(LoginFailureRow.key.in_(keys))).scalars().all()
            return max([(r.locked_until - now).total_seconds() for r in rows if r.locked_until and r.locked_until > now] or [0.0])

    def _fail(self, session, key: str, limit: int, now: dt.datetime) -> None:
        row = session.get(LoginFailureRow, key)
        if row is None:
            row = LoginFailureRow(key=key, failures=0, first_failed_at=now)
            session.add(row)
        elif row.locked_until is not None or row.first_failed_at + self.policy.window <= now:
            row.failures, row.first_failed_at, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + self.policy.window
            logger.warning("console sign-in locked for %s after %d failures", key, row.failures)

    def sign_in(self, username: str, password: str, client: str) -> tuple[str, StaffSession] | float | None:
        """(cookie token, session) on success; seconds to wait when the name or address is locked;
        None for a wrong name or password (counted against both)."""
        now = _now()
        name = (username or "").strip()[:USERNAME_MAX]
        keys = [f"user:{name.lower()}", f"client:{client}"[:128]]
        locked = self.locked_seconds(keys, now)
        if locked > 0:
            return locked
        with self._sessions() as session, session.begin():
            row = session.execute(select(UserRow).where(UserRow.username == name)).scalar_one_or_none()
            stored = row.password_hash if row is not None else _DUMMY_HASH
            try:
                ok = _hasher.verify(stored, password or "") and row is not None and not row.disabled
            except (VerificationError, InvalidHashError):
                ok = False
            if not ok:
                self._fail(session, keys[0], self.policy.per_user, now)
                self._fail(session, keys[1], self.policy.per_client, now)
                return None
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            for key in keys[:1]:  # the address keeps its count: one good password does not clear guessing
                failure = session.get(LoginFailureRow, key)
                if failure is not None:
                    session.delete(failure)
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            session.add(SessionRow(token_hash=_digest(token), user_id=row.id, csrf_token=csrf, created_at=now, last_seen=now))
            # Expired sessions of everyone go at each sign-in, so the table stays small.
            session.execute(delete(SessionRow).where(SessionRow.last_seen < now - SESSION_IDLE))
            session.execute(delete(SessionRow).where(SessionRow.created_at < now - SESSION_MAX))
            return token, StaffSession(_user(row), csrf)

    def session(self, token: str) -> StaffSession | None:
        """The signed-in session of a cookie token (refreshing its idle timer), None when unknown or expired."""
        if not token:
            return None
        now = _now()
        with self._sessions() as session, session.begin():
            row = session.get(SessionRow, _digest(token))
            if row is None:
                return None
            user = session.get(UserRow, row.user_id)
            if user is None or user.disabled or row.last_seen < now - SESSION_IDLE or row.created_at < now - SESSION_MAX:
                session.delete(row)
                return None
            if now - row.last_seen > dt.timedelta(minutes=1):
                row.last_seen = now
            return StaffSession(_user(user), row.csrf_token)

    def sign_out(self, token: str) -> None:
        with self._sessions() as session, session.begin():
            session.execute(delete(SessionRow).where(SessionRow.token_hash == _digest(token)))

    # --- audit log ---

    def audit(self, username: str, action: str, target: str = "", detail: str = "", client: str = "") -> None:
        with self._sessions() as session, session.begin():
            session.add(AuditRow(at=_now(), username=username[:USERNAME_MAX], action=action[:64], target=target[:128],
                                 detail=detail, client=client[:64]))

    def audit_entries(self, limit: int = 100, action: str | None = None, target: str | None = None) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if action:
            query = query.where(AuditRow.action == action)
        if target:
            query = query.where(AuditRow.target == target)
        with self._sessions() as session, session.begin():
            return [AuditEntry(r.at, r.username, r.action, r.target, r.detail, r.client) for r in session.execute(query).scalars()]
