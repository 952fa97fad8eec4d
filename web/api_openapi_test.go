package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/auth"
)

// specFile is the OpenAPI description of the API, relative to this package.
const specFile = "../docs/openapi.yaml"

// loadSpec reads docs/openapi.yaml as plain maps and lists.
func loadSpec(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(specFile)
	require.NoError(t, err)
	var spec map[string]any
	require.NoError(t, yaml.Unmarshal(b, &spec))
	require.True(t, strings.HasPrefix(fmt.Sprint(spec["openapi"]), "3.0"), "OpenAPI 3.0, got %v", spec["openapi"])
	return spec
}

// specOps lists the spec's operations as "METHOD /path".
func specOps(t *testing.T, spec map[string]any) map[string]map[string]any {
	t.Helper()
	ops := map[string]map[string]any{}
	paths, ok := spec["paths"].(map[string]any)
	require.True(t, ok, "spec has paths")
	for p, item := range paths {
		methods, ok := item.(map[string]any)
		require.True(t, ok, "path item %s", p)
		for m, op := range methods {
			if m == "parameters" {
				continue
			}
			opMap, ok := op.(map[string]any)
			require.True(t, ok, "operation %s %s", m, p)
			ops[strings.ToUpper(m)+" "+p] = opMap
		}
	}
	return ops
}

func TestOpenAPIRoutesMatchServed(t *testing.T) {
	spec := loadSpec(t)
	var inSpec, served []string
	for op := range specOps(t, spec) {
		inSpec = append(inSpec, op)
	}
	for _, rt := range apiRoutes() {
		served = append(served, rt.method+" "+rt.pattern)
	}
	sort.Strings(inSpec)
	sort.Strings(served)
	assert.Equal(t, served, inSpec, "every served route is in docs/openapi.yaml and vice versa")
}

// specCase is one request whose answer the spec must describe.
type specCase struct {
	method, target string
	op             string // "METHOD /pattern" of the spec, "" for answers every route can give
	status         int
	body           string // JSON request body, "" for none
	header         []string
}

// fullPathKeys sets every key of PathKeys, so the test sees them all.
const fullPathKeys = `{"source":"rtsp://10.0.0.12/live","sourceProtocol":"tcp","sourceFingerprint":"",
"sourceSkipVerify":false,"sourceReadTimeout":"10s","onDemand":true,"onDemandStartTimeout":"10s",
"onDemandCloseAfter":"5s","outageGrace":"10s","gopCache":true,"overridePublisher":false,
"readUser":"","readPass":"","publishUser":"","publishPass":"","maxReaders":0,
"hlsVariant":"fmp4","hlsAlwaysOn":false,"record":true,"recordSegmentDuration":"1m",
"recordPartDuration":"1s","recordDeleteAfter":"24h","recordMaxBytes":"20GiB"}`

