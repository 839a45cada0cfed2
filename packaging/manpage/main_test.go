package main

import (
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

const sampleHelp = `usage: oakley <command> [flags]

commands:
  up -c FILE              run in the foreground
  check -c FILE           validate a configuration;
                          every problem as file:line
  .dot                    a word that would start a roff request
  status [--json]         show \ counters

status and up take -s PATH.

second paragraph
on two lines
`

func TestParseHelp(t *testing.T) {
	h, err := parseHelp(sampleHelp)
	if err != nil {
		t.Fatal(err)
	}
	if h.synopsis != "oakley <command> [flags]" {
		t.Errorf("synopsis %q", h.synopsis)
	}
	want := []command{
		{"up -c FILE", "run in the foreground"},
		{"check -c FILE", "validate a configuration; every problem as file:line"},
		{".dot", "a word that would start a roff request"},
		{"status [--json]", `show \ counters`},
	}
	if !reflect.DeepEqual(h.commands, want) {
		t.Errorf("commands\n got %q\nwant %q", h.commands, want)
	}
	if wantP := []string{"status and up take -s PATH.", "second paragraph on two lines"}; !reflect.DeepEqual(h.paragraphs, wantP) {
		t.Errorf("paragraphs %q, want %q", h.paragraphs, wantP)
	}
}

func TestRenderEscapes(t *testing.T) {
	page, err := render(sampleHelp, "1.0-rc1", "2026-01-31")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`.TH OAKLEY 8 "2026\-01\-31" "oakley 1.0\-rc1"`,
		".TP\n\\fBup\\fR \\-c \\fIFILE\\fR\nrun in the foreground\n",
		".TP\n\\fB\\&.dot\\fR\n", // a leading dot is protected
		".TP\n\\fBstatus\\fR [\\-\\-json]\nshow \\e counters\n",
		".PP\nsecond paragraph on two lines\n",
		".SH EXIT STATUS", ".SH FILES",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Negative control: no raw backslash sequence other than the escapes render produced.
	if strings.Contains(page, `show \ counters`) {
		t.Error("a backslash reached the page unescaped")
	}
}

func TestParseHelpRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		err  error
	}{
		"empty":            {"", errNoUsage},
		"no usage prefix":  {"oakley <command>\n\ncommands:\n  up  run\n", errNoUsage},
		"empty synopsis":   {"usage: \n\ncommands:\n  up  run\n", errNoUsage},
		"no commands head": {"usage: oakley x\n\n  up  run\n", errNoCommands},
		"empty list":       {"usage: oakley x\n\ncommands:\n\ntext\n", errNoCommands},
		"eof after usage":  {"usage: oakley x\n", errNoCommands},
	} {
		if _, err := parseHelp(tc.text); !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.err)
		}
	}
	// A stray line inside the list (not an entry, not a continuation) is refused too.
	if _, err := parseHelp("usage: oakley x\n\ncommands:\n  up  run\n  oops\n"); err == nil {
		t.Error("a malformed list line was accepted")
	}
	if _, err := parseHelp("usage: oakley x\n\ncommands:\n   continuation first\n"); err == nil {
		t.Error("a continuation without a command was accepted")
	}
}

// TestRealHelp renders the help of the oakley in this tree and checks that every command it
// lists became an entry of the page: the guard against the help changing shape unnoticed.
func TestRealHelp(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command(goBin, "run", "oakley/cmd/oakley", "help").Output()
	if err != nil {
		t.Fatalf("oakley help: %v", err)
	}
	words, err := commandWords(string(out))
	if err != nil {
		t.Fatalf("the help of cmd/oakley no longer parses: %v\n%s", err, out)
	}
	for _, must := range []string{"up", "check", "status", "version"} {
		if !contains(words, must) {
			t.Errorf("command %q missing from the parsed help %q", must, words)
		}
	}
	page, err := render(string(out), "test", "2026-01-01")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range words {
		if !strings.Contains(page, ".TP\n\\fB"+roff(w)+`\fR`) {
			t.Errorf("command %q has no entry in the page", w)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
