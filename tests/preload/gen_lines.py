"""gen_lines.py COUNT: COUNT lines of seeded pseudo-random text on stdout, the input that
test-preload sorts and compresses: space-separated words, a number, some long tails."""
import random
import sys

WORDS = ["slab", "cache", "arena", "magazine", "freelist", "partial", "master", "slave",
         "region", "bitmap", "thread", "batch", "refill", "flush", "decay", "trim"]


def main():
    count = int(sys.argv[1])
    rng = random.Random(7)
    out = []
    for i in range(count):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        tail = "z" * rng.randint(0, 120) if i % 11 == 0 else ""
        out.append(f"{words} {rng.randint(-50000, 50000)} {rng.random():.6f} {i}{tail}\n")
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
