// Command wineprng writes bcryptprimitives.dll for Wine 8 (Debian 12's wine), so that CI can
// run oakley.exe: Go ≥ 1.22 reads its randomness from bcryptprimitives.dll!ProcessPrng, a DLL
// Windows 10 and later ship but Wine only gained in 9.0. Without it every Go program stops at
// start with "fatal error: bcryptprimitives.dll not found".
//
// The DLL holds no code. It is a PE32+ image whose only content is an export directory in
// which ProcessPrng is a forwarder (PE/COFF specification, "Export Address Table": an entry
// whose RVA falls inside the export directory names "DLL.Function" instead of code) to
// advapi32.SystemFunction036, RtlGenRandom, which Wine 8 implements. The two differ only in
// the width of the length (SIZE_T against ULONG; Go asks for small buffers) and of the result
// (BOOL against BOOLEAN; Go tests only its low byte), so the forward is exact for Go's runtime.
//
// It is a CI fixture, never shipped: on Windows the system's own bcryptprimitives.dll is used.
//
//	go run ./packaging/wineprng -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("o", "bcryptprimitives.dll", "output file")
	flag.Parse()
	img, err := forwarderDLL("bcryptprimitives.dll", "ProcessPrng", "advapi32.SystemFunction036")
	if err == nil {
		err = os.WriteFile(*out, img, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "wineprng: %v\n", err)
		os.Exit(1)
	}
}

// Layout of the image: headers in the first file block, one read-only section at RVA
// sectionRVA holding the export directory followed by an empty base-relocation block (so
// the loader may place the image anywhere: there is nothing to fix up).
const (
	fileAlign    = 0x200
	sectionAlign = 0x1000
	sectionRVA   = 0x1000
	peOffset     = 0x40
	numDirs      = 16
	optHdrSize   = 112 + 8*numDirs // PE32+ optional header with its data directories
)

// forwarderDLL returns a PE32+ (x86-64) DLL named dllName exporting one name, export, that
// forwards to target ("module.Function"). The output is deterministic (no time stamps).
func forwarderDLL(dllName, export, target string) ([]byte, error) {
	if len(dllName)+len(export)+len(target) > 256 {
		return nil, fmt.Errorf("names too long")
	}
	// PE/COFF "Export Directory Table": 40 bytes, then the address table (one RVA), the
	// name pointer table (one RVA), the ordinal table (one uint16) and the strings.
	const edtSize = 40
	var sec bytes.Buffer
	eat := uint32(sectionRVA + edtSize)
	npt := eat + 4
	ord := npt + 4
	strs := ord + 2
	nameRVA := strs
	exportRVA := nameRVA + uint32(len(dllName)) + 1
	targetRVA := exportRVA + uint32(len(export)) + 1
	exportEnd := targetRVA + uint32(len(target)) + 1
	le := binary.LittleEndian
	w := func(v any) { _ = binary.Write(&sec, le, v) }
	w(uint32(0)) // Characteristics
	w(uint32(0)) // TimeDateStamp
	w(uint32(0)) // Major and minor version
	w(nameRVA)   // Name
	w(uint32(1)) // Ordinal base
	w(uint32(1)) // Address table entries
	w(uint32(1)) // Number of name pointers
	w(eat)       // Export address table RVA
	w(npt)       // Name pointer RVA
	w(ord)       // Ordinal table RVA
	w(targetRVA) // EAT[0]: inside the export directory, so a forwarder string
	w(exportRVA) // names[0]
	w(uint16(0)) // ordinals[0] (index into the EAT)
	for _, s := range []string{dllName, export, target} {
		sec.WriteString(s)
		sec.WriteByte(0)
	}
	exportSize := exportEnd - sectionRVA
	for sec.Len()%4 != 0 {
		sec.WriteByte(0)
	}
	// "The .reloc Section": one block header with no entries.
	relocRVA := uint32(sectionRVA + sec.Len())
	w(uint32(sectionRVA)) // page RVA
	w(uint32(8))          // block size: the header alone
	secVirt := uint32(sec.Len())
	for sec.Len()%fileAlign != 0 {
		sec.WriteByte(0)
	}

	var img bytes.Buffer
	hw := func(v any) { _ = binary.Write(&img, le, v) }
	// MS-DOS stub header: "MZ" and, at 0x3c, the offset of the PE signature.
	dos := make([]byte, peOffset)
	copy(dos, "MZ")
	le.PutUint32(dos[0x3c:], peOffset)
	img.Write(dos)
	img.WriteString("PE\x00\x00")
	// COFF file header.
	hw(uint16(0x8664))                   // Machine: AMD64
	hw(uint16(1))                        // NumberOfSections
	hw(uint32(0))                        // TimeDateStamp
	hw(uint32(0))                        // PointerToSymbolTable
	hw(uint32(0))                        // NumberOfSymbols
	hw(uint16(optHdrSize))               // SizeOfOptionalHeader
	hw(uint16(0x0002 | 0x0020 | 0x2000)) // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL
	// Optional header, PE32+.
	imageSize := alignUp(sectionRVA+secVirt, sectionAlign)
	hw(uint16(0x20b))                                 // Magic: PE32+
	hw(uint16(0))                                     // Linker version
	hw(uint32(0))                                     // SizeOfCode
	hw(uint32(sec.Len()))                             // SizeOfInitializedData
	hw(uint32(0))                                     // SizeOfUninitializedData
	hw(uint32(0))                                     // AddressOfEntryPoint: none (no DllMain)
	hw(uint32(sectionRVA))                            // BaseOfCode
	hw(uint64(0x180000000))                           // ImageBase
	hw(uint32(sectionAlign))                          // SectionAlignment
	hw(uint32(fileAlign))                             // FileAlignment
	hw([4]uint16{6, 0, 0, 0})                         // OS and image versions
	hw([2]uint16{6, 0})                               // Subsystem version
	hw(uint32(0))                                     // Win32VersionValue
	hw(imageSize)                                     // SizeOfImage
	hw(uint32(fileAlign))                             // SizeOfHeaders
	hw(uint32(0))                                     // CheckSum
	hw(uint16(3))                                     // Subsystem: console
	hw(uint16(0x0040 | 0x0100))                       // DllCharacteristics: DYNAMIC_BASE | NX_COMPAT
	hw([4]uint64{0x100000, 0x1000, 0x100000, 0x1000}) // stack and heap reserve/commit
	hw(uint32(0))                                     // LoaderFlags
	hw(uint32(numDirs))                               // NumberOfRvaAndSizes
	for i := 0; i < numDirs; i++ {
		switch i {
		case 0: // export table
			hw([2]uint32{sectionRVA, exportSize})
		case 5: // base relocation table
			hw([2]uint32{relocRVA, 8})
		default:
			hw([2]uint32{0, 0})
		}
	}
	// Section table: one initialized, readable section.
	var name [8]byte
	copy(name[:], ".rdata")
	hw(name)
	hw(secVirt)            // VirtualSize
	hw(uint32(sectionRVA)) // VirtualAddress
	hw(uint32(sec.Len()))  // SizeOfRawData
	hw(uint32(fileAlign))  // PointerToRawData
	hw([3]uint32{})        // relocations, line numbers, their counts
	hw(uint32(0x40000040)) // INITIALIZED_DATA | MEM_READ
	if img.Len() > fileAlign {
		return nil, fmt.Errorf("headers overflow the first file block")
	}
	img.Write(make([]byte, fileAlign-img.Len()))
	img.Write(sec.Bytes())
	return img.Bytes(), nil
}

func alignUp(v, a uint32) uint32 { return (v + a - 1) &^ (a - 1) }
