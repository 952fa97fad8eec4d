package webrtc

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are defined with HMAC-SHA1.
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"
)

// turnRESTUser is the user part of TURN REST usernames ("expiry:streamgate").
const turnRESTUser = "streamgate"

// ICEServer is a STUN or TURN server for clients and the server's own peers.
type ICEServer struct {
	// URLs are the server's URLs ("stun:stun.example.net:3478",
	// "turn:turn.example.net:3478?transport=udp", "turns:...").
	URLs []string `json:"urls"`
	// Username is the TURN username (static credentials).
	Username string `json:"username,omitempty"`
	// Credential is the TURN password (static credentials).
	Credential string `json:"credential,omitempty"`
	// Secret turns on TURN REST credentials (coturn's use-auth-secret): each
	// answer gets username "expiry:streamgate" and credential
	// base64(HMAC-SHA1(Secret, username)). Exclusive with Username/Credential.
	Secret string `json:"-"`
	// TTL is how long TURN REST credentials stay valid. Defaults to 24h.
	TTL time.Duration `json:"-"`
}

func (is ICEServer) validate() error {
	if len(is.URLs) == 0 {
		return errors.New("an ICE server has no URL")
	}
	for _, u := range is.URLs {
		scheme, _, ok := strings.Cut(u, ":")
		switch {
		case !ok:
			return fmt.Errorf("ICE server URL %q has no scheme", u)
		case scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns":
			return fmt.Errorf("ICE server URL %q: scheme must be stun, stuns, turn or turns", u)
		}
	}
	if is.Secret != "" && (is.Username != "" || is.Credential != "") {
		return errors.New("an ICE server has both a TURN REST secret and static credentials")
	}
	return nil
}

// credentials returns the username and credential valid at now.
func (is ICEServer) credentials(now time.Time) (user, cred string) {
	if is.Secret == "" {
		return is.Username, is.Credential
	}
	ttl := is.TTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	user = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + turnRESTUser
	mac := hmac.New(sha1.New, []byte(is.Secret))
	mac.Write([]byte(user))
	return user, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// pion converts the server for pion's Configuration.
func (is ICEServer) pion(now time.Time) pwebrtc.ICEServer {
	user, cred := is.credentials(now)
	out := pwebrtc.ICEServer{URLs: is.URLs}
	if user != "" || cred != "" {
		out.Username = user
		out.Credential = cred
		out.CredentialType = pwebrtc.ICECredentialTypePassword
	}
	return out
}

// linkHeaders renders the servers as RFC 9725 Link header values.
func linkHeaders(servers []ICEServer, now time.Time) []string {
	var out []string
	for _, is := range servers {
		user, cred := is.credentials(now)
		for _, u := range is.URLs {
			v := "<" + u + `>; rel="ice-server"`
			if strings.HasPrefix(u, "turn") && (user != "" || cred != "") {
				v += `; username="` + quote(user) + `"; credential="` + quote(cred) + `"; credential-type="password"`
			}
			out = append(out, v)
		}
	}
	return out
}

// quote escapes a value for a quoted-string.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
