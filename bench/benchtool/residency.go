package main

// residency: which pages of a running process's executable are resident,
// and what they hold. It answers "where does RssFile come from":
//
//   - /proc/PID/maps gives the mappings of the executable (the file
//     /proc/PID/exe points to), /proc/PID/pagemap (read as root) whether
//     each page of them is present in the process's page tables;
//   - the ELF section headers of the binary map each present page to a
//     section (.text, .rodata, .gopclntab, .noptrdata, ...);
//   - the symbol table of an unstripped build of the same source (-sym; a
//     build without -s -w has the same layout of the loaded sections, only
//     the symbols and DWARF are added after them) attributes the bytes of
//     each present page to the packages whose symbols lie on it;
//   - the kernel maps up to fault_around_bytes (64 KiB, aligned) of pages
//     already in the page cache around each page fault of a file mapping,
//     so a page is resident when it or a neighbour was touched. The
//     windows line counts the aligned 64 KiB windows with any present
//     page and how full they are: full windows mean the resident set is
//     the touched windows, not the touched pages.
//
// Output is key=value lines (section.NAME_kb, pkg.NAME_kb, windows...).
//
// The method used for issue 17 (docs/benchmarks.md, section 8):
//
//  1. Build the daemon twice from one tree: stripped (-trimpath -ldflags
//     "-s -w", the shipped form) and unstripped (-trimpath only). Run the
//     stripped one idle on a fleet (bench/lib.sh's agent_header,
//     local_issuer and local_certs in a temp state_dir) and run
//     `benchtool residency -pid PID -sym UNSTRIPPED`: what is resident
//     with a warm page cache, as on a host.
//  2. Pages really touched: copy the binary to a file system of its own
//     whose device has read-ahead off (a loop-mounted ext4 image, echo 0
//     > /sys/block/loopN/queue/read_ahead_kb), remount it so its page
//     cache is cold, and run it from there. Each fault then reads one
//     page, and fault-around finds nothing else cached to map, so the
//     resident set is the touched set. MADV_RANDOM does not give this: on
//     Linux 6.18 it stops read-ahead but not fault-around of cached pages.
//  3. Package init alone: hold the process at its first open of the
//     config, after every package's init, with
//     `strace -f -P CONFIG -e trace=openat -e inject=openat:delay_enter=60000000`,
//     and read its residency (cold cache as in 2, or warm).
//
// Comparing 2 with 1 gives what fault-around adds; 3 with 2 what the
// first pass adds to init.

import (
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const pageSize = 4096

// exeMapping is one line of /proc/PID/maps backed by the executable.
type exeMapping struct {
	start, end, off uint64
	perms           string
}

func cmdResidency(args []string) error {
	fs := flag.NewFlagSet("residency", flag.ContinueOnError)
	pid := fs.Int("pid", 0, "process to inspect")
	sym := fs.String("sym", "", "unstripped build with the same layout, for per-package figures")
	window := fs.Uint64("window", 64<<10, "fault-around window in bytes")
	top := fs.Int("top", 25, "packages to list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pid == 0 {
		return fmt.Errorf("-pid is required")
	}
	base := filepath.Join("/proc", strconv.Itoa(*pid))
	exe, err := os.Readlink(filepath.Join(base, "exe"))
	if err != nil {
		return err
	}
	maps, err := exeMappings(filepath.Join(base, "maps"), exe)
	if err != nil {
		return err
	}
	present, err := presentPages(filepath.Join(base, "pagemap"), maps)
	if err != nil {
		return err
	}
	f, err := elf.Open(exe)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Printf("exe=%s\nresident_kb=%d\n", exe, len(present)*pageSize/1024)
	printSections(f, present)
	printWindows(present, *window)
	if *sym != "" {
		return printPackages(*sym, f, present, *top)
	}
	return nil
}

// exeMappings returns the mappings of exe in a maps file.
func exeMappings(path, exe string) ([]exeMapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []exeMapping
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != exe {
			continue
		}
		var m exeMapping
		se := strings.SplitN(f[0], "-", 2)
		m.start, _ = strconv.ParseUint(se[0], 16, 64)
		m.end, _ = strconv.ParseUint(se[1], 16, 64)
		m.off, _ = strconv.ParseUint(f[2], 16, 64)
		m.perms = f[1]
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no mapping of %s in %s", exe, path)
	}
	return out, nil
}

