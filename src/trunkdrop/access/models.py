"""Tables: signing keys, grants, the redemption ledger, the hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="Ed25519")
    public_key_pem: Mapped[str] = mapped_column(Text)
    # PKCS#8, encrypted with the service's key passphrase: a database dump alone opens no car.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class Grant(Base):
    __tablename__ = "grants"
    __table_args__ = (
        # At most one live grant per car, enforced by the database itself.
        Index(
            "uq_grants_one_live_per_vehicle",
            "vehicle_id",
            unique=True,
            sqlite_where=text("status = 'live'"),
            postgresql_where=text("status = 'live'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the token's jti
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id"), index=True)
    attempt_id: Mapped[str] = mapped_column(String(32), index=True)
    delivery_id: Mapped[str] = mapped_column(String(32))
    driver_id: Mapped[str] = mapped_column(ForeignKey("parties.id"))
    # The driver device the grant is bound to (its key is the token's `cnf` claim).
    device_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    kid: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(32))
    # live -> redeemed | revoked | expired
    status: Mapped[str] = mapped_column(String(16), default="live")
    issued_at: Mapped[datetime]
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime]
    redeemed_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(64), default=None)


class GrantRedemption(Base):
    """The ledger of used grants: the primary key makes a second use impossible."""

    __tablename__ = "grant_redemptions"

    grant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(32))
    command_id: Mapped[str] = mapped_column(String(32))
    redeemed_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row naming the chain's last entry; writers lock it so the chain stays a line."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
