"""Allocation-heavy Python for the preload test (run with PYTHONMALLOC=malloc).

Dicts, lists, tuples, strings, a JSON round trip, regular expressions and sorting, over a
few rounds. Prints one digest line per part; the output must be the same under glibc and
under aslab. Seeded, and nothing printed depends on an address or on hash randomisation.
"""
import collections
import hashlib
import json
import random
import re

WORDS = ["alpha", "beta", "gamma", "delta", "slab", "cache", "arena", "free", "list"]


def digest(value):
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def make_records(rng, count):
    records = []
    for i in range(count):
        name = "".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 14)))
        records.append({
            "id": i,
            "name": name,
            "score": rng.randint(0, 10000) / 7,
            "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 6))],
            "nested": {"parent": i // 3, "flags": (i % 2 == 0, i % 5 == 0)},
        })
    return records


def dict_churn(rng):
    table = {}
    for i in range(120000):
        key = f"k{rng.randrange(40000)}"
        if rng.random() < 0.3:
            table.pop(key, None)
        else:
            table[key] = (i, key * 2, [i] * (i % 7))
    counts = collections.Counter(len(v[2]) for v in table.values())
    return len(table), digest(sorted(counts.items())), digest(sorted(table.items())[:500])


def json_round_trip(records):
    text = json.dumps(records, sort_keys=True)
    back = json.loads(text)
    pretty = json.dumps(back, indent=2, sort_keys=True)
    return len(text), back == json.loads(pretty), hashlib.sha256(text.encode()).hexdigest()[:16]


def regex_work(records):
    text = "\n".join(f"{r['id']}:{r['name']}:{','.join(r['tags'])}" for r in records)
    pairs = re.findall(r"^(\d+):([a-p]+):", text, re.M)
    rewritten = re.sub(r"(al|ga)(pha|mma)", lambda m: m.group(2).upper() + m.group(1), text)
    words = collections.Counter(re.split(r"[\n:,]+", rewritten))
    return len(pairs), digest(words.most_common(12)), len(rewritten)


def sorting(records, rng):
    by_score = sorted(records, key=lambda r: (r["score"], r["name"], r["id"]))
    by_tags = sorted(records, key=lambda r: (len(r["tags"]), r["tags"], -r["id"]))
    numbers = [rng.random() for _ in range(100000)]
    numbers.sort()
    strings = sorted(str(x)[::-1] for x in numbers[::3])
    return digest([r["id"] for r in by_score[:1000]]), digest([r["id"] for r in by_tags[-1000:]]), \
        digest(strings[:200])


def string_work(rng):
    parts = []
    for i in range(60000):
        s = f"{i:06d}-{rng.choice(WORDS)}-{'x' * (i % 40)}"
        parts.append(s.upper() if i % 3 else s.replace("-", "_"))
    joined = "|".join(parts)
    pieces = joined.split("|")
    encoded = [p.encode("utf-8") for p in pieces[::2]]
    return len(joined), digest(pieces[-50:]), sum(map(len, encoded))


def main():
    rng = random.Random(1234)
    for round_no in range(2):
        records = make_records(rng, 25000)
        print(f"round {round_no}")
        print("  dicts  ", *dict_churn(rng))
        print("  json   ", *json_round_trip(records))
        print("  regex  ", *regex_work(records))
        print("  sorting", *sorting(records, rng))
        print("  strings", *string_work(rng))


if __name__ == "__main__":
    main()
