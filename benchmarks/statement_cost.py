"""What one database statement costs the platform's process, by layer, and the delivery rate
the statements alone would allow: the cost model behind the access path's figures.

    .venv/bin/python benchmarks/statement_cost.py [--statements 85] [--database-url URL]

A complete trunk delivery runs some 85 statements (`access_path.py` prints the count). Each
is measured here three ways on the benchmark's own database, with the platform's engine
(pragmas, column types): through the DB-API driver alone, through SQLAlchemy Core on a
connection, and through the ORM as the services use it (a row loaded as an object into a
session that does not hold it yet, as in a new request; a column changed and flushed). The
figure is CPU time per statement, the best of several rounds (another process's burst only
ever adds time). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select, update

from access_path import bench_pg_url, drop_bench_schema, seeded_platform
from trunkdrop.vehicles.models import Vehicle


def cpu_us(work: Callable[[], object], *, repeat: int, rounds: int = 5) -> float:
    """Least CPU microseconds one call of `work` took, over `rounds` rounds of `repeat`."""
    work()
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeat):
            work()
        best = min(best, (time.process_time() - start) / repeat)
    return best * 1e6


def driver_call(engine: Any, statement: Any, values: dict[str, Any]) -> tuple[str, Any]:
    """The statement as the DB-API driver takes it: SQL text and parameters."""
    compiled = statement.compile(dialect=engine.dialect)
    if compiled.positiontup is not None:
        return str(compiled), tuple(values[name] for name in compiled.positiontup)
    return str(compiled), values


def measure(platform: Any, repeat: int) -> dict[str, dict[str, float]]:
    engine, table = platform.engine, Vehicle.__table__
    session = platform.session_factory()
    try:
        vehicle_id = session.scalars(select(Vehicle.id)).first()
        by_id = select(table).where(table.c.id == bindparam("vid"))
        entity_by_id = select(Vehicle).where(Vehicle.id == bindparam("vid"))
        rename = update(table).where(table.c.id == bindparam("vid")).values(colour=bindparam("c"))
        connection = session.connection()
        cursor = connection.connection.dbapi_connection.cursor()
        read_sql, read_params = driver_call(engine, by_id, {"vid": vehicle_id})
        colours = iter(range(10**9))

        # The driver's text and parameters are prepared once, as a hand-written layer would.
        update_sql, _ = driver_call(engine, rename, {"vid": vehicle_id, "c": "x"})
        positional = "?" in update_sql or "%s" in update_sql

        def raw_update_prepared() -> None:
            colour = f"c{next(colours)}"
            params: Any = (colour, vehicle_id) if positional else {"c": colour, "vid": vehicle_id}
            cursor.execute(update_sql, params)

        def raw_read() -> None:
            cursor.execute(read_sql, read_params)
            cursor.fetchone()

        def orm_read() -> None:
            session.expunge_all()  # a new request's session holds nothing yet
            session.scalars(entity_by_id, {"vid": vehicle_id}).one()

        def orm_update() -> None:
            held.colour = f"c{next(colours)}"
            session.flush()

        reads = {
            "DB-API driver": cpu_us(raw_read, repeat=repeat),
            "SQLAlchemy Core": cpu_us(
                lambda: connection.execute(by_id, {"vid": vehicle_id}).first(), repeat=repeat
            ),
            "SQLAlchemy ORM": cpu_us(orm_read, repeat=repeat),
        }
        # Held by the session from here on: changing it is an UPDATE at the next flush.
        held = session.scalars(entity_by_id, {"vid": vehicle_id}).one()
        changes = {
            "DB-API driver": cpu_us(raw_update_prepared, repeat=repeat),
            "SQLAlchemy Core": cpu_us(
                lambda: connection.execute(rename, {"vid": vehicle_id, "c": f"c{next(colours)}"}),
                repeat=repeat,
            ),
            "SQLAlchemy ORM": cpu_us(orm_update, repeat=repeat),
        }
        session.rollback()
        return {"read a row by its key": reads, "change one column": changes}
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=float, default=85.0, help="per delivery")
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--database-url", default=os.environ.get("TRUNKDROP_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="td-cost-") as tmp:
        url, admin = f"sqlite:///{tmp}/cost.db", None
        if args.database_url:  # the benchmark's own schema, dropped at the end
            url, admin = bench_pg_url(args.database_url)
        platform, _ = seeded_platform(database_url=url, drivers=1, per_driver=20, worker_interval=1)
        try:
            costs = measure(platform, args.repeat)
        finally:
            platform.engine.dispose()
            if admin is not None:
                drop_bench_schema(admin)
    layers = ["DB-API driver", "SQLAlchemy Core", "SQLAlchemy ORM"]
    print(f"{'CPU per statement (us)':<28}" + "".join(f"{layer:>18}" for layer in layers))
    for operation, by_layer in costs.items():
        print(f"{operation:<28}" + "".join(f"{by_layer[layer]:>18.1f}" for layer in layers))
    mean = {layer: sum(c[layer] for c in costs.values()) / len(costs) for layer in layers}
    print(f"{'mean':<28}" + "".join(f"{mean[layer]:>18.1f}" for layer in layers))
    # The most a core could deliver if a delivery were nothing but its statements (no
    # HTTP, no signatures, no logic): the layer alone sets this ceiling.
    ceiling = {layer: 1e6 / (args.statements * mean[layer]) for layer in layers}
    print(
        f"deliveries/s one core allows for {args.statements:g} statements each, and nothing else:"
    )
    print(f"{'':<28}" + "".join(f"{ceiling[layer]:>18,.0f}" for layer in layers))
    print(
        json.dumps(
            {
                "statements_per_delivery": args.statements,
                "us_per_statement": {k: round(v, 1) for k, v in mean.items()},
                "ceiling_deliveries_per_s": {k: round(v) for k, v in ceiling.items()},
                "database": url.split(":", 1)[0].split("+")[0],
            }
        )
    )


if __name__ == "__main__":
    main()