func TestOpenAPIShapes(t *testing.T) {
	spec := loadSpec(t)
	ops := specOps(t, spec)
	api := testAPIPaths()
	h := newAPIServer(t, api, nil, nil).Handler()
	cases := []specCase{
		{method: "GET", target: "/api/v1/paths", op: "GET /api/v1/paths", status: 200},
		{method: "GET", target: "/api/v1/paths/cam1", op: "GET /api/v1/paths/{name}", status: 200},
		{method: "GET", target: "/api/v1/paths/site/door", op: "GET /api/v1/paths/{name}", status: 200},
		{method: "GET", target: "/api/v1/paths/lobby", op: "GET /api/v1/paths/{name}", status: 200},
		{method: "GET", target: "/api/v1/paths/demo", op: "GET /api/v1/paths/{name}", status: 200},
		{method: "GET", target: "/api/v1/paths/a%20b", op: "GET /api/v1/paths/{name}", status: 400},
		{method: "GET", target: "/api/v1/paths/nope", op: "GET /api/v1/paths/{name}", status: 404},
		{method: "POST", target: "/api/v1/paths/new", op: "POST /api/v1/paths/{name}", status: 201, body: fullPathKeys},
		{method: "POST", target: "/api/v1/paths/new", op: "POST /api/v1/paths/{name}", status: 409, body: `{}`},
		{method: "POST", target: "/api/v1/paths/other", op: "POST /api/v1/paths/{name}", status: 400, body: `{"onDemand":"yes"}`},
		{method: "POST", target: "/api/v1/paths/other", op: "POST /api/v1/paths/{name}", status: 415, body: `{}`, header: []string{"Content-Type", "text/plain"}},
		{method: "POST", target: "/api/v1/paths/other", op: "POST /api/v1/paths/{name}", status: 413, body: `{"x":"` + strings.Repeat("a", maxPathBody) + `"}`},
		{method: "PATCH", target: "/api/v1/paths/new", op: "PATCH /api/v1/paths/{name}", status: 200, body: `{"onDemand":false}`},
		{method: "PATCH", target: "/api/v1/paths/new", op: "PATCH /api/v1/paths/{name}", status: 400, body: `[1]`},
		{method: "PATCH", target: "/api/v1/paths/nope", op: "PATCH /api/v1/paths/{name}", status: 404, body: `{}`},
		{method: "PATCH", target: "/api/v1/paths/new", op: "PATCH /api/v1/paths/{name}", status: 415, body: `{}`, header: []string{"Content-Type", "text/plain"}},
		{method: "PATCH", target: "/api/v1/paths/new", op: "PATCH /api/v1/paths/{name}", status: 413, body: `{"x":"` + strings.Repeat("a", maxPathBody) + `"}`},
		{method: "DELETE", target: "/api/v1/paths/new", op: "DELETE /api/v1/paths/{name}", status: 204},
		{method: "DELETE", target: "/api/v1/paths/new", op: "DELETE /api/v1/paths/{name}", status: 404},
		{method: "DELETE", target: "/api/v1/paths/a%20b", op: "DELETE /api/v1/paths/{name}", status: 400},
		{method: "GET", target: "/api/v1/sessions", op: "GET /api/v1/sessions", status: 200},
		{method: "DELETE", target: "/api/v1/sessions/whep-4f5e", op: "DELETE /api/v1/sessions/{id}", status: 204},
		{method: "DELETE", target: "/api/v1/sessions/whep-4f5e", op: "DELETE /api/v1/sessions/{id}", status: 404},
		{method: "POST", target: "/api/v1/config/reload", op: "POST /api/v1/config/reload", status: 200},
		{method: "GET", target: "/api/v1/recordings/site/door", op: "GET /api/v1/recordings/{name}", status: 200},
		{method: "GET", target: "/api/v1/recordings/cam1?start=bad", op: "GET /api/v1/recordings/{name}", status: 400},
		{method: "GET", target: "/api/v1/recordings/nope", op: "GET /api/v1/recordings/{name}", status: 404},
		// Unknown routes and wrong methods answer the Error shape too.
		{method: "GET", target: "/api/v1/nope", status: 404},
		{method: "PUT", target: "/api/v1/paths", status: 405},
	}
	sc := &schemaChecker{spec: spec, seen: map[string]bool{}}
	covered := map[string]bool{}
	run := func(t *testing.T, h http.Handler, tc specCase) {
		t.Helper()
		rec := doBody(t, h, tc.method, tc.target, tc.body, tc.header...)
		require.Equal(t, tc.status, rec.Code, "body: %s", rec.Body)
		if tc.op != "" {
			covered[tc.op+" "+strconv.Itoa(tc.status)] = true
		}
		if tc.body != "" && tc.status < 300 {
			op := ops[tc.op]
			var req any
			require.NoError(t, json.Unmarshal([]byte(tc.body), &req))
			for _, err := range sc.check("request", requestSchema(t, op), req) {
				t.Error(err)
			}
		}
		if tc.status == http.StatusNoContent {
			assert.Empty(t, rec.Body.String(), "204 has no body")
			return
		}
		var schema any = map[string]any{"$ref": "#/components/schemas/Error"}
		if tc.op != "" {
			op := ops[tc.op]
			require.NotNil(t, op, "operation %s in the spec", tc.op)
			schema = responseSchema(t, spec, op, tc.status)
		}
		var body any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "body: %s", rec.Body)
		for _, err := range sc.check("$", schema, body) {
			t.Error(err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) { run(t, h, tc) })
	}
	// Answers that need another gateway state.
	api.reloadErr = fmt.Errorf("streamgate.yml:3: paths.cam1.source: invalid URL: %w", ErrInvalid)
	t.Run("reload broken file", func(t *testing.T) {
		run(t, h, specCase{method: "POST", target: "/api/v1/config/reload", op: "POST /api/v1/config/reload", status: 400})
	})
	api.reloadErr = fmt.Errorf("no config file to reload: %w", ErrConflict)
	t.Run("reload without file", func(t *testing.T) {
		run(t, h, specCase{method: "POST", target: "/api/v1/config/reload", op: "POST /api/v1/config/reload", status: 409})
	})
	// Every route refuses as the spec says: 401, 403 and 429.
	authed := (&Server{Paths: testPaths(), HLS: &fakeHLS{}, Extra: APIRoutes{API: testAPIPaths(), Auth: decisionAuth{}}.Mount}).Handler()
	for op := range ops {
		method, pattern, _ := strings.Cut(op, " ")
		target := strings.NewReplacer("{name}", "cam1", "{id}", "rtsp-0a1b2c3d").Replace(pattern)
		for _, refusal := range []struct {
			user   string
			status int
		}{{"", 401}, {"forbidden", 403}, {"locked", 429}} {
			var header []string
			if refusal.user != "" {
				header = []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(refusal.user+":x"))}
			}
			t.Run(op+" "+strconv.Itoa(refusal.status), func(t *testing.T) {
				run(t, authed, specCase{method: method, target: target, op: op, status: refusal.status, header: header})
			})
		}
	}
	// Every response the spec documents was seen, and every property of
	// every schema appeared in some answer (or request body): the spec
	// lists nothing the API does not take or send.
	for op, opMap := range ops {
		responses, _ := opMap["responses"].(map[string]any)
		for status := range responses {
			assert.True(t, covered[op+" "+status], "response %s of %s is never exercised", status, op)
		}
	}
	schemas := specSchemas(t, spec)
	for name, s := range schemas {
		props, _ := s.(map[string]any)["properties"].(map[string]any)
		for prop := range props {
			assert.True(t, sc.seen[name+"."+prop], "property %s.%s never appears in an answer", name, prop)
		}
	}
}

