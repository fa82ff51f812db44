// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <stdbool.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "elf_sym.h"

/* Symbol names may carry a version: "SSL_write@@OPENSSL_3.0.0". */
static bool name_matches(const char *sym, const char *want)
{
	size_t len = strlen(want);

	return !strncmp(sym, want, len) && (sym[len] == '\0' || sym[len] == '@');
}

/* A virtual address to a file offset, through the loadable segments. */
static size_t vaddr_to_offset(Elf *elf, GElf_Addr addr)
{
	size_t nphdr;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &nphdr))
		return 0;
	for (size_t i = 0; i < nphdr; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (addr >= ph.p_vaddr && addr < ph.p_vaddr + ph.p_memsz)
			return addr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static void scan_section(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, const char *const *names,
			 size_t n, size_t *offsets)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	GElf_Sym sym;

	for (size_t i = 0; data && i < count; i++) {
		const char *name;

		if (!gelf_getsym(data, i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name)
			continue;
		for (size_t k = 0; k < n; k++)
			if (!offsets[k] && name_matches(name, names[k]))
				offsets[k] = vaddr_to_offset(elf, sym.st_value);
	}
}

int elf_func_offsets(const char *path, const char *const *names, size_t n, size_t *offsets)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int fd, found = 0;
	Elf *elf;

	memset(offsets, 0, n * sizeof(*offsets));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		found = -1;
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) &&
		    (sh.sh_type == SHT_DYNSYM || sh.sh_type == SHT_SYMTAB))
			scan_section(elf, scn, &sh, names, n, offsets);
	for (size_t k = 0; k < n; k++)
		found += offsets[k] != 0;
out:
	if (elf)
		elf_end(elf);
	close(fd);
	return found;
}
