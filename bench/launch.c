/* launch FD CPUS PROGRAM [ARG...]: start one holder for bench/compare.
 *
 * - PR_SET_PDEATHSIG=SIGKILL: if the benchmark dies, even by SIGKILL, its holders go too.
 * - every signal disposition back to SIG_DFL and an empty mask, as a container runtime
 *   gives. glibc's posix_spawn leaves its internal signals 32 and 33 at SIG_IGN, which
 *   survives exec; libc sigaction() refuses to touch those, so use the raw syscall.
 * - CPUS ("1,2,..." or "-"): pin to the CPUs the benchmark does not poll from.
 * - writes CLOCK_MONOTONIC (ns, 8 bytes, native order) to FD just before the execve,
 *   the start of "exec -> asleep". The benchmark spawns this tiny static program, so
 *   the timed execve tears down a few pages, not a Python address space.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The kernel's struct sigaction on x86_64 and aarch64. */
struct k_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

int main(int argc, char **argv)
{
	struct k_sigaction dfl = { SIG_DFL, 0, 0, 0 };
	uint64_t empty = 0;
	struct timespec ts;
	uint64_t ns;
	int fd;

	if (argc < 4)
		return 127;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, 0, sizeof(uint64_t));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, 0, sizeof(uint64_t));
	if (argv[2][0] != '-') {
		cpu_set_t set;
		char *p = argv[2];

		CPU_ZERO(&set);
		for (;;) {
			long cpu = strtol(p, &p, 10); /* musl's CPU_SET evaluates its argument twice */

			CPU_SET(cpu, &set);
			if (*p++ != ',')
				break;
		}
		sched_setaffinity(0, sizeof set, &set);
	}
	fd = atoi(argv[1]);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (write(fd, &ns, sizeof ns) != sizeof ns)
		return 127;
	close(fd);
	execv(argv[3], argv + 3);
	return 127;
}
