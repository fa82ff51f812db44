/* SPDX-License-Identifier: MIT */
/*
 * File offsets of exported functions in an ELF file, for uprobes: libbpf
 * 1.1 does not match versioned names (SSL_write@@OPENSSL_3.0.0), and one
 * pass over the symbol tables answers every name at once.
 */
#ifndef SSE_ELF_SYM_H
#define SSE_ELF_SYM_H

#include <stddef.h>

/* Looks up n names in path's .dynsym (and .symtab if present); offsets[i]
 * is the file offset of names[i], 0 when it is not a defined function.
 * Returns how many were found, or -1 if path is not a readable ELF file. */
int elf_func_offsets(const char *path, const char *const *names, size_t n, size_t *offsets);

/* File offsets of functions a BIO_METHOD table holds, found through the
 * exported function that returns the table (BIO_f_ssl): x86-64 code
 * "lea table(%rip), %rax; ret", then each slot's pointer from its
 * relocation (shared object) or the file (fixed address). The int the
 * table begins with must be type. offsets[i] is the function in
 * slots[i] (a byte offset into the table), 0 when not found. Returns how
 * many were found, or -1 if path is not a readable ELF file. */
int elf_method_funcs(const char *path, const char *getter, int type, const size_t *slots, size_t n,
		     size_t *offsets);

#endif
