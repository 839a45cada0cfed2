package wire

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strconv"
)

// NotifyType is the Notify Message Type of a Notify payload (RFC 7296 §3.10.1 and the IANA
// "IKEv2 Notify Message Types" registries). Values below 16384 are errors, the rest status.
type NotifyType uint16

// Error types (RFC 7296 §3.10.1 unless noted).
const (
	NotifyUnsupportedCriticalPayload NotifyType = 1
	NotifyInvalidIKESPI              NotifyType = 4
	NotifyInvalidMajorVersion        NotifyType = 5
	NotifyInvalidSyntax              NotifyType = 7
	NotifyInvalidMessageID           NotifyType = 9
	NotifyInvalidSPI                 NotifyType = 11
	NotifyNoProposalChosen           NotifyType = 14
	NotifyInvalidKEPayload           NotifyType = 17
	NotifyAuthenticationFailed       NotifyType = 24
	NotifySinglePairRequired         NotifyType = 34
	NotifyNoAdditionalSAs            NotifyType = 35
	NotifyInternalAddressFailure     NotifyType = 36
	NotifyFailedCPRequired           NotifyType = 37
	NotifyTSUnacceptable             NotifyType = 38
	NotifyInvalidSelectors           NotifyType = 39
	NotifyUnacceptableAddresses      NotifyType = 40 // RFC 4555
	NotifyUnexpectedNATDetected      NotifyType = 41 // RFC 4555
	NotifyUseAssignedHoA             NotifyType = 42 // RFC 5026
	NotifyTemporaryFailure           NotifyType = 43
	NotifyChildSANotFound            NotifyType = 44
	NotifyStateNotFound              NotifyType = 47 // RFC 9370
	NotifyTSMaxQueue                 NotifyType = 48 // RFC 9611
)

// Status types (RFC 7296 §3.10.1 unless noted).
const (
	NotifyInitialContact                  NotifyType = 16384
	NotifySetWindowSize                   NotifyType = 16385
	NotifyAdditionalTSPossible            NotifyType = 16386
	NotifyIPCompSupported                 NotifyType = 16387
	NotifyNATDetectionSourceIP            NotifyType = 16388
	NotifyNATDetectionDestinationIP       NotifyType = 16389
	NotifyCookie                          NotifyType = 16390
	NotifyUseTransportMode                NotifyType = 16391
	NotifyHTTPCertLookupSupported         NotifyType = 16392
	NotifyRekeySA                         NotifyType = 16393
	NotifyESPTFCPaddingNotSupported       NotifyType = 16394
	NotifyNonFirstFragmentsAlso           NotifyType = 16395
	NotifyMOBIKESupported                 NotifyType = 16396 // RFC 4555
	NotifyAdditionalIP4Address            NotifyType = 16397 // RFC 4555
	NotifyAdditionalIP6Address            NotifyType = 16398 // RFC 4555
	NotifyNoAdditionalAddresses           NotifyType = 16399 // RFC 4555
	NotifyUpdateSAAddresses               NotifyType = 16400 // RFC 4555
	NotifyCookie2                         NotifyType = 16401 // RFC 4555
	NotifyNoNATsAllowed                   NotifyType = 16402 // RFC 4555
	NotifyAuthLifetime                    NotifyType = 16403 // RFC 4478
	NotifyMultipleAuthSupported           NotifyType = 16404 // RFC 4739
	NotifyAnotherAuthFollows              NotifyType = 16405 // RFC 4739
	NotifyRedirectSupported               NotifyType = 16406 // RFC 5685
	NotifyRedirect                        NotifyType = 16407 // RFC 5685
	NotifyRedirectedFrom                  NotifyType = 16408 // RFC 5685
	NotifyTicketLTOpaque                  NotifyType = 16409 // RFC 5723
	NotifyTicketRequest                   NotifyType = 16410 // RFC 5723
	NotifyTicketAck                       NotifyType = 16411 // RFC 5723
	NotifyTicketNack                      NotifyType = 16412 // RFC 5723
	NotifyTicketOpaque                    NotifyType = 16413 // RFC 5723
	NotifyLinkID                          NotifyType = 16414 // RFC 5739
	NotifyUseWESPMode                     NotifyType = 16415 // RFC 5840
	NotifyROHCSupported                   NotifyType = 16416 // RFC 5857
	NotifyEAPOnlyAuthentication           NotifyType = 16417 // RFC 5998
	NotifyChildlessIKEv2Supported         NotifyType = 16418 // RFC 6023
	NotifyQuickCrashDetection             NotifyType = 16419 // RFC 6290
	NotifyIKEv2MessageIDSyncSupported     NotifyType = 16420 // RFC 6311
	NotifyIPsecReplayCounterSyncSupported NotifyType = 16421 // RFC 6311
	NotifyIKEv2MessageIDSync              NotifyType = 16422 // RFC 6311
	NotifyIPsecReplayCounterSync          NotifyType = 16423 // RFC 6311
	NotifySecurePasswordMethods           NotifyType = 16424 // RFC 6467
	NotifyPSKPersist                      NotifyType = 16425 // RFC 6631
	NotifyPSKConfirm                      NotifyType = 16426 // RFC 6631
	NotifyERXSupported                    NotifyType = 16427 // RFC 6867
	NotifyIFOMCapability                  NotifyType = 16428 // 3GPP TS 24.303
	NotifySenderRequestID                 NotifyType = 16429 // draft-yeung-g-ikev2
	NotifyIKEv2FragmentationSupported     NotifyType = 16430 // RFC 7383
	NotifySignatureHashAlgorithms         NotifyType = 16431 // RFC 7427
	NotifyCloneIKESASupported             NotifyType = 16432 // RFC 7791
	NotifyCloneIKESA                      NotifyType = 16433 // RFC 7791
	NotifyPuzzle                          NotifyType = 16434 // RFC 8019
	NotifyUsePPK                          NotifyType = 16435 // RFC 8784
	NotifyPPKIdentity                     NotifyType = 16436 // RFC 8784
	NotifyNoPPKAuth                       NotifyType = 16437 // RFC 8784
	NotifyIntermediateExchangeSupported   NotifyType = 16438 // RFC 9242
	NotifyIP4Allowed                      NotifyType = 16439 // RFC 8983
	NotifyIP6Allowed                      NotifyType = 16440 // RFC 8983
	NotifyAdditionalKeyExchange           NotifyType = 16441 // RFC 9370
	NotifyUseAggfrag                      NotifyType = 16442 // RFC 9347
	NotifySupportedAuthMethods            NotifyType = 16443 // RFC 9593
	NotifySAResourceInfo                  NotifyType = 16444 // RFC 9611
)

