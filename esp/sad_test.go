package esp

import (
	"testing"
)

// TestSADShards: many SAs over every shard, half removed again; lookups, All and Len agree
// with a plain map throughout, and a removed SPI is gone.
func TestSADShards(t *testing.T) {
	var d SAD
	want := map[uint32]*SA{}
	for i := range 2000 {
		spi := uint32(0x100 + i*7919)
		sa := &SA{cfg: Config{SPI: spi, Dir: Inbound}}
		if err := d.Add(sa); err != nil {
			t.Fatal(err)
		}
		want[spi] = sa
	}
	i := 0
	var removed []uint32
	for spi, sa := range want {
		if i%2 == 0 {
			removed = append(removed, spi)
			if i%4 == 0 {
				d.removeSA(sa)
			} else if d.Remove(spi) != sa {
				t.Fatalf("Remove(%#x) returned another SA", spi)
			}
			delete(want, spi)
		}
		i++
	}
	if d.Len() != len(want) || len(d.All()) != len(want) {
		t.Fatalf("Len %d, All %d, want %d", d.Len(), len(d.All()), len(want))
	}
	for spi, sa := range want {
		if d.Lookup(spi) != sa {
			t.Fatalf("Lookup(%#x) lost its SA", spi)
		}
	}
	for _, sa := range d.All() {
		if want[sa.SPI()] != sa {
			t.Fatalf("All lists %#x, which was removed", sa.SPI())
		}
	}
	for _, spi := range removed {
		if d.Lookup(spi) != nil {
			t.Fatalf("removed SPI %#x is still found", spi)
		}
	}
	for spi, cur := range want {
		d.removeSA(&SA{cfg: Config{SPI: spi, Dir: Inbound}}) // not the installed SA: a no-op
		if d.Lookup(spi) != cur {
			t.Fatal("removeSA removed an SA it was not given")
		}
		break
	}
}
