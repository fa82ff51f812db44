// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <stdint.h>
#include <stdbool.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "kernel/elf_sym.h"

/* Symbol names may carry a version: "SSL_write@@OPENSSL_3.0.0". */
static bool name_matches(const char *sym, const char *want)
{
	size_t len = strlen(want);

	return !strncmp(sym, want, len) && (sym[len] == '\0' || sym[len] == '@');
}

/* A virtual address to a file offset, through the loadable segments
 * (only executable ones for code); 0 when no file byte holds it. */
static size_t segment_offset(Elf *elf, GElf_Addr addr, bool code)
{
	size_t nphdr;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &nphdr))
		return 0;
	for (size_t i = 0; i < nphdr; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD ||
		    (code && !(ph.p_flags & PF_X)))
			continue;
		if (addr >= ph.p_vaddr && addr < ph.p_vaddr + ph.p_filesz)
			return addr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static size_t vaddr_to_offset(Elf *elf, GElf_Addr addr)
{
	return segment_offset(elf, addr, true);
}

/* The next section of type type after *scn: its entries and their count
 * (NULL when there is none). */
static Elf_Data *next_table(Elf *elf, Elf_Scn **scn, GElf_Word type, GElf_Shdr *sh, size_t *count)
{
	Elf_Data *data;

	while ((*scn = elf_nextscn(elf, *scn))) {
		if (!gelf_getshdr(*scn, sh) || sh->sh_type != type || !sh->sh_entsize)
			continue;
		data = elf_getdata(*scn, NULL);
		*count = sh->sh_size / sh->sh_entsize;
		if (data)
			return data;
	}
	return NULL;
}

/* The name of symbol i of a symbol table if it is a defined function,
 * else NULL. */
static const char *func_name(Elf *elf, Elf_Data *data, const GElf_Shdr *sh, size_t i, GElf_Sym *sym)
{
	if (!gelf_getsym(data, i, sym) || GELF_ST_TYPE(sym->st_info) != STT_FUNC ||
	    sym->st_shndx == SHN_UNDEF || !sym->st_value)
		return NULL;
	return elf_strptr(elf, sh->sh_link, sym->st_name);
}

static void scan_section(Elf *elf, Elf_Data *data, const GElf_Shdr *sh, size_t count,
			 const char *const *names, size_t n, size_t *offsets)
{
	GElf_Sym sym;

	for (size_t i = 0; i < count; i++) {
		const char *name = func_name(elf, data, sh, i, &sym);

		for (size_t k = 0; name && k < n; k++)
			if (!offsets[k] && name_matches(name, names[k]))
				offsets[k] = vaddr_to_offset(elf, sym.st_value);
	}
}

/* The virtual address of a defined function named name, 0 if none. */
static GElf_Addr func_addr(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	GElf_Sym sym;
	size_t count;

	while ((data = next_table(elf, &scn, SHT_DYNSYM, &sh, &count))) {
		for (size_t i = 0; i < count; i++) {
			const char *s = func_name(elf, data, &sh, i, &sym);

			if (s && name_matches(s, name))
				return sym.st_value;
		}
	}
	return 0;
}

static bool read_at(int fd, size_t off, void *buf, size_t len)
{
	return off && pread(fd, buf, len, off) == (ssize_t)len;
}

/* The address a getter "[endbr64] lea disp32(%rip), %rax; ret" returns. */
static GElf_Addr returned_address(Elf *elf, int fd, GElf_Addr fn)
{
	static const unsigned char endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
	unsigned char code[12];
	size_t at = 0;
	int32_t disp;

	if (!read_at(fd, vaddr_to_offset(elf, fn), code, sizeof(code)))
		return 0;
	if (!memcmp(code, endbr64, sizeof(endbr64)))
		at = sizeof(endbr64);
	if (code[at] != 0x48 || code[at + 1] != 0x8d || code[at + 2] != 0x05 ||
	    code[at + 7] != 0xc3)
		return 0;
	memcpy(&disp, code + at + 3, sizeof(disp));
	return fn + at + 7 + (int64_t)disp;
}

/* The value the loader stores at addr: a relative relocation's addend in
 * a shared object, else what the file holds there; 0 when unreadable. */
static GElf_Addr pointer_at(Elf *elf, int fd, GElf_Addr addr)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	GElf_Rela r;
	uint64_t v;
	size_t count;

	while ((data = next_table(elf, &scn, SHT_RELA, &sh, &count)))
		for (size_t i = 0; i < count; i++)
			if (gelf_getrela(data, i, &r) && r.r_offset == addr &&
			    GELF_R_TYPE(r.r_info) == R_X86_64_RELATIVE)
				return r.r_addend;
	/* a short read may have filled part of v */
	return read_at(fd, segment_offset(elf, addr, false), &v, sizeof(v)) ? v : 0;
}

/* path as an ELF file (elf_end() and close() it), or NULL with *fd -1. */
static Elf *elf_open(const char *path, int *fd)
{
	Elf *elf;

	*fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF)
		return elf;
	if (elf)
		elf_end(elf);
	close(*fd);
	*fd = -1;
	return NULL;
}

static void elf_close(Elf *elf, int fd)
{
	elf_end(elf);
	close(fd);
}

int elf_method_funcs(const char *path, const char *getter, int type, const size_t *slots, size_t n,
		     size_t *offsets)
{
	GElf_Addr table = 0;
	GElf_Ehdr eh;
	int fd, found = 0, t = 0;
	Elf *elf;

	memset(offsets, 0, n * sizeof(*offsets));
	elf = elf_open(path, &fd);
	if (!elf)
		return -1;
	if (gelf_getehdr(elf, &eh) && eh.e_machine == EM_X86_64)
		table = returned_address(elf, fd, func_addr(elf, getter));
	if (table && read_at(fd, segment_offset(elf, table, false), &t, sizeof(t)) && t == type) {
		for (size_t k = 0; k < n; k++) {
			offsets[k] = vaddr_to_offset(elf, pointer_at(elf, fd, table + slots[k]));
			found += offsets[k] != 0;
		}
	}
	elf_close(elf, fd);
	return found;
}

int elf_func_offsets(const char *path, const char *const *names, size_t n, size_t *offsets)
{
	static const GElf_Word tables[] = {SHT_DYNSYM, SHT_SYMTAB};
	Elf_Data *data;
	GElf_Shdr sh;
	int fd, found = 0;
	size_t count;
	Elf *elf;

	memset(offsets, 0, n * sizeof(*offsets));
	elf = elf_open(path, &fd);
	if (!elf)
		return -1;
	for (size_t t = 0; t < 2; t++) {
		Elf_Scn *scn = NULL;

		while ((data = next_table(elf, &scn, tables[t], &sh, &count)))
			scan_section(elf, data, &sh, count, names, n, offsets);
	}
	for (size_t k = 0; k < n; k++)
		found += offsets[k] != 0;
	elf_close(elf, fd);
	return found;
}
