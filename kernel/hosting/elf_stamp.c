/* Read a plugin's ABI stamp straight from its ELF file, so that a mismatched plugin is
 * refused before the dynamic loader maps it and runs any of its constructors. */
#include "build-config.h"
#include "plugin_loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool read_at(int fd, off_t off, void *buf, size_t n, size_t file_size)
{
    if (off < 0 || (size_t)off > file_size || n > file_size - (size_t)off)
        return false;
    return pread(fd, buf, n, off) == (ssize_t)n;
}

int mf_elf_read_stamp(const char *file, mf_stamp *out, mf_error *err)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mf_error_set(err, -1, "%s: cannot open: %s", file, strerror(errno));
        return -1;
    }
    struct stat st;
    Elf64_Ehdr eh;
    int rc = -1;
    if (fstat(fd, &st) || !read_at(fd, 0, &eh, sizeof eh, (size_t)st.st_size) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        mf_error_set(err, -1, "%s: not an ELF shared object (truncated or another format)", file);
        goto out;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) ||
        eh.e_shstrndx >= eh.e_shnum) {
        mf_error_set(err, -1, "%s: not a 64-bit ELF object this kernel can load", file);
        goto out;
    }
    Elf64_Shdr strsec;
    if (!read_at(fd, (off_t)(eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof strsec), &strsec,
                 sizeof strsec, (size_t)st.st_size)) {
        mf_error_set(err, -1, "%s: truncated ELF section table", file);
        goto out;
    }
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        char name[sizeof MF_STAMP_SECTION];
        if (!read_at(fd, (off_t)(eh.e_shoff + (uint64_t)i * sizeof sh), &sh, sizeof sh,
                     (size_t)st.st_size)) {
            mf_error_set(err, -1, "%s: truncated ELF section table", file);
            goto out;
        }
        if (sh.sh_name >= strsec.sh_size ||
            !read_at(fd, (off_t)(strsec.sh_offset + sh.sh_name), name, sizeof name,
                     (size_t)st.st_size) ||
            memcmp(name, MF_STAMP_SECTION, sizeof name) != 0)
            continue;
        if (sh.sh_size < sizeof *out ||
            !read_at(fd, (off_t)sh.sh_offset, out, sizeof *out, (size_t)st.st_size)) {
            mf_error_set(err, -1, "%s: truncated ABI stamp", file);
            goto out;
        }
        rc = 0;
        goto out;
    }
    mf_error_set(err, -1, "%s: no ABI stamp (section %s): not an mcpfed plugin", file,
                 MF_STAMP_SECTION);
out:
    close(fd);
    return rc;
}
