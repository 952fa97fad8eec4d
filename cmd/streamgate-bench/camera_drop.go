package main

import (
	"github.com/bluenviron/gortsplib/v5"
)

// OnSessionOpen implements gortsplib.ServerHandlerOnSessionOpen: the camera
// remembers its sessions so Drop can end them.
func (c *Camera) OnSessionOpen(ctx *gortsplib.ServerHandlerOnSessionOpenCtx) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if c.sessions == nil {
		c.sessions = make(map[*gortsplib.ServerSession]struct{})
	}
	c.sessions[ctx.Session] = struct{}{}
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (c *Camera) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	delete(c.sessions, ctx.Session)
}

// Drop ends every session of the camera at once, as a camera that reboots
// or loses its network: the gateway's pull sees its connection end and
// must reconnect. It returns how many sessions it ended.
func (c *Camera) Drop() int {
	c.sessMu.Lock()
	list := make([]*gortsplib.ServerSession, 0, len(c.sessions))
	for ss := range c.sessions {
		list = append(list, ss)
	}
	c.sessMu.Unlock()
	for _, ss := range list {
		ss.Close()
	}
	c.drops.Add(uint64(len(list)))
	return len(list)
}
