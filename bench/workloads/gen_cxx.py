"""gen_cxx.py UNITS - writes to stdout one large C++ translation unit for g++ -O2.

UNITS blocks, each a class template with std::map, std::vector and std::string members, a
few instantiations, and a function with loops, lambdas and std::sort that uses them; a final
function calls every block. The compiler's own data structures (trees, RTL, hash tables)
are what the allocators serve. Deterministic for a given UNITS.
"""
import sys

HEADER = """#include <algorithm>
#include <map>
#include <numeric>
#include <string>
#include <vector>
"""

BLOCK = """
template <typename T> struct Box{i} {{
    std::map<std::string, T> named;
    std::vector<T> items;
    T total() const {{ return std::accumulate(items.begin(), items.end(), T{{}}); }}
    void add(const std::string &key, T v) {{
        named[key] += v;
        items.push_back(v * {k});
    }}
}};

long work{i}(int n) {{
    Box{i}<long> a;
    Box{i}<double> b;
    for (int j = 0; j < n; j++) {{
        a.add("a" + std::to_string(j % {m}), j);
        b.add("b" + std::to_string(j % {k}), j * 0.5);
    }}
    std::vector<long> v(a.items);
    std::sort(v.begin(), v.end(), [](long x, long y) {{ return (x % {m}) < (y % {m}) || x < y; }});
    long s = a.total() + static_cast<long>(b.total());
    for (const auto &kv : a.named) s += static_cast<long>(kv.first.size()) * kv.second;
    return s + (v.empty() ? 0 : v.front());
}}
"""


def main():
    """Writes the translation unit."""
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    out = sys.stdout
    out.write(HEADER)
    for i in range(units):
        out.write(BLOCK.format(i=i, k=i % 7 + 2, m=i % 13 + 3))
    out.write("\nlong run_all(int n) {\n    long s = 0;\n")
    for i in range(units):
        out.write(f"    s += work{i}(n);\n")
    out.write("    return s;\n}\n")


if __name__ == "__main__":
    main()
