"""python_objects.py [ROUNDS] - object churn for CPython under PYTHONMALLOC=malloc.

Each round builds 60000 records (an instance with a __dict__, a dict, a list, a tuple,
strings), indexes them in dicts, sorts and groups them, formats strings, drops half and
rebuilds, so that nearly every operation allocates or frees small objects. Prints
checksums that do not depend on the allocator (no id(), no hash of str).
"""
import random
import sys


class Record:  # pylint: disable=too-few-public-methods
    """A record with a few attributes in a per-instance __dict__."""

    def __init__(self, key, name, tags, score):
        self.key = key
        self.name = name
        self.tags = tags
        self.score = score
        self.links = []


def build(rng, count):
    """Builds count records with nested containers."""
    records = []
    for i in range(count):
        name = f"rec-{i}-{''.join(rng.choice('abcdefgh') for _ in range(6))}"
        tags = {f"t{rng.randrange(50)}": rng.random() for _ in range(rng.randrange(1, 6))}
        rec = Record(i, name, tags, (rng.randrange(1000), rng.random()))
        records.append(rec)
    for rec in records:
        rec.links = [records[rng.randrange(count)].key for _ in range(rng.randrange(4))]
    return records


def churn(rng, records):
    """Indexes, groups, sorts and rewrites the records; returns a checksum."""
    by_name = {rec.name: rec for rec in records}
    groups = {}
    for rec in records:
        for tag in rec.tags:
            groups.setdefault(tag, []).append(rec.key)
    ordered = sorted(records, key=lambda r: (r.score[0], r.name))
    text = [f"{r.key}:{r.name}:{len(r.tags)}:{sum(r.links)}" for r in ordered[::3]]
    check = sum(len(s) for s in text) + sum(len(v) for v in groups.values())
    check += sum(by_name[r.name].key for r in ordered[:1000])
    survivors = [r for r in records if rng.random() < 0.5]
    for rec in survivors:
        rec.tags = dict(sorted(rec.tags.items())[:2])
        rec.links = rec.links + [len(rec.name)]
        rec.name = rec.name.upper()
    return check + len(survivors) + sum(len(r.links) for r in survivors)


def main():
    """Runs the rounds and prints one checksum line per round."""
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rng = random.Random(12345)
    total = 0
    for i in range(rounds):
        records = build(rng, 60000)
        check = churn(rng, records)
        total += check
        print(f"python_objects: round {i} checksum {check}")
    print(f"python_objects: total {total}")


if __name__ == "__main__":
    main()