// decisionAuth refuses by user name: none 401, "forbidden" 403, "locked" 429.
type decisionAuth struct{}

func (decisionAuth) Authorize(_ context.Context, req auth.Request) (auth.Decision, *auth.Identity, error) {
	switch req.User {
	case "forbidden":
		return auth.Forbidden, nil, nil
	case "locked":
		return auth.TooManyFailures, nil, &auth.TooManyFailuresError{RetryAfter: 3 * time.Second}
	}
	return auth.Unauthorized, nil, nil
}

// doBody is do with a request body (JSON unless the header says otherwise).
func doBody(t *testing.T, h http.Handler, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	if body == "" {
		return do(t, h, method, target, header...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// requestSchema is the JSON schema of an operation's request body.
func requestSchema(t *testing.T, op map[string]any) any {
	t.Helper()
	rb, _ := op["requestBody"].(map[string]any)
	content, _ := rb["content"].(map[string]any)
	media, ok := content["application/json"].(map[string]any)
	require.True(t, ok, "operation has an application/json request body")
	return media["schema"]
}

// responseSchema is the JSON schema of one documented response.
func responseSchema(t *testing.T, spec map[string]any, op map[string]any, status int) any {
	t.Helper()
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)].(map[string]any)
	require.True(t, ok, "status %d documented", status)
	if ref, ok := resp["$ref"].(string); ok {
		name, _ := strings.CutPrefix(ref, "#/components/responses/")
		comps, _ := spec["components"].(map[string]any)
		shared, _ := comps["responses"].(map[string]any)
		resp, ok = shared[name].(map[string]any)
		require.True(t, ok, "unresolved response $ref %q", ref)
	}
	content, _ := resp["content"].(map[string]any)
	media, ok := content["application/json"].(map[string]any)
	require.True(t, ok, "status %d has application/json content", status)
	return media["schema"]
}

func specSchemas(t *testing.T, spec map[string]any) map[string]any {
	t.Helper()
	comps, _ := spec["components"].(map[string]any)
	schemas, ok := comps["schemas"].(map[string]any)
	require.True(t, ok, "spec has components.schemas")
	return schemas
}

// schemaChecker checks JSON values against the subset of OpenAPI 3.0
// schemas docs/openapi.yaml uses: $ref to components, object (properties,
// required; no property outside properties), array, string (enum,
// date-time), integer and number (minimum), boolean.
type schemaChecker struct {
	spec map[string]any
	seen map[string]bool // "Schema.property" seen in some answer
}

// check returns one message per mismatch between v and schema at where.
func (sc *schemaChecker) check(where string, schema any, v any) []string {
	return sc.checkNamed(where, "", schema, v)
}

func (sc *schemaChecker) checkNamed(where, name string, schema any, v any) []string {
	s, ok := schema.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: schema is not an object: %v", where, schema)}
	}
	if ref, ok := s["$ref"].(string); ok {
		refName, ok := strings.CutPrefix(ref, "#/components/schemas/")
		comps, _ := sc.spec["components"].(map[string]any)
		schemas, _ := comps["schemas"].(map[string]any)
		target, found := schemas[refName]
		if !ok || !found {
			return []string{fmt.Sprintf("%s: unresolved $ref %q", where, ref)}
		}
		return sc.checkNamed(where, refName, target, v)
	}
	var errs []string
	fail := func(format string, args ...any) []string {
		return append(errs, where+": "+fmt.Sprintf(format, args...))
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		errs = fail("%v is not one of %v", v, enum)
	}
	switch typ := s["type"]; typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fail("want an object, got %T", v)
		}
		if ap, ok := s["additionalProperties"].(bool); !ok || ap {
			errs = fail("schema %q must say additionalProperties: false, so the shape is exact", name)
		}
		props, _ := s["properties"].(map[string]any)
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := obj[fmt.Sprint(r)]; !ok {
				errs = fail("required property %q missing", r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := props[k]
			if !ok {
				errs = fail("property %q is not in the spec", k)
				continue
			}
			if name != "" {
				sc.seen[name+"."+k] = true
			}
			errs = append(errs, sc.check(where+"."+k, ps, obj[k])...)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fail("want an array, got %T", v)
		}
		for i, item := range arr {
			errs = append(errs, sc.check(fmt.Sprintf("%s[%d]", where, i), s["items"], item)...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fail("want a string, got %T", v)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				errs = fail("%q is not a date-time: %v", str, err)
			}
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok {
			return fail("want a %s, got %T", typ, v)
		}
		if typ == "integer" && n != math.Trunc(n) {
			errs = fail("%v is not an integer", n)
		}
		if min, ok := number(s["minimum"]); ok && n < min {
			errs = fail("%v is below the minimum %v", n, min)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fail("want a boolean, got %T", v)
		}
	default:
		return fail("schema type %v is not handled by the checker", typ)
	}
	return errs
}

