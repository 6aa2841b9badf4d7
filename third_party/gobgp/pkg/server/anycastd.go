// anycastd patch AP-05: hooks through which the embedding program (anycastd)
// sees what each peer sent that was malformed, and bounds what it keeps.
// This file is not in upstream GoBGP; see ANYCASTD-PATCH.txt.

package server

import (
	"fmt"
	"runtime/debug"

	"github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// InputAction is what the receive path did with a message from a peer that
// it could not use as sent.
type InputAction string

const (
	// InputSessionReset: the session was reset with a NOTIFICATION.
	InputSessionReset InputAction = "session_reset"
	// InputTreatAsWithdraw: the UPDATE's routes were withdrawn (RFC 7606).
	InputTreatAsWithdraw InputAction = "treat_as_withdraw"
	// InputAttributeDiscard: an attribute was dropped, the rest kept (RFC 7606).
	InputAttributeDiscard InputAction = "attribute_discard"
	// InputAfiSafiDisable: the address family was disabled for the session.
	InputAfiSafiDisable InputAction = "afisafi_disable"
	// InputPanic: handling the message panicked; the panic was recovered
	// and the session reset. Always a bug in GoBGP.
	InputPanic InputAction = "panic"
)

// InputEvent reports one message a peer sent that was not used as sent.
type InputEvent struct {
	Peer   string // the neighbour address as configured
	Action InputAction
	Err    error
	Stack  []byte // for InputPanic only
}

// InputEventHookOption sets a function called (from the peer's receive
// goroutine or the server loop; it must not block or call into the server)
// for every malformed message and recovered panic.
func InputEventHookOption(f func(InputEvent)) ServerOption {
	return func(o *options) { o.inputHook = f }
}

// AdjInFilterOption sets a function that decides which received routes are
// kept: a route for which it returns false is dropped on receipt, before
// the Adj-RIB-In, so a peer sending a full table costs only the time to
// parse it. End-of-RIB markers are always kept.
func AdjInFilterOption(f func(peer string, nlri bgp.AddrPrefixInterface) bool) ServerOption {
	return func(o *options) { o.adjInFilter = f }
}

// RevisedErrorHandlingOption turns on RFC 7606 error handling
// (treat-as-withdraw, attribute discard) for every peer (anycastd patch
// AP-09): v3's oc.Neighbor has the switch but its gRPC API does not.
func RevisedErrorHandlingOption() ServerOption {
	return func(o *options) { o.revisedErrors = true }
}

// inputHooks is what each fsm needs from the options above.
type inputHooks struct {
	revisedErrors bool
	event         func(InputEvent)
	adjInFilter   func(peer string, nlri bgp.AddrPrefixInterface) bool
}

func (h *inputHooks) report(peer string, a InputAction, err error, stack []byte) {
	if h == nil || h.event == nil {
		return
	}
	h.event(InputEvent{Peer: peer, Action: a, Err: err, Stack: stack})
}

// errorAction maps GoBGP's RFC 7606 error handling to an InputAction.
func errorAction(e bgp.ErrorHandling) (InputAction, bool) {
	switch e {
	case bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW:
		return InputTreatAsWithdraw, true
	case bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
		return InputAttributeDiscard, true
	case bgp.ERROR_HANDLING_AFISAFI_DISABLE:
		return InputAfiSafiDisable, true
	case bgp.ERROR_HANDLING_SESSION_RESET:
		return InputSessionReset, true
	}
	return "", false
}

// recvMessageWithError reads one message and bounds the damage it can do
// (anycastd patch AP-06, AP-07): a panic while decoding or checking
// it is recovered and becomes a session reset (the fsm goroutine has changed
// no shared state before the message is handed to the server loop), every
// error that resets the session is a *bgp.MessageError so that the server
// sends a NOTIFICATION instead of waiting for the hold timer, and routes the
// filter rejects are dropped here.
func (h *fsmHandler) recvMessageWithError() (fmsg *fsmMsg, err error) {
	h.fsm.lock.RLock()
	peer := h.fsm.pConf.State.NeighborAddress
	hooks := h.fsm.hooks
	h.fsm.lock.RUnlock()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		stack := debug.Stack()
		merr := bgp.NewMessageError(bgp.BGP_ERROR_CEASE, 0, nil, fmt.Sprintf("recovered panic while handling a message: %v", r)).(*bgp.MessageError)
		h.fsm.logger.Error("recovered panic in receive path; resetting session", log.Fields{
			"Topic": "Peer", "Key": peer, "Error": merr, "Stack": string(stack)})
		hooks.report(peer, InputPanic, merr, stack)
		fmsg = &fsmMsg{fsm: h.fsm, MsgType: fsmMsgBGPMessage, MsgSrc: peer, MsgData: merr}
		err = merr
	}()
	fmsg, err = h.recvMessageWithErrorUnbounded()
	if err != nil && fmsg != nil {
		// A read failure returns no message; anything else resets the
		// session because the message was wrong.
		if _, ok := fmsg.MsgData.(*bgp.MessageError); !ok {
			merr := bgp.NewMessageError(bgp.BGP_ERROR_UPDATE_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_MALFORMED_ATTRIBUTE_LIST, nil, err.Error()).(*bgp.MessageError)
			fmsg.MsgData = merr
			err = merr
		}
		hooks.report(peer, InputSessionReset, err, nil)
		return fmsg, err
	}
	if fmsg != nil && hooks != nil && hooks.adjInFilter != nil && len(fmsg.PathList) > 0 {
		kept := fmsg.PathList[:0]
		for _, p := range fmsg.PathList {
			if p.IsEOR() || hooks.adjInFilter(peer, p.GetNlri()) {
				kept = append(kept, p)
			}
		}
		clear(fmsg.PathList[len(kept):])
		fmsg.PathList = kept
		// The message waits in an unbounded queue for the server loop;
		// without its raw bytes (only BMP and watchers read them, and the
		// embedding program uses neither) and decoded prefix lists it
		// holds only the kept paths.
		fmsg.payload = nil
		if m, ok := fmsg.MsgData.(*bgp.BGPMessage); ok {
			if u, ok := m.Body.(*bgp.BGPUpdate); ok {
				u.NLRI, u.WithdrawnRoutes = nil, nil
			}
		}
	}
	return fmsg, err
}

