/* A Kubernetes-pause-style holder, written here after the shape of
 * kubernetes/build/pause/linux/pause.c: handlers that exit 0 on TERM/INT and
 * reap on SIGCHLD, then a pause() loop. Linked statically against glibc
 * (gcc -Os -static -s) because that is how the real one ships, which gives it
 * its typical size of several hundred KB. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo)
{
	psignal(signo, "Shutting down, got signal");
	exit(0);
}

static void sigreap(int signo)
{
	(void)signo;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	if (getpid() != 1)
		fprintf(stderr, "Warning: pause should be the first process\n");

	if (sigaction(SIGINT, &(struct sigaction){.sa_handler = sigdown}, NULL) < 0)
		return 1;
	if (sigaction(SIGTERM, &(struct sigaction){.sa_handler = sigdown}, NULL) < 0)
		return 2;
	if (sigaction(SIGCHLD, &(struct sigaction){.sa_handler = sigreap,
						   .sa_flags = SA_NOCLDSTOP},
		      NULL) < 0)
		return 3;

	for (;;)
		pause();
	fprintf(stderr, "Error: infinite loop terminated\n");
	return 42;
}
