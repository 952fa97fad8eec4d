package rtspserver

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/streamgate/streamgate/gateway/hub"
)

// FuzzRTSPRequest sends raw bytes to the server as one client connection
// (requests, bodies, interleaved frames, garbage), closes its side and
// reads until the server closes. The server must neither panic nor hang
// the connection, and must still answer OPTIONS on a new connection.
func FuzzRTSPRequest(f *testing.F) {
	sdp := string(announceBody(f))
	u := "rtsp://127.0.0.1:8554/"
	for _, s := range []string{
		"OPTIONS " + u + "live RTSP/1.0\r\nCSeq: 1\r\n\r\n",
		"DESCRIBE " + u + "cam RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n",
		"SETUP " + u + "cam/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n" +
			"PLAY " + u + "cam RTSP/1.0\r\nCSeq: 3\r\n\r\n$\x05\x00\x04abcd",
		"ANNOUNCE " + u + "live RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: " +
			strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp +
			"SETUP " + u + "live/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;mode=record;interleaved=0-1\r\n\r\n" +
			"RECORD " + u + "live RTSP/1.0\r\nCSeq: 3\r\n\r\n$\x00\x00\x0c\x80\x60\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01$\x07\x00\x01x",
		"GET_PARAMETER " + u + "live RTSP/1.0\r\nCSeq: 1\r\nSession: deadbeef\r\n\r\n",
		"DESCRIBE " + u + "../../etc/passwd RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Digest username=\"a\", realm=\"b\", nonce=\"c\", uri=\"d\", response=\"e\"\r\n\r\n",
		"SETUP " + u + "cam/trackID=9 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;multicast\r\n\r\n",
		"\x00\x01garbage\r\n\r\nTEARDOWN " + u + "x RTSP/1.0\r\nCSeq: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	// One server for the whole run: starting one per input would spend
	// the run on listeners.
	env := newEnv(f, envConfig{paths: map[string]hub.PathConf{
		"live": {AcceptPublishers: true, OverridePublisher: true},
		"cam":  {HasSource: true, Extra: &synthConf{gop: 10, fps: 25}},
	}})
	f.Fuzz(func(t *testing.T, in []byte) {
		nc, err := net.DialTimeout("tcp", env.host, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(testTimeout))
		_, _ = nc.Write(in) // the server may close before reading it all
		_ = nc.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server held the connection open after the client closed its side")
			}
		}
		rc := &rawConn{}
		rc.nc, err = net.DialTimeout("tcp", env.host, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.nc.Close()
		_ = rc.nc.SetDeadline(time.Now().Add(testTimeout))
		rc.br = bufio.NewReader(rc.nc)
		res, err := rc.do(base.Options, env.url("live"), nil, nil)
		if err != nil || res.StatusCode != base.StatusOK {
			t.Fatalf("OPTIONS after the input: %v %v", res, err)
		}
	})
}
