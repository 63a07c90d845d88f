/* The classic hand-made holder: sleep in pause() forever.
 * No signal handling at all, so TERM/INT/HUP/USR1 take their default action
 * (death) unless it is PID 1, and orphans it inherits stay zombies.
 * Built with: musl-gcc -Os -static -s */
#include <unistd.h>

int main(void)
{
	for (;;)
		pause();
}
