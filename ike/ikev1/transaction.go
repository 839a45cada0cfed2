package ikev1

// Transaction exchanges (exchange type 6, draft-dukes-ike-mode-cfg-02 §3): the carrier of
// XAUTH (xauth.go) and Mode Config (modecfg.go) after Phase 1. Each exchange is a request
// (ISAKMP_CFG_REQUEST or ISAKMP_CFG_SET) and its answer (REPLY or ACK) under one fresh
// message ID, protected like an Informational exchange:
//
//	HDR*, HASH, ATTR
//	HASH = prf(SKEYID_a, M-ID | ATTR)
//
// and encrypted with the IV chain of its message ID (started from the last Phase 1 block,
// continued by the answer), as strongSwan and Cisco do. We retransmit our requests through
// the core's Retransmitter and answer a retransmitted request from the reply cache.
//
// An ISAKMP SA that needs a transaction (an XAUTH login, a virtual IP) is not reported
// established to the core until they completed: no Quick Mode starts before, and a peer's
// Quick Mode is refused.

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// txWaitForServer is how long an XAUTH client waits for the gateway's first request after
// Phase 1 before it gives up.
const txWaitForServer = 30 * time.Second

// txState is the XAUTH and Mode Config progress of an ISAKMP SA.
type txState struct {
	started   bool // Phase 1 completed and transactions were needed
	complete  bool // everything needed is done: the SA was reported established
	xauthDone bool
	cfgDone   bool
	// out is the exchange we started and await the answer of.
	out     *txOut
	retrans *core.Retransmitter
	wait    *core.Timer // client: the gateway must start XAUTH within txWaitForServer
	push    *core.Timer // gateway: push the configuration if the client did not ask for it
	// Gateway: a client's request was answered, or our push sent.
	served, pushed bool
	// Server: the login checked (for the log) and a refusal awaiting its ACK.
	user       string
	refused    bool
	vips       []netip.Addr // client: the virtual IPs assigned
	exchangeID uint16       // the Identifier of our last request
}

// txOut is one request of ours in flight.
type txOut struct {
	mid  uint32
	id   uint16
	kind isakmp.CfgType
	what string // "XAUTH request", "XAUTH status", "Mode Config request"
}

// needsXAUTH reports whether this SA runs XAUTH after Phase 1 (as client or server).
func (sa *ikeSA) xauthRole() string {
	if sa.Conn == nil || !sa.tr.auth.IsXAUTH() {
		return ""
	}
	return sa.Conn.Cfg.XAuth
}

// wantsModeCfg reports whether this SA requests virtual IPs (a Mode Config client).
func (sa *ikeSA) wantsModeCfg() bool {
	return sa.Conn != nil && len(sa.Conn.Cfg.VIPs) > 0
}

// txPending reports whether Phase 1 completed but XAUTH / Mode Config did not yet.
func (sa *ikeSA) txPending() bool { return sa.tx.started && !sa.tx.complete }

// startTransactions runs after Phase 1: it reports whether the SA must wait for XAUTH or
// Mode Config before it counts as established, and starts what is ours to start.
func (sa *ikeSA) startTransactions(now time.Time) bool {
	role := sa.xauthRole()
	if sa.Conn != nil && sa.Conn.Cfg.XAuth != "" && role == "" {
		// The connection wants XAUTH but Phase 1 negotiated a plain method: cannot happen
		// with our proposals (authMethods), but never let a peer skip the login.
		sa.Log.Warn("XAUTH required but the peer negotiated " + sa.tr.auth.String())
		return false
	}
	if role == "" && !sa.wantsModeCfg() {
		return false
	}
	sa.tx.started = true
	sa.tx.xauthDone = role == ""
	sa.tx.cfgDone = !sa.wantsModeCfg()
	sa.txInit()
	switch role {
	case "server":
		sa.sendXAUTHRequest(now)
	case "client":
		sa.c.Timers.Arm(sa.tx.wait, now.Add(txWaitForServer))
	default:
		if !sa.c.hooks.modeCfgWaitPush {
			sa.sendModeCfgRequest(now)
		}
	}
	return true
}

// txInit makes the retransmitter and timers of the transactions (once).
func (sa *ikeSA) txInit() {
	if sa.tx.retrans != nil {
		return
	}
	sa.tx.retrans = sa.c.NewRetransmitter(sa.dest, sa.txGiveUp)
	sa.tx.retrans.Transmit = sa.transmit
	sa.tx.wait = core.NewTimer("xauth-wait", sa.txWaitExpired)
	sa.tx.push = core.NewTimer("modecfg-push", sa.modeCfgPush)
}

