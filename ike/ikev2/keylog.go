package ikev2

// The key log (OAKLEY_KEYLOG, core.KeyLog): every IKE SA's SK_e and SK_a keys, by its SPIs,
// as a record of Wireshark's ikev2_decryption_table, when the SA's keys are derived (after
// IKE_SA_INIT and after every IKE SA rekey). The child SAs' ESP keys are logged by the core
// when it installs them (core.ChildState.Install).

// logIKEKeys writes the SA's keys to the key log, if one is configured.
func (sa *ikeSA) logIKEKeys(k *ikeKeys) {
	kl := sa.p.Cfg.KeyLog
	if kl == nil || k == nil {
		return
	}
	kl.IKEv2(sa.spiI[:], sa.spiR[:], k.skEi, k.skEr, sa.tr.enc, k.skAi, k.skAr, sa.tr.integ)
}