// handleFSMMessageRecovered is handleFSMMessage with a recover (anycastd
// patch AP-06): a panic while the server loop applies one peer's message is
// a bug in GoBGP; it resets that peer's session, which drops everything the
// peer sent (its Adj-RIB-In), instead of ending the process with every
// other session and the resolver beside it.
func (s *BgpServer) handleFSMMessageRecovered(peer *peer, e *fsmMsg) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		stack := debug.Stack()
		addr := e.MsgSrc
		err := fmt.Errorf("recovered panic while applying a message: %v", r)
		s.logger.Error("recovered panic in server loop; resetting session", log.Fields{
			"Topic": "Peer", "Key": addr, "Error": err, "Stack": string(stack)})
		s.inputHooks.report(addr, InputPanic, err, stack)
		sendfsmOutgoingMsg(peer, nil, bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, 0, nil), false)
	}()
	s.handleFSMMessage(peer, e)
}

// checkFirstAS applies RFC 4271 6.3 to an UPDATE from an eBGP peer (anycastd
// patch AP-26): the leftmost AS of its AS_PATH must be the peer's AS, or the
// AS_PATH is malformed, which RFC 7606 7.2 handles as treat-as-withdraw. An
// UPDATE without AS_PATH (a pure withdrawal) or with an empty one is left to
// ValidateUpdateMsg (AP-16).
func checkFirstAS(fsm *fsm, u *bgp.BGPUpdate) (bool, error) {
	fsm.lock.RLock()
	peerAS := fsm.peerInfo.AS
	fsm.lock.RUnlock()
	for _, a := range u.PathAttributes {
		p, ok := a.(*bgp.PathAttributeAsPath)
		if !ok || len(p.Value) == 0 {
			continue
		}
		seg := p.Value[0]
		ases := seg.GetAS()
		if len(ases) == 0 {
			return true, nil
		}
		if seg.GetType() == bgp.BGP_ASPATH_ATTR_TYPE_SEQ && ases[0] == peerAS {
			return true, nil
		}
		// In a session without 4-octet AS a peer AS above 65535 is AS_TRANS.
		if seg.GetType() == bgp.BGP_ASPATH_ATTR_TYPE_SEQ && peerAS > 0xffff && ases[0] == bgp.AS_TRANS {
			return true, nil
		}
		return false, bgp.NewMessageErrorWithErrorHandling(bgp.BGP_ERROR_UPDATE_MESSAGE_ERROR,
			bgp.BGP_ERROR_SUB_MALFORMED_AS_PATH, nil, bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW, nil,
			fmt.Sprintf("AS_PATH starts with %s AS %d, not the peer's AS %d", segName(seg.GetType()), ases[0], peerAS))
	}
	return true, nil
}

func segName(t uint8) string {
	if t == bgp.BGP_ASPATH_ATTR_TYPE_SEQ {
		return "AS_SEQUENCE"
	}
	return fmt.Sprintf("a segment of type %d with", t)
}
