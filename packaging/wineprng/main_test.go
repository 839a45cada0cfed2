package main

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"strings"
	"testing"
)

// TestForwarderDLL parses the image back with debug/pe and follows its export directory the
// way a PE loader does: name → ordinal → address, which must fall inside the directory and
// so name the forward target.
func TestForwarderDLL(t *testing.T) {
	img, err := forwarderDLL("bcryptprimitives.dll", "ProcessPrng", "advapi32.SystemFunction036")
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("debug/pe refuses the image: %v", err)
	}
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 || f.Characteristics&pe.IMAGE_FILE_DLL == 0 {
		t.Fatalf("machine %#x characteristics %#x: not an x86-64 DLL", f.Machine, f.Characteristics)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatal("not PE32+")
	}
	dir := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_EXPORT]
	if len(f.Sections) != 1 {
		t.Fatalf("%d sections", len(f.Sections))
	}
	s := f.Sections[0]
	data, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	at := func(rva uint32) []byte {
		if rva < s.VirtualAddress || rva-s.VirtualAddress >= uint32(len(data)) {
			t.Fatalf("RVA %#x outside the section", rva)
		}
		return data[rva-s.VirtualAddress:]
	}
	cstr := func(rva uint32) string { b := at(rva); return string(b[:bytes.IndexByte(b, 0)]) }
	le := binary.LittleEndian
	edt := at(dir.VirtualAddress)
	if got := cstr(le.Uint32(edt[12:])); got != "bcryptprimitives.dll" {
		t.Errorf("DLL name %q", got)
	}
	nFuncs, nNames := le.Uint32(edt[20:]), le.Uint32(edt[24:])
	eat, npt, ord := le.Uint32(edt[28:]), le.Uint32(edt[32:]), le.Uint32(edt[36:])
	if nFuncs != 1 || nNames != 1 {
		t.Fatalf("%d functions, %d names", nFuncs, nNames)
	}
	if got := cstr(le.Uint32(at(npt))); got != "ProcessPrng" {
		t.Errorf("exported name %q", got)
	}
	idx := le.Uint16(at(ord))
	fn := le.Uint32(at(eat + 4*uint32(idx)))
	if fn < dir.VirtualAddress || fn >= dir.VirtualAddress+dir.Size {
		t.Fatalf("export RVA %#x is outside the export directory [%#x, %#x): not a forwarder", fn, dir.VirtualAddress, dir.VirtualAddress+dir.Size)
	}
	if got := cstr(fn); got != "advapi32.SystemFunction036" {
		t.Errorf("forwards to %q", got)
	}
	if oh.AddressOfEntryPoint != 0 || oh.SizeOfImage%oh.SectionAlignment != 0 {
		t.Errorf("entry %#x, image size %#x", oh.AddressOfEntryPoint, oh.SizeOfImage)
	}
	again, _ := forwarderDLL("bcryptprimitives.dll", "ProcessPrng", "advapi32.SystemFunction036")
	if !bytes.Equal(img, again) {
		t.Error("two images differ: the output is not deterministic")
	}
}

func TestForwarderDLLRejectsLongNames(t *testing.T) {
	if _, err := forwarderDLL("x.dll", strings.Repeat("A", 300), "y.Z"); err == nil {
		t.Error("a 300-byte export name was accepted")
	}
}
