package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// assetFS holds the static files served under /assets/: styles, scripts
// and the vendored hls.js (see assets/vendor/README.md).
//
//go:embed assets
var assetFS embed.FS

// asset is one embedded file with its validator.
type asset struct {
	data  []byte
	etag  string
	ctype string
}

// assets is the set of files under /assets/, keyed by their path below it.
type assets map[string]asset

// loadAssets reads every embedded asset once and hashes it, so browsers can
// revalidate with If-None-Match and get a new copy after an upgrade.
func loadAssets() (assets, error) {
	out := assets{}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		if path.Ext(p) == ".md" {
			ctype = "text/plain; charset=utf-8"
		}
		out[strings.TrimPrefix(p, "assets/")] = asset{
			data:  data,
			etag:  `"` + hex.EncodeToString(sum[:12]) + `"`,
			ctype: ctype,
		}
		return nil
	})
	return out, err
}

// serve answers GET and HEAD /assets/*file.
func (a assets) serve(c *gin.Context) {
	f, ok := a[strings.TrimPrefix(c.Param("file"), "/")]
	if !ok {
		c.String(http.StatusNotFound, "404 page not found\n")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(f.data))
}