var notifyNames = map[NotifyType]string{
	NotifyUnsupportedCriticalPayload: "UNSUPPORTED_CRITICAL_PAYLOAD",
	NotifyInvalidIKESPI:              "INVALID_IKE_SPI",
	NotifyInvalidMajorVersion:        "INVALID_MAJOR_VERSION",
	NotifyInvalidSyntax:              "INVALID_SYNTAX",
	NotifyInvalidMessageID:           "INVALID_MESSAGE_ID",
	NotifyInvalidSPI:                 "INVALID_SPI",
	NotifyNoProposalChosen:           "NO_PROPOSAL_CHOSEN",
	NotifyInvalidKEPayload:           "INVALID_KE_PAYLOAD",
	NotifyAuthenticationFailed:       "AUTHENTICATION_FAILED",
	NotifySinglePairRequired:         "SINGLE_PAIR_REQUIRED",
	NotifyNoAdditionalSAs:            "NO_ADDITIONAL_SAS",
	NotifyInternalAddressFailure:     "INTERNAL_ADDRESS_FAILURE",
	NotifyFailedCPRequired:           "FAILED_CP_REQUIRED",
	NotifyTSUnacceptable:             "TS_UNACCEPTABLE",
	NotifyInvalidSelectors:           "INVALID_SELECTORS",
	NotifyUnacceptableAddresses:      "UNACCEPTABLE_ADDRESSES",
	NotifyUnexpectedNATDetected:      "UNEXPECTED_NAT_DETECTED",
	NotifyUseAssignedHoA:             "USE_ASSIGNED_HoA",
	NotifyTemporaryFailure:           "TEMPORARY_FAILURE",
	NotifyChildSANotFound:            "CHILD_SA_NOT_FOUND",
	NotifyStateNotFound:              "STATE_NOT_FOUND",
	NotifyTSMaxQueue:                 "TS_MAX_QUEUE",

	NotifyInitialContact:                  "INITIAL_CONTACT",
	NotifySetWindowSize:                   "SET_WINDOW_SIZE",
	NotifyAdditionalTSPossible:            "ADDITIONAL_TS_POSSIBLE",
	NotifyIPCompSupported:                 "IPCOMP_SUPPORTED",
	NotifyNATDetectionSourceIP:            "NAT_DETECTION_SOURCE_IP",
	NotifyNATDetectionDestinationIP:       "NAT_DETECTION_DESTINATION_IP",
	NotifyCookie:                          "COOKIE",
	NotifyUseTransportMode:                "USE_TRANSPORT_MODE",
	NotifyHTTPCertLookupSupported:         "HTTP_CERT_LOOKUP_SUPPORTED",
	NotifyRekeySA:                         "REKEY_SA",
	NotifyESPTFCPaddingNotSupported:       "ESP_TFC_PADDING_NOT_SUPPORTED",
	NotifyNonFirstFragmentsAlso:           "NON_FIRST_FRAGMENTS_ALSO",
	NotifyMOBIKESupported:                 "MOBIKE_SUPPORTED",
	NotifyAdditionalIP4Address:            "ADDITIONAL_IP4_ADDRESS",
	NotifyAdditionalIP6Address:            "ADDITIONAL_IP6_ADDRESS",
	NotifyNoAdditionalAddresses:           "NO_ADDITIONAL_ADDRESSES",
	NotifyUpdateSAAddresses:               "UPDATE_SA_ADDRESSES",
	NotifyCookie2:                         "COOKIE2",
	NotifyNoNATsAllowed:                   "NO_NATS_ALLOWED",
	NotifyAuthLifetime:                    "AUTH_LIFETIME",
	NotifyMultipleAuthSupported:           "MULTIPLE_AUTH_SUPPORTED",
	NotifyAnotherAuthFollows:              "ANOTHER_AUTH_FOLLOWS",
	NotifyRedirectSupported:               "REDIRECT_SUPPORTED",
	NotifyRedirect:                        "REDIRECT",
	NotifyRedirectedFrom:                  "REDIRECTED_FROM",
	NotifyTicketLTOpaque:                  "TICKET_LT_OPAQUE",
	NotifyTicketRequest:                   "TICKET_REQUEST",
	NotifyTicketAck:                       "TICKET_ACK",
	NotifyTicketNack:                      "TICKET_NACK",
	NotifyTicketOpaque:                    "TICKET_OPAQUE",
	NotifyLinkID:                          "LINK_ID",
	NotifyUseWESPMode:                     "USE_WESP_MODE",
	NotifyROHCSupported:                   "ROHC_SUPPORTED",
	NotifyEAPOnlyAuthentication:           "EAP_ONLY_AUTHENTICATION",
	NotifyChildlessIKEv2Supported:         "CHILDLESS_IKEV2_SUPPORTED",
	NotifyQuickCrashDetection:             "QUICK_CRASH_DETECTION",
	NotifyIKEv2MessageIDSyncSupported:     "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	NotifyIPsecReplayCounterSyncSupported: "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
	NotifyIKEv2MessageIDSync:              "IKEV2_MESSAGE_ID_SYNC",
	NotifyIPsecReplayCounterSync:          "IPSEC_REPLAY_COUNTER_SYNC",
	NotifySecurePasswordMethods:           "SECURE_PASSWORD_METHODS",
	NotifyPSKPersist:                      "PSK_PERSIST",
	NotifyPSKConfirm:                      "PSK_CONFIRM",
	NotifyERXSupported:                    "ERX_SUPPORTED",
	NotifyIFOMCapability:                  "IFOM_CAPABILITY",
	NotifySenderRequestID:                 "SENDER_REQUEST_ID",
	NotifyIKEv2FragmentationSupported:     "IKEV2_FRAGMENTATION_SUPPORTED",
	NotifySignatureHashAlgorithms:         "SIGNATURE_HASH_ALGORITHMS",
	NotifyCloneIKESASupported:             "CLONE_IKE_SA_SUPPORTED",
	NotifyCloneIKESA:                      "CLONE_IKE_SA",
	NotifyPuzzle:                          "PUZZLE",
	NotifyUsePPK:                          "USE_PPK",
	NotifyPPKIdentity:                     "PPK_IDENTITY",
	NotifyNoPPKAuth:                       "NO_PPK_AUTH",
	NotifyIntermediateExchangeSupported:   "INTERMEDIATE_EXCHANGE_SUPPORTED",
	NotifyIP4Allowed:                      "IP4_ALLOWED",
	NotifyIP6Allowed:                      "IP6_ALLOWED",
	NotifyAdditionalKeyExchange:           "ADDITIONAL_KEY_EXCHANGE",
	NotifyUseAggfrag:                      "USE_AGGFRAG",
	NotifySupportedAuthMethods:            "SUPPORTED_AUTH_METHODS",
	NotifySAResourceInfo:                  "SA_RESOURCE_INFO",
}

