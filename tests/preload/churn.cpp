// churn.cpp - C++ allocation churn for the preload test: ordered and unordered maps, strings,
// vectors, shared_ptr graphs, exceptions thrown and caught, aligned and array new, and the
// failing forms of operator new (nothrow returning nullptr, throwing std::bad_alloc). Prints
// one line per part with a digest of what it computed; the output must be the same under
// glibc and under aslab. Nothing printed depends on an address.
#include <climits>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Digest {
    uint64_t h = 1469598103934665603ull;
    void add(uint64_t v) {
        for (int i = 0; i < 8; i++)
            h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
    void add(const std::string &s) {
        for (unsigned char c : s)
            h = (h ^ c) * 1099511628211ull;
        add(s.size());
    }
};

void report(const char *part, const Digest &d, uint64_t count) {
    std::printf("%-10s %8llu %016llx\n", part, static_cast<unsigned long long>(count),
                static_cast<unsigned long long>(d.h));
}

std::string random_string(std::mt19937_64 &rng, size_t max_len) {
    size_t len = rng() % (max_len + 1);
    std::string s;
    for (size_t i = 0; i < len; i++)
        s.push_back(static_cast<char>('a' + rng() % 26));
    return s;
}

void map_churn(std::mt19937_64 &rng) {
    std::map<int, std::string> m;
    for (int i = 0; i < 200000; i++) {
        int key = static_cast<int>(rng() % 50000);
        if (rng() % 3 == 0)
            m.erase(key);
        else
            m[key] = random_string(rng, 40);
    }
    Digest d;
    for (const auto &[key, value] : m)
        d.add(static_cast<uint64_t>(key)), d.add(value);
    report("map", d, m.size());
}

void unordered_churn(std::mt19937_64 &rng) {
    std::unordered_map<std::string, std::vector<int>> m;
    for (int i = 0; i < 150000; i++) {
        std::string key = "k" + std::to_string(rng() % 30000);
        if (rng() % 4 == 0) {
            m.erase(key);
            continue;
        }
        auto &v = m[key];
        v.push_back(i);
        if (v.size() > 6) v.erase(v.begin());
    }
    uint64_t sum = 0; // the iteration order is not the point: digest order-free
    for (const auto &[key, values] : m) {
        Digest d;
        d.add(key);
        for (int v : values)
            d.add(static_cast<uint64_t>(v));
        sum += d.h;
    }
    Digest d;
    d.add(sum);
    report("unordered", d, m.size());
}

void string_vector_churn(std::mt19937_64 &rng) {
    std::vector<std::string> v;
    Digest d;
    for (int i = 0; i < 300000; i++) {
        uint64_t r = rng() % 10;
        if (r < 6 || v.empty()) {
            v.push_back(random_string(rng, r < 3 ? 12 : 300));
        } else if (r < 8) {
            d.add(v.back());
            v.pop_back();
        } else {
            std::string &s = v[rng() % v.size()];
            s += s.substr(0, s.size() / 2) + "+";
            if (s.size() > 2000) s.resize(10);
        }
        if (i % 50000 == 49999) v.shrink_to_fit();
    }
    for (const auto &s : v)
        d.add(s);
    report("strings", d, v.size());
}

struct Node {
    uint64_t value;
    std::vector<std::shared_ptr<Node>> children;
    std::weak_ptr<Node> parent;
};

void shared_ptr_churn(std::mt19937_64 &rng) {
    std::vector<std::shared_ptr<Node>> roots(1000);
    uint64_t deleted = 0;
    for (int i = 0; i < 200000; i++) {
        auto &slot = roots[rng() % roots.size()];
        if (slot == nullptr || rng() % 4 == 0) {
            if (rng() % 2)
                slot = std::make_shared<Node>();
            else // separate control block, custom deleter
                slot = std::shared_ptr<Node>(new Node, [&deleted](Node *n) {
                    deleted++;
                    delete n;
                });
            slot->value = static_cast<uint64_t>(i);
        } else if (slot->children.size() < 8) {
            auto child = std::make_shared<Node>();
            child->value = slot->value * 3 + static_cast<uint64_t>(i);
            child->parent = slot;
            slot->children.push_back(std::move(child));
        }
    }
    Digest d;
    for (const auto &root : roots) {
        if (root == nullptr) continue;
        d.add(root->value);
        for (const auto &child : root->children)
            d.add(child->parent.lock()->value + child->value);
    }
    roots.clear();
    report("shared_ptr", d, deleted);
}

