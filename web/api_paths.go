package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// maxPathBody bounds the JSON body of POST and PATCH /api/v1/paths/{name}.
const maxPathBody = 64 << 10

func addPath(c *gin.Context, api API, name string) {
	editPath(c, api, name, api.AddPath, http.StatusCreated)
}

func patchPath(c *gin.Context, api API, name string) {
	editPath(c, api, name, api.PatchPath, http.StatusOK)
}

// editPath reads the JSON object of path keys, applies it and answers
// with the path as it now is.
func editPath(c *gin.Context, api API, name string, apply func(string, map[string]any) error, status int) {
	if !validAPIPathName(name) {
		apiFail(c, http.StatusBadRequest, fmt.Sprintf("invalid path name %q", name))
		return
	}
	body, ok := readPathBody(c)
	if !ok {
		return
	}
	if err := apply(name, body); err != nil {
		failWith(c, err)
		return
	}
	p, ok := api.Path(name)
	if !ok {
		apiFail(c, http.StatusNotFound, fmt.Sprintf("no path named %q", name))
		return
	}
	normalize(&p)
	c.JSON(status, p)
}

// readPathBody decodes the request body as one JSON object; on failure it
// has answered (400, 413 or 415).
func readPathBody(c *gin.Context) (map[string]any, bool) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			apiFail(c, http.StatusUnsupportedMediaType, "the body must be application/json")
			return nil, false
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxPathBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiFail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxPathBody))
		} else {
			apiFail(c, http.StatusBadRequest, "cannot read the body")
		}
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || body == nil || dec.More() {
		apiFail(c, http.StatusBadRequest, "the body must be one JSON object of path keys, like {\"source\":\"publisher\"}")
		return nil, false
	}
	return body, true
}

func deletePath(c *gin.Context, api API, name string) {
	if !validAPIPathName(name) {
		apiFail(c, http.StatusBadRequest, fmt.Sprintf("invalid path name %q", name))
		return
	}
	if err := api.DeletePath(name); err != nil {
		failWith(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
