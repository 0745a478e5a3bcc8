/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The tc program's object file (src/bpf/tunnel.bpf.o), linked into the
 * daemons so that they load what they were built with. */
	.section .rodata
	.balign 8
	.global wlb_tun_obj
wlb_tun_obj:
	.incbin WLB_TUN_OBJ
	.global wlb_tun_obj_end
wlb_tun_obj_end:
	.section .note.GNU-stack,"",%progbits
