package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFS embed.FS

// fragmentHeader asks "/" for the list fragment only; list.js sends it to
// refresh the list without reloading the page.
const fragmentHeader = "X-Streamgate-Fragment"

// pageCSP keeps pages to their own scripts and styles; hls.js needs blob:
// for its worker and for MediaSource URLs.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"

// pages holds the parsed page templates.
type pages struct{ tmpl *template.Template }

// newPages parses the embedded templates.
func newPages() (*pages, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	return &pages{tmpl: t}, nil
}

// pathView is a PathInfo prepared for the templates.
type pathView struct {
	Name       string
	State      string
	StateClass string // a known state, else "unknown"; used in a class name
	Source     string
	Codecs     string // "H264 640×360, AAC"
	Readers    int
	Notice     string
}

// newPathView prepares p for display.
func newPathView(p PathInfo) pathView {
	return pathView{
		Name:       p.Name,
		State:      p.State,
		StateClass: stateClass(p.State),
		Source:     p.Source,
		Codecs:     codecs(p.Tracks),
		Readers:    p.Readers,
		Notice:     joinNotices(p.WebRTCNotice, p.HLSNotice),
	}
}

// joinNotices joins the non-empty notices into one line.
func joinNotices(notices ...string) string {
	out := ""
	for _, n := range notices {
		if n == "" {
			continue
		}
		if out != "" {
			out += " "
		}
		out += n
	}
	return out
}

// stateClass maps a state to a CSS class suffix.
func stateClass(state string) string {
	switch state {
	case "ready", "waiting", "connecting", "failed", "idle":
		return state
	}
	return "unknown"
}

// codecs describes tracks as "H264 640×360, AAC".
func codecs(tracks []TrackInfo) string {
	parts := make([]string, 0, len(tracks))
	for _, t := range tracks {
		s := t.Codec
		if s == "" {
			s = t.Kind
		}
		if t.Width > 0 && t.Height > 0 {
			s += fmt.Sprintf(" %d×%d", t.Width, t.Height)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Root    string // relative URL of "/" with a trailing slash, "" on "/" itself
	Home    string // link to the stream list
	Paths   []pathView
	Path    pathView
	Message string
}

// newPageData computes the relative links for a page served at urlPath, so
// the pages also work behind a proxy that mounts streamgate under a prefix.
func newPageData(urlPath, title string) pageData {
	root := strings.Repeat("../", max(strings.Count(urlPath, "/")-1, 0))
	home := root
	if home == "" {
		home = "./"
	}
	return pageData{Title: title, Root: root, Home: home}
}

// render executes one template into the response with the page headers.
func (p *pages) render(c *gin.Context, status int, name string, data pageData) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		// Templates are embedded and tested; this is a programming error.
		_ = c.Error(err)
		c.String(http.StatusInternalServerError, "internal error\n")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// listPage serves "/": every path with its state, codecs and readers, or
// only the list fragment when list.js asks for it.
func (s *Server) listPage(c *gin.Context) {
	data := newPageData(c.Request.URL.Path, "streamgate")
	if s.Paths != nil {
		for _, p := range s.readable(c, s.Paths.Paths()) {
			data.Paths = append(data.Paths, newPathView(p))
		}
	}
	c.Header("Vary", fragmentHeader)
	name := "list.html"
	if c.GetHeader(fragmentHeader) == "paths" {
		name = "paths"
	}
	s.pages.render(c, http.StatusOK, name, data)
}

// playerPage serves "/{path}/", or the 404 page for an unknown path.
func (s *Server) playerPage(c *gin.Context, name string) {
	info, ok := s.lookup(name)
	if !ok {
		s.notFoundPage(c, fmt.Sprintf("There is no stream named %q.", name))
		return
	}
	data := newPageData(c.Request.URL.Path, info.Name+" · streamgate")
	data.Path = newPathView(info)
	s.pages.render(c, http.StatusOK, "player.html", data)
}

// notFoundPage answers 404 with a page that links back to the list.
func (s *Server) notFoundPage(c *gin.Context, msg string) {
	data := newPageData(c.Request.URL.Path, "Not found · streamgate")
	data.Message = msg
	s.pages.render(c, http.StatusNotFound, "notfound.html", data)
}

// lookup finds a path by name; no Paths means no paths.
func (s *Server) lookup(name string) (PathInfo, bool) {
	if s.Paths == nil {
		return PathInfo{}, false
	}
	return s.Paths.Path(name)
}
