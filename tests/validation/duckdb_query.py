"""DuckDB beside skyql in docs/BENCHMARKS.md: runs a SQL file on a catalogue version's
Parquet files (views `measurements` and `quarters`, two threads) and prints the query's
time and the time with import and setup.

usage: duckdb_query.py VERSION_DIR FILE.sql
"""
import sys, time
t0 = time.perf_counter()
import duckdb
d = sys.argv[1]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET enable_progress_bar = false")
con.execute(f"CREATE VIEW measurements AS SELECT * FROM read_parquet('{d}/measurements/*/*.parquet', hive_partitioning = true)")
con.execute(f"CREATE VIEW quarters AS SELECT * FROM read_parquet('{d}/quarters.parquet')")
sql = open(sys.argv[2]).read()
t1 = time.perf_counter()
rows = con.execute(sql).fetchall()
t2 = time.perf_counter()
print(f"duckdb: {len(rows)} rows, query {t2 - t1:.3f} s, with import and setup {t2 - t0:.3f} s")
