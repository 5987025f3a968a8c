"""The floor that PostgreSQL transactions alone set on the platform CPU of a delivery: what a
short transaction costs this process and the database server's process, through the DB-API
driver and through SQLAlchemy Core, and that cost times the transactions of a delivery.

    .venv/bin/python benchmarks/transaction_floor.py \
        --database-url postgresql://postgres@127.0.0.1:5432/<your database> \
        [--transactions 10.3] [--statements 70]

Each transaction is shaped like a step of the delivery path: insert a row, read it by its
key four times, change two of its columns, commit (7 statements). Each transaction writes
a row of its own, as the delivery path does, so no row collects versions. Core statements
are built once and reused (its compiled cache, as the platform's hot path has it); the
driver prepares them on the server after a few uses (psycopg's `prepare_threshold`), as it
does for the platform. The server process is measured with psutil on `pg_backend_pid()`,
so the server must run on this machine. It uses a table in its own schema, dropped at the
end. The figures compare with access_path.py's `platform_cpu_ms_per_delivery` (--processes),
which counts the platform's processes and PostgreSQL's: a delivery there runs about 10
transactions and 70 statements. Without --database-url (or TRUNKDROP_BENCH_DATABASE_URL) it
says so and does nothing. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

SCHEMA = "trunkdrop_floor"
STATEMENTS_PER_TRANSACTION = 7


def cpu_per_transaction(
    run: Callable[[int], None], server: Callable[[], float], *, count: int, rounds: int = 5
) -> tuple[float, float]:
    """Least CPU ms per transaction (this process, the server's) over `rounds` of `count`:
    another process's burst only ever adds time."""
    run(count)  # warm: statements prepared, caches filled
    best = (float("inf"), 0.0)
    for _ in range(rounds):
        server_start, start = server(), time.process_time()
        run(count)
        mine = (time.process_time() - start) / count * 1000
        theirs = (server() - server_start) / count * 1000
        if mine + theirs < sum(best):
            best = (mine, theirs)
    return best


def backend_seconds(pid: int) -> Callable[[], float]:
    import psutil

    backend = psutil.Process(pid)

    def seconds() -> float:
        times = backend.cpu_times()
        return float(times.user + times.system)

    return seconds


def driver_layer(url: str) -> Any:
    import psycopg

    conn = psycopg.connect(url, options=f"-csearch_path={SCHEMA}")
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    pid = row[0] if row else 0
    conn.commit()

    def run(count: int) -> None:
        for i in range(count):
            key = uuid.uuid4().hex
            conn.execute("INSERT INTO steps (id, n, s) VALUES (%s, %s, %s)", (key, i, "new"))
            for _ in range(4):
                conn.execute("SELECT id, n, s FROM steps WHERE id = %s", (key,)).fetchone()
            conn.execute("UPDATE steps SET n = n + 1 WHERE id = %s", (key,))
            conn.execute("UPDATE steps SET s = %s WHERE id = %s", ("done", key))
            conn.commit()

    return run, pid, conn.close


def core_layer(url: str) -> Any:
    from sqlalchemy import (
        Column,
        Integer,
        MetaData,
        String,
        Table,
        bindparam,
        create_engine,
        insert,
        select,
        text,
        update,
    )

    engine = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1),
        connect_args={"options": f"-csearch_path={SCHEMA}"},
    )
    steps = Table(
        "steps", MetaData(), Column("id", String, primary_key=True), Column("n", Integer),
        Column("s", String),
    )  # fmt: skip
    add = insert(steps)
    read = select(steps).where(steps.c.id == bindparam("key"))
    count_up = update(steps).where(steps.c.id == bindparam("key")).values(n=steps.c.n + 1)
    finish = update(steps).where(steps.c.id == bindparam("key")).values(s=bindparam("s"))
    conn = engine.connect()
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    conn.commit()

    def run(count: int) -> None:
        for i in range(count):
            key = uuid.uuid4().hex
            conn.execute(add, {"id": key, "n": i, "s": "new"})
            for _ in range(4):
                conn.execute(read, {"key": key}).one()
            conn.execute(count_up, {"key": key})
            conn.execute(finish, {"key": key, "s": "done"})
            conn.commit()

    def close() -> None:
        conn.close()
        engine.dispose()

    return run, pid, close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TRUNKDROP_BENCH_DATABASE_URL"))
    parser.add_argument("--transactions", type=float, default=10.3, help="per delivery")
    parser.add_argument("--statements", type=float, default=70.0, help="per delivery")
    parser.add_argument("--count", type=int, default=1000, help="transactions per round")
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        print("transaction_floor.py measures PostgreSQL: give --database-url postgresql://…")
        return
    import psycopg

    admin = args.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.steps (id text PRIMARY KEY, n integer, s text)")
    figures: dict[str, dict[str, float]] = {}
    try:
        for name, layer in (("DB-API driver", driver_layer), ("SQLAlchemy Core", core_layer)):
            run, pid, close = layer(admin)
            try:
                mine, theirs = cpu_per_transaction(run, backend_seconds(pid), count=args.count)
            finally:
                close()
            per_statement = (mine + theirs) / STATEMENTS_PER_TRANSACTION
            # Both ways of counting a delivery: by its transactions of this shape, and by
            # its statements at this shape's cost each.
            figures[name] = {
                "client_ms_per_transaction": round(mine, 3),
                "server_ms_per_transaction": round(theirs, 3),
                "us_per_statement": round(per_statement * 1000, 1),
                "floor_ms_by_transactions": round(args.transactions * (mine + theirs), 2),
                "floor_ms_by_statements": round(args.statements * per_statement, 2),
            }
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    rows = [
        ("CPU ms per transaction, this process", "client_ms_per_transaction"),
        ("CPU ms per transaction, PostgreSQL", "server_ms_per_transaction"),
        ("CPU us per statement, both", "us_per_statement"),
        (f"floor ms/delivery, {args.transactions:g} transactions", "floor_ms_by_transactions"),
        (f"floor ms/delivery, {args.statements:g} statements", "floor_ms_by_statements"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'':<{width}}" + "".join(f"{name:>18}" for name in figures))
    for label, key in rows:
        print(f"{label:<{width}}" + "".join(f"{f[key]:>18}" for f in figures.values()))
    print(json.dumps({"transactions_per_delivery": args.transactions, "layers": figures}))


if __name__ == "__main__":
    main()
