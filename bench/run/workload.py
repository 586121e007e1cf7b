"""workload.py [ROUNDS]: the default workload of `make run`, object churn for Debian's
python3 under PYTHONMALLOC=malloc, where nearly every operation is a malloc or a free.

Each round builds a table of 200000 entries (str keys, tuples of ints, floats and strings,
small lists), then churns it: drops and replaces a third of the entries twice,
groups the survivors into dicts of lists, sorts them and formats a report. The output is a
few checksums that depend on no address and on no str hash, so it is the same under any
allocator.
"""
import random
import sys
import zlib

ENTRIES = 200000
CHURN_PASSES = 2
SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "tu", "va", "ze"]


def make_names(rng, count):
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 5))) for _ in range(count)]


def make_entry(rng, serial, names):
    name = names[int(rng.random() * len(names))]
    return (serial, name, rng.random(), [serial % 7, len(name)], f"{name}-{serial:07d}")


def build(rng, serial, names):
    table = {}
    for _ in range(ENTRIES):
        entry = make_entry(rng, serial, names)
        table[entry[4]] = entry
        serial += 1
    return table, serial


def churn(rng, table, serial, names):
    for _ in range(CHURN_PASSES):
        keys = list(table)
        for key in keys[rng.randrange(3)::3]:
            del table[key]
        for _ in range(len(keys) - len(table)):
            entry = make_entry(rng, serial, names)
            table[entry[4]] = entry
            serial += 1
    return serial


def group(table):
    groups = {}
    for serial, name, weight, small, _ in table.values():
        groups.setdefault(name[:4], []).append((round(weight, 3), serial, small[0]))
    return groups


def summarize(groups):
    lines = []
    for prefix in sorted(groups):
        members = sorted(groups[prefix])
        lines.append(f"{prefix} {len(members)} {members[0][1]} {members[-1][1]}")
    report = "\n".join(lines)
    return len(lines), zlib.crc32(report.encode())


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rng = random.Random(42)
    names = make_names(rng, 5000)
    serial = 0
    for round_no in range(rounds):
        table, serial = build(rng, serial, names)
        serial = churn(rng, table, serial, names)
        count, crc = summarize(group(table))
        print(f"round {round_no}: {len(table)} entries, {count} groups, crc {crc:08x}")
        del table


if __name__ == "__main__":
    main()