// String returns the IANA name of the type, or ERROR(n) / STATUS(n).
func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	if t.IsError() {
		return "ERROR(" + strconv.Itoa(int(t)) + ")"
	}
	return "STATUS(" + strconv.Itoa(int(t)) + ")"
}

// IsError reports whether t is an error type (below 16384, RFC 7296 §3.10.1): an unknown error
// type in a response still means the request failed, an unknown status type is ignored.
func (t NotifyType) IsError() bool { return t < 16384 }

// Notify is the Notify payload (RFC 7296 §3.10):
//
//	generic header | Protocol ID (1) | SPI Size (1) | Notify Message Type (2) | SPI | Notification Data
//
// The SPI is empty for notifications about the IKE SA or about nothing ("the SPI Size MUST be
// zero and the field must be empty"; the Protocol ID then "MUST be ignored on receipt", so it
// is kept as received but not checked; NewNotify sends it as zero) and 4 octets for an AH or ESP Child SA (REKEY_SA,
// INVALID_SPI responses about a Child SA...). The decoder checks the data length of the types
// whose data this package parses (see the accessors) and the well-known fixed sizes
// (NAT_DETECTION_* 20, COOKIE 1..64, IPCOMP_SUPPORTED 3); everything else is the engine's.
//
// Notify is plain data: safe for concurrent reads, not for concurrent mutation.
type Notify struct {
	wire
	Protocol   ProtocolID
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

// Type returns PayloadNotify.
func (*Notify) Type() PayloadType { return PayloadNotify }

// String names the notification for logs (never its data: a COOKIE is a secret of sorts).
func (n *Notify) String() string {
	s := n.NotifyType.String()
	if len(n.SPI) > 0 {
		s += "(" + n.Protocol.String() + " SPI " + hex.EncodeToString(n.SPI) + ")"
	}
	return s
}

// NewNotify returns a notification about the IKE SA or the exchange (no SPI).
func NewNotify(t NotifyType, data []byte) *Notify {
	return &Notify{NotifyType: t, Data: data}
}

// NewChildNotify returns a notification about the AH or ESP Child SA with the 4-octet spi.
func NewChildNotify(proto ProtocolID, spi uint32, t NotifyType, data []byte) *Notify {
	return &Notify{Protocol: proto, SPI: binary.BigEndian.AppendUint32(nil, spi), NotifyType: t, Data: data}
}

const notifyFixedLen = 4

func decodeNotify(body []byte, off int) (*Notify, error) {
	if len(body) < notifyFixedLen {
		return nil, errAt(PayloadNotify, off, ErrMalformed, "body of %d bytes cannot hold Protocol ID, SPI Size and type", len(body))
	}
	spiSize := int(body[1])
	if spiSize > len(body)-notifyFixedLen {
		return nil, errAt(PayloadNotify, off+1, ErrMalformed, "SPI Size %d exceeds the %d bytes left", spiSize, len(body)-notifyFixedLen)
	}
	n := &Notify{
		Protocol:   ProtocolID(body[0]),
		SPI:        body[notifyFixedLen : notifyFixedLen+spiSize : notifyFixedLen+spiSize],
		NotifyType: NotifyType(binary.BigEndian.Uint16(body[2:])),
		Data:       body[notifyFixedLen+spiSize:],
	}
	if err := n.check(); err != nil {
		err.Offset = off
		return nil, err
	}
	return n, nil
}

// check enforces the SPI rules and the data lengths this package knows (RFC 7296 §3.10.1,
// RFC 4555 §4, RFC 4478, RFC 7427 §4).
func (n *Notify) check() *Error {
	switch {
	case len(n.SPI) == 0:
	case len(n.SPI) == 4 && (n.Protocol == ProtoAH || n.Protocol == ProtoESP):
	default:
		return errNoOff(PayloadNotify, ErrMalformed, "%s with an SPI of %d bytes for protocol %s", n.NotifyType, len(n.SPI), n.Protocol)
	}
	l := len(n.Data)
	bad := false
	switch n.NotifyType {
	case NotifyUnsupportedCriticalPayload:
		bad = l != 1
	case NotifyInvalidKEPayload:
		bad = l != 2
	case NotifySetWindowSize, NotifyAuthLifetime:
		bad = l != 4
	case NotifyNATDetectionSourceIP, NotifyNATDetectionDestinationIP:
		bad = l != sha1.Size
	case NotifyCookie:
		bad = l < 1 || l > 64
	case NotifyIPCompSupported:
		bad = l != 3
	case NotifyAdditionalIP4Address:
		bad = l != 4
	case NotifyAdditionalIP6Address:
		bad = l != 16
	case NotifySignatureHashAlgorithms:
		bad = l%2 != 0
	}
	if bad {
		return errNoOff(PayloadNotify, ErrMalformed, "%s with %d bytes of data", n.NotifyType, l)
	}
	return nil
}

func (n *Notify) appendBody(b []byte) ([]byte, error) {
	if err := n.check(); err != nil {
		err.errs = []error{ErrEncode}
		return nil, err
	}
	b = append(b, byte(n.Protocol), byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	b = append(b, n.SPI...)
	return append(b, n.Data...), nil
}

// ChildSPI returns the 4-octet SPI of a notification about an AH or ESP SA.
func (n *Notify) ChildSPI() (uint32, bool) {
	if len(n.SPI) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(n.SPI), true
}

func (n *Notify) dataOf(t NotifyType, size int) ([]byte, error) {
	if n.NotifyType != t || len(n.Data) != size {
		return nil, errNoOff(PayloadNotify, ErrMalformed, "%s with %d bytes is not %s", n.NotifyType, len(n.Data), t)
	}
	return n.Data, nil
}

// KEGroup returns the group an INVALID_KE_PAYLOAD asks for (RFC 7296 §1.3, §3.10.1).
func (n *Notify) KEGroup() (uint16, error) {
	d, err := n.dataOf(NotifyInvalidKEPayload, 2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(d), nil
}

// WindowSize returns the window of a SET_WINDOW_SIZE (RFC 7296 §2.3).
func (n *Notify) WindowSize() (uint32, error) {
	d, err := n.dataOf(NotifySetWindowSize, 4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(d), nil
}

// UnsupportedPayload returns the payload type an UNSUPPORTED_CRITICAL_PAYLOAD names.
func (n *Notify) UnsupportedPayload() (PayloadType, error) {
	d, err := n.dataOf(NotifyUnsupportedCriticalPayload, 1)
	if err != nil {
		return 0, err
	}
	return PayloadType(d[0]), nil
}

// Addr returns the address of an ADDITIONAL_IP4_ADDRESS or ADDITIONAL_IP6_ADDRESS (RFC 4555 §4).
func (n *Notify) Addr() (netip.Addr, error) {
	switch {
	case n.NotifyType == NotifyAdditionalIP4Address && len(n.Data) == 4:
		return netip.AddrFrom4([4]byte(n.Data)), nil
	case n.NotifyType == NotifyAdditionalIP6Address && len(n.Data) == 16:
		return netip.AddrFrom16([16]byte(n.Data)), nil
	}
	return netip.Addr{}, errNoOff(PayloadNotify, ErrMalformed, "%s with %d bytes is not an address", n.NotifyType, len(n.Data))
}

// HashAlgorithm is a hash algorithm identifier of SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4,
// RFC 8420 for Identity).
type HashAlgorithm uint16

// Hash algorithm identifiers.
const (
	HashSHA1     HashAlgorithm = 1
	HashSHA2_256 HashAlgorithm = 2
	HashSHA2_384 HashAlgorithm = 3
	HashSHA2_512 HashAlgorithm = 4
	HashIdentity HashAlgorithm = 5
)

// HashAlgorithms returns the list of a SIGNATURE_HASH_ALGORITHMS notification.
func (n *Notify) HashAlgorithms() ([]HashAlgorithm, error) {
	if n.NotifyType != NotifySignatureHashAlgorithms || len(n.Data)%2 != 0 {
		return nil, errNoOff(PayloadNotify, ErrMalformed, "%s with %d bytes is not a hash algorithm list", n.NotifyType, len(n.Data))
	}
	hs := make([]HashAlgorithm, 0, len(n.Data)/2)
	for i := 0; i < len(n.Data); i += 2 {
		hs = append(hs, HashAlgorithm(binary.BigEndian.Uint16(n.Data[i:])))
	}
	return hs, nil
}

// NewHashAlgorithms builds a SIGNATURE_HASH_ALGORITHMS notification (RFC 7427 §4).
func NewHashAlgorithms(hs ...HashAlgorithm) *Notify {
	d := make([]byte, 0, 2*len(hs))
	for _, h := range hs {
		d = binary.BigEndian.AppendUint16(d, uint16(h))
	}
	return NewNotify(NotifySignatureHashAlgorithms, d)
}

// NATDetectionHash is the data of NAT_DETECTION_SOURCE_IP and NAT_DETECTION_DESTINATION_IP
// (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | Port), the address in its 4- or 16-octet form.
// In an IKE_SA_INIT request SPIr is zero.
func NATDetectionHash(spii, spir SPI, ap netip.AddrPort) []byte {
	h := sha1.New()
	h.Write(spii[:])
	h.Write(spir[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	h.Write(binary.BigEndian.AppendUint16(nil, ap.Port()))
	return h.Sum(nil)
}
