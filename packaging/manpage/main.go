// Command manpage renders oakley(8) from the command's own help text, so the manual page
// cannot drift from the binary it ships with:
//
//	oakley help | go run ./packaging/manpage -version 1.2.3 -date 2026-01-31 | gzip -9n >oakley.8.gz
//
// The help text has a fixed shape, and manpage refuses anything else (exit status 1) rather
// than render a page with a section missing:
//
//	usage: oakley <command> [flags]       the first line: SYNOPSIS
//	                                      blank
//	commands:                             a heading line
//	  NAME ARGS   what it does            one command a line; two or more spaces end its syntax;
//	              continued               deeper-indented lines continue the description
//	                                      blank
//	free paragraphs                       become paragraphs of COMMANDS, after the list
//
// The rest of the page (NAME, DESCRIPTION, FILES, EXIT STATUS, SEE ALSO) states what the
// package installs and the exit status contract of CONFIG.md; it names no command, so a
// command added to or removed from the help cannot leave it stale.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

func main() {
	version := flag.String("version", "dev", "version shown in the page footer")
	date := flag.String("date", "", "date shown in the page footer (YYYY-MM-DD; for reproducible output)")
	flag.Parse()
	help, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err == nil {
		var page string
		if page, err = render(string(help), *version, *date); err == nil {
			_, err = os.Stdout.WriteString(page)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "manpage: %v\n", err)
		os.Exit(1)
	}
}

// command is one entry of the help's command list.
type command struct {
	syntax string // "up -c FILE"
	desc   string // "run in the foreground until SIGINT/SIGTERM"
}

// help is the parsed help text.
type help struct {
	synopsis   string    // "oakley <command> [flags]"
	commands   []command // in the help's order
	paragraphs []string  // free text after the list, one string per paragraph
}

var (
	errNoUsage    = errors.New("the help does not start with \"usage: \"")
	errNoCommands = errors.New("the help has no \"commands:\" list")
	// An entry: two spaces, the syntax (single spaces inside), two or more spaces, the text.
	entryRE = regexp.MustCompile(`^  (\S+(?: \S+)*)  +(\S.*)$`)
)

// parseHelp splits the help text into its parts; see the package comment for the shape.
func parseHelp(text string) (help, error) {
	var h help
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	first, ok := strings.CutPrefix(lines[0], "usage: ")
	if !ok || strings.TrimSpace(first) == "" {
		return h, errNoUsage
	}
	h.synopsis = strings.TrimSpace(first)
	i := 1
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	if i == len(lines) || strings.TrimSpace(lines[i]) != "commands:" {
		return h, errNoCommands
	}
	for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
		line := strings.TrimRight(lines[i], " \t")
		if m := entryRE.FindStringSubmatch(line); m != nil {
			h.commands = append(h.commands, command{syntax: m[1], desc: m[2]})
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if len(h.commands) == 0 || indent < 4 {
			return h, fmt.Errorf("line %d of the help is neither a command nor a continuation: %q", i+1, line)
		}
		h.commands[len(h.commands)-1].desc += " " + strings.TrimSpace(line)
	}
	if len(h.commands) == 0 {
		return h, errNoCommands
	}
	var para []string
	flush := func() {
		if len(para) > 0 {
			h.paragraphs = append(h.paragraphs, strings.Join(para, " "))
			para = nil
		}
	}
	for ; i < len(lines); i++ {
		if s := strings.TrimSpace(lines[i]); s != "" {
			para = append(para, s)
		} else {
			flush()
		}
	}
	flush()
	return h, nil
}

// roff escapes text for a man page body (groff_man(7)): backslashes, hyphens that are options
// or minus signs, and a leading '.' or '\” that would start a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// syntaxRoff renders a command's syntax: the command word in bold, upper-case placeholders
// (FILE, NAME) in italics, everything else as is.
func syntaxRoff(syntax string) string {
	words := strings.Fields(syntax)
	for i, w := range words {
		switch {
		case i == 0:
			words[i] = `\fB` + roff(w) + `\fR`
		default:
			words[i] = placeholderRE.ReplaceAllStringFunc(roff(w), func(p string) string { return `\fI` + p + `\fR` })
		}
	}
	return strings.Join(words, " ")
}

var placeholderRE = regexp.MustCompile(`[A-Z][A-Z0-9_]+`)

// render returns the page in man(7) markup.
func render(text, version, date string) (string, error) {
	h, err := parseHelp(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p(`.\" Generated by packaging/manpage from "oakley help"; do not edit.`)
	p(`.TH OAKLEY 8 "%s" "oakley %s" "System Administration"`, roff(date), roff(version))
	p(`.nh`) // no hyphenation: paths and capability names stay whole
	p(`.SH NAME`)
	p(`oakley \- userspace IPsec VPN (IKE, ESP and AH)`)
	p(`.SH SYNOPSIS`)
	p(`%s`, syntaxRoff(h.synopsis))
	p(`.SH DESCRIPTION`)
	p(`\fBoakley\fR negotiates IPsec security associations with IKE and carries IP packets in ESP or AH`)
	p(`between a TUN device (or, without privileges, an in\-process network stack) and its peers,`)
	p(`such as strongSwan gateways. One TOML file configures a site;`)
	p(`\fBoakley check\fR validates it and reports every problem as \fIfile\fR:\fIline\fR: \fImessage\fR.`)
	p(`.SH COMMANDS`)
	for _, c := range h.commands {
		p(`.TP`)
		p(`%s`, syntaxRoff(c.syntax))
		p(`%s`, roff(c.desc))
	}
	for _, para := range h.paragraphs {
		p(`.PP`)
		p(`%s`, roff(para))
	}
	p(`.SH EXIT STATUS`)
	p(`0 on success; 1 on failure, with one line on standard error (\fBcheck\fR prints every`)
	p(`problem first); 2 on a usage error.`)
	p(`.SH FILES`)
	p(`.TP`)
	p(`\fI/etc/oakley/oakley.toml\fR`)
	p(`The configuration read by the packaged service.`)
	p(`Secrets (\fBpsk_file\fR, \fBkey\fR, \fBpassword_file\fR) must not be readable by group or other.`)
	p(`.TP`)
	p(`\fI/run/oakley/oakley.sock\fR`)
	p(`The default control socket of the running daemon.`)
	p(`.TP`)
	p(`\fI/lib/systemd/system/oakley.service\fR`)
	p(`The systemd unit: runs \fBoakley up\fR as user \fBoakley\fR with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only.`)
	p(`.SH SEE ALSO`)
	p(`\fBswanctl.conf\fR(5), \fBsystemd.exec\fR(5), /usr/share/doc/oakley/`)
	return b.String(), nil
}

// commandWords returns the first word of every command in the help, for tests and checks.
func commandWords(text string) ([]string, error) {
	h, err := parseHelp(text)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range h.commands {
		out = append(out, strings.Fields(c.syntax)[0])
	}
	return out, nil
}