// txNext moves on after one step completed: Mode Config after XAUTH, then the SA is
// established.
func (sa *ikeSA) txNext(now time.Time) {
	if sa.state != p1Established || sa.tx.complete {
		return
	}
	if !sa.tx.xauthDone {
		return
	}
	if !sa.tx.cfgDone {
		if sa.tx.out == nil && !sa.c.hooks.modeCfgWaitPush {
			sa.sendModeCfgRequest(now)
		}
		return
	}
	sa.tx.complete = true
	sa.c.Timers.Stop(sa.tx.wait)
	sa.Log.Info("XAUTH / Mode Config completed", zap.Duration("after_phase1", now.Sub(sa.phase1At)))
	sa.reportEstablished(now)
}

// txStop ends the transaction machinery (the SA dies).
func (sa *ikeSA) txStop() {
	sa.tx.retrans.Stop()
	if sa.tx.wait != nil {
		sa.c.Timers.Stop(sa.tx.wait)
		sa.c.Timers.Stop(sa.tx.push)
	}
	sa.tx.out = nil
}

func (sa *ikeSA) txGiveUp(now time.Time) {
	what := "Transaction"
	if sa.tx.out != nil {
		what = sa.tx.out.what
	}
	sa.c.Ctr.Inc(core.CtrIKEFailed)
	err := fmt.Errorf("%w: no answer to our %s after %d transmissions", ErrTimeout, what, sa.tx.retrans.Tries())
	sa.Log.Warn("XAUTH / Mode Config failed: peer did not answer", zap.Error(err))
	sa.destroy(now, true, err)
}

func (sa *ikeSA) txWaitExpired(now time.Time) {
	if sa.state != p1Established || sa.tx.xauthDone {
		return
	}
	sa.c.Ctr.Inc(core.CtrIKEFailed)
	err := fmt.Errorf("%w: the gateway did not start XAUTH within %s of Phase 1 (is it configured for XAUTH?)", ErrTimeout, txWaitForServer)
	sa.Log.Warn("XAUTH failed", zap.Error(err))
	sa.destroy(now, true, err)
}

// sendTransaction starts an exchange of ours: a fresh message ID, retransmitted until
// answered.
func (sa *ikeSA) sendTransaction(now time.Time, kind isakmp.CfgType, attrs []isakmp.Attribute, what string) {
	mid := sa.c.newMID(sa)
	sa.rememberMID(mid)
	sa.tx.exchangeID++
	if sa.tx.exchangeID == 0 {
		sa.tx.exchangeID = 1
	}
	raw, err := sa.encodeTransaction(mid, &isakmp.ConfigAttributes{CfgType: kind, Identifier: sa.tx.exchangeID, Attributes: attrs})
	if err != nil {
		sa.Log.Warn("cannot encode "+what, zap.Error(err))
		sa.destroy(now, true, err)
		return
	}
	sa.tx.out = &txOut{mid: mid, id: sa.tx.exchangeID, kind: kind, what: what}
	sa.Log.Debug("sending "+what, zap.Uint32("mid", mid), zap.Stringer("type", kind))
	sa.tx.retrans.Start(now, what, raw)
}

// encodeTransaction builds HDR*, HASH, ATTR (the IV chain of mid advances).
func (sa *ikeSA) encodeTransaction(mid uint32, attrs *isakmp.ConfigAttributes) ([]byte, error) {
	payloads := []isakmp.Payload{&isakmp.Hash{Data: make([]byte, sa.keys.prf.Size())}, attrs}
	return sa.encode(isakmp.ExchangeTransaction, mid, payloads, true, true, func(rest []byte) []byte {
		return quickModeHash1(sa.keys.prf, sa.keys.skeyidA, mid, rest)
	})
}