// presentPages returns the file offsets of the executable's pages that
// are present in the process (pagemap bit 63), mapped as file pages (bit
// 61): a written page of the data segment is anonymous and not RssFile.
func presentPages(path string, maps []exeMapping) (map[uint64]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[uint64]bool{}
	for _, m := range maps {
		n := (m.end - m.start) / pageSize
		buf := make([]byte, n*8)
		if _, err := f.ReadAt(buf, int64(m.start/pageSize*8)); err != nil && err != io.EOF {
			return nil, err
		}
		for i := uint64(0); i < n; i++ {
			e := binary.LittleEndian.Uint64(buf[i*8:])
			if e&(1<<63) != 0 && e&(1<<61) != 0 {
				out[m.off+i*pageSize] = true
			}
		}
	}
	return out, nil
}

func printSections(f *elf.File, present map[uint64]bool) {
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOBITS || s.Size == 0 {
			continue
		}
		var res uint64
		for off := s.Offset &^ (pageSize - 1); off < s.Offset+s.Size; off += pageSize {
			if present[off] {
				res += pageSize
			}
		}
		fmt.Printf("section%s_kb=%d of=%d\n", s.Name, res/1024, s.Size/1024)
	}
}

// printWindows counts the fault-around windows holding present pages.
func printWindows(present map[uint64]bool, window uint64) {
	per := window / pageSize
	pages := map[uint64]uint64{}
	for off := range present {
		pages[off/window]++
	}
	full := 0
	for _, n := range pages {
		if n == per {
			full++
		}
	}
	fmt.Printf("windows=%d full_windows=%d window_kb=%d\n", len(pages), full, window/1024)
}

// printPackages attributes each present page's bytes to the packages of
// the symbols on it, from the unstripped build's symbol table.
func printPackages(sym string, stripped *elf.File, present map[uint64]bool, top int) error {
	f, err := elf.Open(sym)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, name := range []string{".text", ".rodata", ".gopclntab", ".noptrdata", ".data"} {
		a, b := f.Section(name), stripped.Section(name)
		if a == nil || b == nil || a.Offset != b.Offset || a.Addr != b.Addr || a.Size != b.Size {
			return fmt.Errorf("%s: section %s differs from the running binary's", sym, name)
		}
	}
	syms, err := f.Symbols()
	if err != nil {
		return err
	}
	byPkg := map[string]uint64{}
	total := map[string]uint64{}
	for _, s := range syms {
		sec := int(s.Section)
		if s.Size == 0 || sec <= 0 || sec >= len(f.Sections) {
			continue
		}
		hdr := f.Sections[sec]
		if hdr.Type == elf.SHT_NOBITS {
			continue
		}
		pkg := symbolPackage(s.Name)
		total[pkg] += s.Size
		start := s.Value - hdr.Addr + hdr.Offset
		for off := start; off < start+s.Size; {
			next := (off/pageSize + 1) * pageSize
			end := min(next, start+s.Size)
			if present[off&^(pageSize-1)] {
				byPkg[pkg] += end - off
			}
			off = end
		}
	}
	pkgs := make([]string, 0, len(byPkg))
	for p := range byPkg {
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(i, j int) bool { return byPkg[pkgs[i]] > byPkg[pkgs[j]] })
	for i, p := range pkgs {
		if i == top {
			break
		}
		fmt.Printf("pkg.%s_kb=%d of=%d\n", p, byPkg[p]/1024, total[p]/1024)
	}
	return nil
}

// symbolPackage returns the import path of a Go symbol, or a group name
// for the linker's own symbols (type:, go:string., ...).
func symbolPackage(name string) string {
	switch {
	case strings.HasPrefix(name, "type:"), strings.HasPrefix(name, "go:itab"):
		return "(types)"
	case strings.HasPrefix(name, "go:"), strings.HasPrefix(name, "runtime."):
		if strings.HasPrefix(name, "go:") {
			return "(" + strings.SplitN(name, ".", 2)[0] + ")"
		}
	}
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return name
	}
	return name[:slash+1+dot]
}
