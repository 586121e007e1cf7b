/* cpu_relax.h - the spin-wait hint of each architecture, for the spinning locks. */
#ifndef ASLAB_CPU_RELAX_H
#define ASLAB_CPU_RELAX_H

static inline void aslab__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__ARM_ARCH) && __ARM_ARCH >= 7)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif
