/* override_new.c - C++ operator new and delete in all their forms, by their mangled names,
 * written in C so that the library needs no C++ runtime. On failure the throwing forms call
 * the program's new_handler, as the standard requires, and throw std::bad_alloc through the
 * C++ runtime that any program calling operator new has loaded; the nothrow forms return
 * NULL. Compiled with -fexceptions so that the exception can unwind through these frames. */
#include "../src/malloc/api.h"

#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))

typedef void (*new_handler_fn)(void);
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

/* The standard loop: call the handler while there is one, else throw. */
static void *new_failed(size_t size, size_t align, int nothrow) {
    for (;;) {
        new_handler_fn handler = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
        if (handler == NULL) break;
        handler();
        void *p = align ? aslab__api_aligned_alloc(align, size) : aslab__api_malloc(size);
        if (p != NULL) return p;
    }
    if (nothrow) return NULL;
    if (_ZSt17__throw_bad_allocv) _ZSt17__throw_bad_allocv();
    abort();
}

static inline void *new_plain(size_t size, int nothrow) {
    void *p = aslab__api_malloc(size);
    return ASLAB__LIKELY(p != NULL) ? p : new_failed(size, 0, nothrow);
}

static inline void *new_aligned(size_t size, size_t align, int nothrow) {
    void *p = aslab__api_aligned_alloc(align, size);
    return p != NULL ? p : new_failed(size, align, nothrow);
}

static inline void delete_sized(void *p, size_t size) {
    aslab__api_free_sized(p, size, "operator delete");
}

/* operator new / new[] (size), nothrow, aligned, aligned nothrow */
EXPORT void *_Znwm(size_t size) {
    return new_plain(size, 0);
}
EXPORT void *_Znam(size_t size) {
    return new_plain(size, 0);
}
EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag) {
    (void)tag;
    return new_plain(size, 1);
}
EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *tag) {
    (void)tag;
    return new_plain(size, 1);
}
EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t align) {
    return new_aligned(size, align, 0);
}
EXPORT void *_ZnamSt11align_val_t(size_t size, size_t align) {
    return new_aligned(size, align, 0);
}
EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *tag) {
    (void)tag;
    return new_aligned(size, align, 1);
}
EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *tag) {
    (void)tag;
    return new_aligned(size, align, 1);
}

/* operator delete / delete[]: plain, sized, nothrow, aligned, sized aligned, aligned nothrow */
EXPORT void _ZdlPv(void *p) {
    aslab__api_free(p, "operator delete");
}
EXPORT void _ZdaPv(void *p) {
    aslab__api_free(p, "operator delete[]");
}
EXPORT void _ZdlPvm(void *p, size_t size) {
    delete_sized(p, size);
}
EXPORT void _ZdaPvm(void *p, size_t size) {
    delete_sized(p, size);
}
EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *tag) {
    (void)tag;
    aslab__api_free(p, "operator delete");
}
EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *tag) {
    (void)tag;
    aslab__api_free(p, "operator delete[]");
}
EXPORT void _ZdlPvSt11align_val_t(void *p, size_t align) {
    (void)align;
    aslab__api_free(p, "operator delete");
}
EXPORT void _ZdaPvSt11align_val_t(void *p, size_t align) {
    (void)align;
    aslab__api_free(p, "operator delete[]");
}
EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) {
    (void)align;
    delete_sized(p, size);
}
EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) {
    (void)align;
    delete_sized(p, size);
}
EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *tag) {
    (void)align, (void)tag;
    aslab__api_free(p, "operator delete");
}
EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *tag) {
    (void)align, (void)tag;
    aslab__api_free(p, "operator delete[]");
}
