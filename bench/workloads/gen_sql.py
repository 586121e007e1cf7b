"""gen_sql.py ROWS - writes to stdout an SQL script for sqlite3 on an in-memory database.

ROWS rows are inserted one statement each (in transactions of 10000), then two indexes are
built, a fifth of the rows are updated, a tenth deleted, and aggregate, join and ordered
queries print results that depend only on the data. Deterministic for a given ROWS.
"""
import random
import sys

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa")


def main():
    """Writes the script."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    rng = random.Random(4242)
    out = sys.stdout
    out.write("PRAGMA journal_mode = OFF;\n")
    out.write("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, "
              "price REAL, qty INTEGER, note TEXT);\n")
    out.write("CREATE TABLE groups (grp INTEGER PRIMARY KEY, label TEXT);\n")
    for grp in range(500):
        out.write(f"INSERT INTO groups VALUES ({grp}, '{WORDS[grp % 16]}-{grp}');\n")
    for i in range(rows):
        if i % 10000 == 0:
            out.write("BEGIN;\n")
        name = "-".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 4)))
        note = "x" * rng.randrange(0, 120)
        out.write(f"INSERT INTO items VALUES ({i}, '{name}', {rng.randrange(500)}, "
                  f"{rng.randrange(100000) / 100}, {rng.randrange(1000)}, '{note}');\n")
        if i % 10000 == 9999 or i == rows - 1:
            out.write("COMMIT;\n")
    out.write("CREATE INDEX items_name ON items(name);\n")
    out.write("CREATE INDEX items_grp_price ON items(grp, price);\n")
    out.write("BEGIN;\n")
    for _ in range(rows // 5):
        out.write(f"UPDATE items SET qty = qty + 1, note = note || 'u' "
                  f"WHERE id = {rng.randrange(rows)};\n")
    out.write("COMMIT;\n")
    out.write(f"DELETE FROM items WHERE id % 10 = {rng.randrange(10)};\n")
    out.write("SELECT count(*), sum(qty), round(sum(price), 2), sum(length(note)) FROM items;\n")
    out.write("SELECT g.label, count(*), round(avg(i.price), 4) FROM items i "
              "JOIN groups g USING (grp) GROUP BY g.label ORDER BY 2 DESC, 1 LIMIT 10;\n")
    out.write("SELECT name, count(*) FROM items GROUP BY name ORDER BY 2 DESC, 1 LIMIT 10;\n")
    for _ in range(2000):
        lo = rng.randrange(500)
        out.write(f"SELECT count(*) FROM items WHERE grp = {lo} AND price < 500;\n")
    out.write("SELECT group_concat(id) FROM (SELECT id FROM items ORDER BY note DESC, id "
              "LIMIT 20);\n")


if __name__ == "__main__":
    main()
