package push

import (
	"errors"
	"net"

	"github.com/gorilla/websocket"
)

// closeCause is why a connection closed: the close code and reason of the
// close frame (sent or received), and the label of the closes metric.
type closeCause struct {
	code   int
	reason string
	label  string
}

// frame returns the payload of the close frame that says c.
func (c closeCause) frame() []byte {
	return websocket.FormatCloseMessage(c.code, c.reason)
}

// Why the server closes connections. Each is sent in a close frame, except
// those of a peer that went silent or away, which are cut.
var (
	causeSlowConsumer = closeCause{websocket.ClosePolicyViolation, "slow consumer", "slow_consumer"}
	causeTokenRevoked = closeCause{websocket.ClosePolicyViolation, "token revoked", "token_revoked"}
	causeTokenExpired = closeCause{websocket.ClosePolicyViolation, "token expired", "token_expired"}
	causeUserChanged  = closeCause{websocket.ClosePolicyViolation, "user changed", "user_changed"}
	causeBadFrames    = closeCause{websocket.ClosePolicyViolation, "too many bad frames", "bad_frames"}
	causeGoingAway    = closeCause{websocket.CloseGoingAway, "going away", "going_away"}
	causeTryAgain     = closeCause{websocket.CloseTryAgainLater, "try again", "try_again"}
	causeInternal     = closeCause{websocket.CloseInternalServerErr, "internal error", "internal"}
	// causeTooBig: gorilla sends the close frame itself.
	causeTooBig = closeCause{websocket.CloseMessageTooBig, "message too big", "too_big"}
	// causeSilent: the peer answered no ping for two intervals; cut.
	causeSilent = closeCause{websocket.CloseAbnormalClosure, "no pong", "timeout"}
	// causeGone: the connection failed (reset, EOF, a write that failed).
	causeGone = closeCause{websocket.CloseAbnormalClosure, "connection lost", "gone"}
)

// closeLabels are the values of the closes metric's reason label.
var closeLabels = []string{
	causeSlowConsumer.label, causeTokenRevoked.label, causeTokenExpired.label, causeUserChanged.label,
	causeBadFrames.label, causeGoingAway.label, causeTryAgain.label, causeInternal.label,
	causeTooBig.label, causeSilent.label, causeGone.label, "peer",
}

// readCause returns why a read failed, for a connection that was not
// closing.
func readCause(err error) closeCause {
	var (
		closeErr *websocket.CloseError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &closeErr):
		return closeCause{closeErr.Code, closeErr.Text, "peer"}
	case errors.Is(err, websocket.ErrReadLimit):
		return causeTooBig
	case errors.As(err, &netErr) && netErr.Timeout():
		return causeSilent
	default:
		return causeGone
	}
}
