// Package swanimport converts strongSwan configurations into oakley's TOML (CONFIG.md):
// swanctl.conf (with its secrets and pools) and the older stroke ipsec.conf (with
// ipsec.secrets). It backs `oakley import FILE`.
//
//	Import(path, Options) (*Result, error)              read, parse and convert a file
//	ImportData(name, data, Options) (*Result, error)    the same for text already read
//	ParseSwanctl(name, data, FS) (*Section, []Diag, error)       the settings syntax alone
//	ParseIpsecConf(name, data, FS) (*IpsecConf, []Diag, error)   ipsec.conf alone
//	ParseIpsecSecrets(name, data, FS) ([]*SecretEntry, []Diag, error)
//
// A Result holds the TOML, the secret files it names (PSKs and passwords, to be written with
// mode 0600 beside the TOML; they never appear in the TOML, a message or a log) and the
// warnings. Every converted value carries a "# from FILE:LINE" comment; every strongSwan
// setting is either converted, noted in the output as strongSwan's default, or reported as a
// "FILE:LINE: warning: ..." Diag: nothing is dropped silently (a final sweep reports every
// key no conversion step read). Syntax errors are Errors with file and line.
//
// README.md in this directory has the mapping table: which strongSwan setting becomes which
// oakley key, what is derived (version = 0, lifetimes, life_bytes, dynamic selectors, left
// and right), and what is warned about.
//
// Concurrency: every function is safe for concurrent use with different arguments; the
// parsed trees (Section, IpsecConf, SecretEntry) belong to one call and are not safe for
// concurrent use.
package swanimport
