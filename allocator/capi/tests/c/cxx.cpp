// C++ on strata: the compiler's own calls to operator new and delete (plain,
// array, sized, aligned) through the standard library and threads, and
// operator new running out of memory as the standard says it must.
//
//   cxx            containers, smart pointers, over-aligned types, threads,
//                  std::bad_alloc and the new-handler
//   array-delete   new[] released with delete, for debug mode to stop
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

struct alignas(256) Wide {
    unsigned char bytes[300];
};

static int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            std::fprintf(stderr, "cxx.cpp:%d: check failed: %s\n", __LINE__, \
                         #cond);                                             \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static void containers() {
    std::vector<std::string> words;
    for (int i = 0; i < 100000; i++) words.push_back("word number " + std::to_string(i));
    std::map<std::string, std::vector<int>> index;
    for (const auto &w : words) index[w.substr(0, 14)].push_back((int)w.size());
    CHECK(words[99999] == "word number 99999");
    CHECK(!index.empty());
    auto shared = std::make_shared<std::vector<double>>(1000, 1.5);
    CHECK((*shared)[999] == 1.5);
    std::unique_ptr<int[]> numbers(new int[1000]());
    CHECK(numbers[500] == 0);
}

static void over_aligned() {
    for (int i = 0; i < 100; i++) {
        Wide *one = new Wide;
        CHECK(reinterpret_cast<std::uintptr_t>(one) % 256 == 0);
        std::memset(one->bytes, 1, sizeof one->bytes);
        delete one;
        Wide *many = new Wide[7];
        CHECK(reinterpret_cast<std::uintptr_t>(many) % 256 == 0);
        delete[] many;
    }
    std::vector<Wide> wides(50);
    CHECK(reinterpret_cast<std::uintptr_t>(wides.data()) % 256 == 0);
}

static void threads_trading_objects() {
    std::vector<std::unique_ptr<std::string>> made(20000);
    std::thread maker([&] {
        for (size_t i = 0; i < made.size(); i++)
            made[i] = std::make_unique<std::string>(std::string(i % 100 + 20, 'x'));
    });
    maker.join();
    std::vector<std::thread> freers;
    for (int t = 0; t < 4; t++)
        freers.emplace_back([&, t] {
            for (size_t i = t; i < made.size(); i += 4) made[i].reset();
        });
    for (auto &f : freers) f.join();
    for (const auto &m : made) CHECK(!m);
}

// More than any machine can map, yet far from overflowing a size.
static volatile std::size_t too_much = SIZE_MAX / 4;
static void *volatile kept;
static int handler_calls;

static void give_up_on_third_call() {
    if (++handler_calls == 3) std::set_new_handler(nullptr);
}

template <typename Allocate>
static bool throws_bad_alloc(Allocate allocate) {
    try {
        kept = allocate();
    } catch (const std::bad_alloc &) {
        return true;
    }
    return false;
}

static void out_of_memory() {
    std::size_t size = too_much;
    CHECK(throws_bad_alloc([&] { return ::operator new(size); }));
    CHECK(throws_bad_alloc([&] { return ::operator new[](size); }));
    CHECK(throws_bad_alloc([&] { return ::operator new(size, std::align_val_t(64)); }));
    CHECK(throws_bad_alloc([&] { return ::operator new[](size, std::align_val_t(4096)); }));
    CHECK(throws_bad_alloc([&] { return static_cast<void *>(new char[size]); }));
    CHECK(::operator new(size, std::nothrow) == nullptr);
    CHECK(::operator new[](size, std::align_val_t(64), std::nothrow) == nullptr);
    // The new-handler is called until it removes itself, then bad_alloc.
    std::set_new_handler(give_up_on_third_call);
    CHECK(throws_bad_alloc([&] { return ::operator new(size); }));
    CHECK(handler_calls == 3);
    // A handler may throw bad_alloc itself.
    std::set_new_handler([] { throw std::bad_alloc(); });
    CHECK(throws_bad_alloc([&] { return ::operator new(size); }));
    std::set_new_handler(nullptr);
    // Allocation still works afterwards.
    std::unique_ptr<std::string> after(new std::string(1000, 'y'));
    CHECK(after->size() == 1000);
}

int main(int argc, char **argv) {
    if (argc > 1 && !std::strcmp(argv[1], "array-delete")) {
        int *numbers = new int[10];
        numbers[0] = 1;
        delete numbers;
        std::printf("array-delete went unnoticed\n");
        return 0;
    }
    containers();
    over_aligned();
    threads_trading_objects();
    out_of_memory();
    if (failures) return 1;
    std::printf("cxx.cpp: all checks passed\n");
    return 0;
}
