/* The -nostdlib C holder as people write it for x86_64, compiled for aarch64.
 * aarch64 has no SYS_pause (the asm-generic syscall table dropped it), so the
 * #else branch is what runs there: a sched_yield loop that never sleeps and
 * burns a whole CPU. This is the failure mode sleeper's rt_sigtimedwait avoids.
 * Built with: aarch64-linux-gnu-gcc -Os -static -nostdlib -s */
#include <sys/syscall.h>

static long syscall0(long n)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0");
	__asm__ volatile("svc #0" : "=r"(x0) : "r"(x8) : "memory");
	return x0;
}

void _start(void)
{
	for (;;) {
#ifdef SYS_pause
		syscall0(SYS_pause);
#else
		syscall0(SYS_sched_yield);
#endif
	}
}