// handleTransaction processes a Transaction message: the answer to our request, or a
// request of the peer's.
func (sa *ikeSA) handleTransaction(now time.Time, in *inbound) error {
	h := &in.msg.Header
	if sa.state != p1Established || sa.keys == nil {
		sa.c.Ctr.Inc(core.CtrUnexpected)
		return fail(0, ErrUnexpected, "Transaction exchange before Phase 1 completed")
	}
	if !h.Flags.Has(isakmp.FlagEncryption) || h.MessageID == 0 {
		sa.c.Ctr.Inc(core.CtrMalformed)
		return fail(0, ErrMalformed, "Transaction exchange without encryption or with M-ID 0")
	}
	mid := h.MessageID
	answer := sa.tx.out != nil && sa.tx.out.mid == mid
	if !answer && sa.seenMID(mid) {
		sa.c.Ctr.Inc(core.CtrDuplicates)
		return nil
	}
	d, err := sa.decrypt(in.msg, true)
	if err != nil {
		sa.c.CountError(err)
		return err
	}
	c := d.chain
	if len(c.Payloads) == 0 || c.Payloads[0].Type() != isakmp.PayloadHash {
		sa.c.Ctr.Inc(core.CtrMalformed)
		return fail(0, ErrMalformed, "Transaction message without a leading HASH")
	}
	want := quickModeHash1(sa.keys.prf, sa.keys.skeyidA, mid, c.Bytes[c.Spans[0].End:])
	if !hmacEqual(c.Payloads[0].(*isakmp.Hash).Data, want) {
		sa.c.Ctr.Inc(core.CtrInvalidHash)
		return fail(0, ErrInvalidHash, "Transaction HASH mismatch")
	}
	attrs, i := payloadOf[*isakmp.ConfigAttributes](c)
	if i < 0 {
		sa.c.Ctr.Inc(core.CtrMalformed)
		return fail(0, ErrMalformed, "Transaction message without an Attribute payload")
	}
	sa.commitIV(mid, d.next, true)
	sa.LastRecv = now
	sa.heardProtected = true
	sa.updatePeer(in)
	if answer {
		out := sa.tx.out
		if attrs.Identifier != out.id {
			sa.Log.Debug("answer with another Identifier than our request", zap.Uint16("sent", out.id), zap.Uint16("got", attrs.Identifier))
		}
		want := isakmp.CfgReply
		if out.kind == isakmp.CfgSet {
			want = isakmp.CfgAck
		}
		if attrs.CfgType != want {
			sa.c.Ctr.Inc(core.CtrUnexpected)
			return fail(0, ErrUnexpected, "%s answered with %s, not %s", out.what, attrs.CfgType, want)
		}
		sa.tx.retrans.Stop()
		sa.tx.out = nil
		delete(sa.p2ivs, mid)
		sa.replies.Remember(in.Hash, nil)
		return sa.txAnswer(now, out, attrs)
	}
	sa.rememberMID(mid)
	var reply *isakmp.ConfigAttributes
	switch attrs.CfgType {
	case isakmp.CfgRequest, isakmp.CfgSet:
		reply, err = sa.txRequest(now, attrs)
	default:
		sa.c.Ctr.Inc(core.CtrUnexpected)
		err = fail(0, ErrUnexpected, "unsolicited %s", attrs.CfgType)
	}
	if err != nil || reply == nil || sa.state == p1Dead {
		delete(sa.p2ivs, mid)
		return err
	}
	reply.Identifier = attrs.Identifier
	raw, err := sa.encodeTransaction(mid, reply)
	delete(sa.p2ivs, mid)
	if err != nil {
		return err
	}
	sa.replies.Remember(in.Hash, raw)
	sa.send(raw)
	sa.txAfterReply(now, reply)
	return nil
}

// txRequest answers a request of the peer's: XAUTH (we are the client) or Mode Config
// (pull: we are the gateway; push: a SET to us, the client).
func (sa *ikeSA) txRequest(now time.Time, attrs *isakmp.ConfigAttributes) (*isakmp.ConfigAttributes, error) {
	if isXAUTH(attrs) {
		if attrs.CfgType == isakmp.CfgRequest {
			return sa.xauthClientRequest(now, attrs)
		}
		return sa.xauthClientStatus(now, attrs)
	}
	if attrs.CfgType == isakmp.CfgRequest {
		return sa.modeCfgServe(now, attrs)
	}
	return sa.modeCfgPushed(now, attrs)
}

// txAfterReply runs after our answer left: a client moves on once it has acknowledged the
// gateway's XAUTH status or pushed configuration.
func (sa *ikeSA) txAfterReply(now time.Time, reply *isakmp.ConfigAttributes) {
	if reply.CfgType == isakmp.CfgAck {
		if sa.tx.refused {
			sa.destroy(now, true, fmt.Errorf("%w: the gateway refused our XAUTH login", ErrAuthenticationFailed))
			return
		}
		sa.txNext(now)
	}
}

// txAnswer processes the answer to our request.
func (sa *ikeSA) txAnswer(now time.Time, out *txOut, attrs *isakmp.ConfigAttributes) error {
	switch out.what {
	case whatXAUTHRequest:
		return sa.xauthServerReply(now, attrs)
	case whatXAUTHStatus:
		return sa.xauthServerAck(now)
	case whatModeCfgRequest:
		return sa.modeCfgReply(now, attrs)
	case whatModeCfgPush:
		sa.Log.Info("Mode Config: the client acknowledged the pushed configuration")
	}
	return nil
}

// isXAUTH reports whether an Attribute payload belongs to XAUTH (it carries an XAUTH
// attribute).
func isXAUTH(a *isakmp.ConfigAttributes) bool {
	for _, at := range a.Attributes {
		if at.Type >= isakmp.CfgXAUTHType && at.Type <= isakmp.CfgXAUTHAnswer {
			return true
		}
	}
	return false
}