// number reads a YAML number of any Go type.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func TestSchemaCheckerCatchesMismatches(t *testing.T) {
	spec := map[string]any{"components": map[string]any{"schemas": map[string]any{
		"T": map[string]any{
			"type": "object", "additionalProperties": false, "required": []any{"a"},
			"properties": map[string]any{
				"a": map[string]any{"type": "integer", "minimum": uint64(0)},
				"b": map[string]any{"type": "string", "enum": []any{"x", "y"}},
				"c": map[string]any{"type": "array", "items": map[string]any{"type": "boolean"}},
				"d": map[string]any{"type": "string", "format": "date-time"},
			},
		},
	}}}
	ref := map[string]any{"$ref": "#/components/schemas/T"}
	tests := []struct {
		name string
		json string
		errs int
	}{
		{"valid", `{"a":1,"b":"x","c":[true],"d":"2025-01-01T00:00:00Z"}`, 0},
		{"missing required", `{"b":"x"}`, 1},
		{"extra property", `{"a":1,"z":1}`, 1},
		{"wrong type", `{"a":"1"}`, 1},
		{"not an integer", `{"a":1.5}`, 1},
		{"below minimum", `{"a":-1}`, 1},
		{"not in enum", `{"a":1,"b":"q"}`, 1},
		{"bad item", `{"a":1,"c":[1]}`, 1},
		{"bad date", `{"a":1,"d":"yesterday"}`, 1},
		{"not an object", `[1]`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			require.NoError(t, json.Unmarshal([]byte(tc.json), &v))
			sc := &schemaChecker{spec: spec, seen: map[string]bool{}}
			assert.Len(t, sc.check("$", ref, v), tc.errs)
		})
	}
}
