"""A reader in its own process, as Metabase's connection pool or a notebook kernel is: it opens
one DuckDB file read-only and keeps that connection open until told to quit.

    python holder.py <duckdb file> [<sql>]

Prints ``ready`` once connected. A background thread runs the query (default: the newest sale
day) every 50 ms through the held connection and counts answers and errors. Commands on stdin,
one answer line each: ``query`` (run it now: ``ok <result>`` or ``error <message>``),
``stats`` (``stats <answers> <errors> <first error>``), ``quit``.
"""

from __future__ import annotations

import sys
import threading
import time

import duckdb

NEWEST_SALE_DAY = "select cast(max(sale_date) as varchar) from marts.fct_daily_sales"


def main() -> None:
    path = sys.argv[1]
    sql = sys.argv[2] if len(sys.argv) > 2 else NEWEST_SALE_DAY
    con = duckdb.connect(path, read_only=True)
    con.execute("set enable_progress_bar = false")
    stats = {"answers": 0, "errors": 0, "first_error": ""}
    stop = threading.Event()

    def ask(cursor) -> str:
        return str(cursor.execute(sql).fetchall()[0][0])

    def keep_reading() -> None:
        cursor = con.cursor()  # the same database instance: the same open file
        while not stop.is_set():
            try:
                ask(cursor)
                stats["answers"] += 1
            except Exception as error:  # a reader that breaks is what the test looks for
                stats["errors"] += 1
                stats["first_error"] = stats["first_error"] or str(error).splitlines()[0]
            time.sleep(0.05)

    reader = threading.Thread(target=keep_reading, daemon=True)
    reader.start()
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "query":
            try:
                print(f"ok {ask(con.cursor())}", flush=True)
            except Exception as error:
                print(f"error {str(error).splitlines()[0]}", flush=True)
        elif command == "stats":
            print(f"stats {stats['answers']} {stats['errors']} {stats['first_error']}",
                  flush=True)
        elif command == "quit":
            break
    stop.set()
    reader.join()
    con.close()


if __name__ == "__main__":
    main()