struct Failure : std::runtime_error {
    std::vector<int> trail;
    Failure(const std::string &what, int depth)
        : std::runtime_error(what), trail(static_cast<size_t>(depth), depth) {}
};

int recurse(int depth, int limit, const std::string &tag) {
    std::string local = tag + std::to_string(depth);
    if (depth == limit) {
        if (depth % 2)
            throw Failure(local + std::string(static_cast<size_t>(depth) * 7, 'x'), depth);
        throw std::out_of_range(local);
    }
    return recurse(depth + 1, limit, local) + 1;
}

void exceptions(std::mt19937_64 &rng) {
    Digest d;
    uint64_t caught = 0;
    for (int i = 0; i < 20000; i++) {
        try {
            recurse(0, static_cast<int>(rng() % 12), "t");
        } catch (const Failure &f) {
            d.add(std::string(f.what())), d.add(f.trail.size());
            caught++;
        } catch (const std::exception &e) {
            d.add(std::string(e.what()));
            caught++;
        }
    }
    report("exceptions", d, caught);
}

struct alignas(64) Line {
    uint64_t words[8];
};

bool aligned64(const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 64 == 0;
}

void aligned_and_arrays(std::mt19937_64 &rng) {
    uint64_t misaligned = 0;
    Digest d;
    std::vector<Line *> lines;
    for (int i = 0; i < 20000; i++) {
        Line *line = new Line{};
        line->words[i % 8] = static_cast<uint64_t>(i);
        misaligned += !aligned64(line);
        lines.push_back(line);
        size_t n = 1 + rng() % 40;
        Line *many = new Line[n];
        misaligned += !aligned64(many);
        many[n - 1].words[0] = n;
        d.add(many[n - 1].words[0]);
        delete[] many;
        auto *strings = new std::string[1 + rng() % 20]; // an array cookie for the destructors
        strings[0] = random_string(rng, 30);
        d.add(strings[0]);
        delete[] strings;
        if (lines.size() > 500) {
            for (Line *l : lines)
                d.add(l->words[0]), delete l;
            lines.clear();
        }
    }
    for (Line *l : lines)
        delete l;
    std::vector<Line> vec(1000); // std::allocator uses the aligned operator new
    misaligned += !aligned64(vec.data());
    report("aligned", d, misaligned);
}

// The failing forms: each line says what happened, which must be the same everywhere.
void failing_new() {
    volatile size_t huge = size_t{1} << 46, max = SIZE_MAX;
    void *p = ::operator new(huge, std::nothrow);
    std::printf("nothrow new(1<<46): %s\n", p == nullptr ? "nullptr" : "non-null");
    ::operator delete(p);
    char *array = new (std::nothrow) char[huge];
    std::printf("nothrow new char[1<<46]: %s\n", array == nullptr ? "nullptr" : "non-null");
    delete[] array;
    void *aligned = ::operator new (huge, std::align_val_t{64}, std::nothrow);
    std::printf("nothrow aligned new(1<<46): %s\n", aligned == nullptr ? "nullptr" : "non-null");
    ::operator delete (aligned, std::align_val_t{64});
    const char *outcomes[3] = {"returned", "returned", "returned"};
    try {
        ::operator delete(::operator new(max));
    } catch (const std::bad_alloc &) {
        outcomes[0] = "bad_alloc";
    }
    try {
        delete[] new char[max];
    } catch (const std::bad_alloc &) {
        outcomes[1] = "bad_alloc";
    }
    try { // not SIZE_MAX: libstdc++ rounds it up to a multiple of 64, wraps to 0, and succeeds
        ::operator delete (::operator new (max / 2, std::align_val_t{64}), std::align_val_t{64});
    } catch (const std::bad_alloc &) {
        outcomes[2] = "bad_alloc";
    }
    std::printf("new(SIZE_MAX): %s; new char[SIZE_MAX]: %s; aligned new(SIZE_MAX/2): %s\n",
                outcomes[0], outcomes[1], outcomes[2]);
}

} // namespace

int main() {
    std::mt19937_64 rng(20240601);
    for (int round = 0; round < 2; round++) {
        map_churn(rng);
        unordered_churn(rng);
        string_vector_churn(rng);
        shared_ptr_churn(rng);
        exceptions(rng);
        aligned_and_arrays(rng);
    }
    failing_new();
    return 0;
}
