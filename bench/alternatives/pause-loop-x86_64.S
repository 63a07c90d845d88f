/* The same pause() loop in x86_64 assembly, without a C runtime.
 * Built with: as pause-loop-x86_64.S -o x.o && ld -s x.o */
	.globl	_start
	.text
_start:
	mov	$34, %eax	/* SYS_pause */
	syscall
	jmp	_start

	/* A non-executable stack, as every distro build expects. */
	.section .note.GNU-stack, "", @progbits
