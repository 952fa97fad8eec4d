package gateway

import (
	"reflect"
	"testing"

	"github.com/streamgate/streamgate/auth"
)

const testBcrypt = "$2a$04$abcdefghijklmnopqrstuuCZdDZyNzDqzVYbDYY8eDDqzoZ/gnE8i"

func TestAuthConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"plain password", "auth:\n  users:\n    - name: alice\n      password: hunter2\n",
			nil, "streamgate.yml:4: auth.users[0].password: (user \"alice\") not a password hash; expected an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash) or a bcrypt hash ($2a$/$2b$/$2y$); plain passwords are not accepted, make a hash with `streamgate hash-password`"},
		{"unknown action", "auth:\n  users:\n    - name: alice\n      password: \"" + testBcrypt + "\"\n      permissions: [{action: watch}]\n",
			nil, `streamgate.yml:5: auth.users[0].permissions[0].action: (user "alice") "watch": expected read, publish, api or metrics`},
		{"mapping for a list", "auth:\n  anonymous: {action: read}\n",
			nil, `streamgate.yml:2: auth.anonymous: got a mapping: expected a list of permissions like [{action: read, path: "cams/*"}, {action: api}]`},
		{"bad address", "auth:\n  anonymous:\n    - {action: read, ips: [10.0.0.300]}\n",
			nil, `streamgate.yml:3: auth.anonymous[0].ips: "10.0.0.300": not an address or CIDR range: expected addresses or CIDR ranges like 10.0.0.5 or 10.0.0.0/8`},
		{"bad JWKS URL", "auth:\n  jwt:\n    jwksURL: ftp://x\n",
			nil, `streamgate.yml:3: auth.jwt.jwksURL: invalid URL "ftp://x": expected an https:// URL (or http:// on loopback) of the identity provider's JWKS`},
		{"zero threshold", "auth:\n  failures: {threshold: 0}\n",
			nil, `streamgate.yml:2: auth.failures.threshold: invalid value 0: expected 1 or more`},
		{"unknown user key", "auth:\n  users:\n    - name: alice\n      pasword: x\n",
			nil, `streamgate.yml:4: auth.users[0].pasword: unknown key: expected one of name, password, digestHA1, ips, permissions`},
		{"from the environment", "", []string{"STREAMGATE_AUTH_USERS=x"},
			`env STREAMGATE_AUTH_USERS: the auth section cannot be set from the environment: expected users, permissions and JWT settings in the config file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("streamgate.yml", []byte(tc.yaml), tc.env)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestAuthConfigDecode(t *testing.T) {
	cfg := mustParse(t, `auth:
  anonymous: []
  users:
    - name: alice
      password: "`+testBcrypt+`"
      ips: [10.0.0.0/8]
      permissions:
        - {action: read, path: "cams/*"}
        - action: api
  jwt: {jwksURL: "https://idp/jwks", audience: streamgate}
  failures: {delay: 0}
`)
	want := []auth.User{{Name: "alice", Password: testBcrypt, IPs: []string{"10.0.0.0/8"},
		Permissions: []auth.Permission{{Action: auth.ActionRead, Path: "cams/*"}, {Action: auth.ActionAPI}}}}
	if !reflect.DeepEqual(cfg.Auth.Users, want) || cfg.Auth.Anonymous != nil {
		t.Fatalf("auth = %+v", cfg.Auth)
	}
	ac := cfg.Auth.AuthorizerConfig()
	if ac.FailureDelay >= 0 || ac.Anonymous == nil || len(ac.Anonymous) != 0 || ac.JWT.Claim != "streamgate_permissions" {
		t.Fatalf("authorizer config = %+v", ac)
	}
	if r := cfg.Redacted(); r.Auth.Users[0].Password != redactedMark || cfg.Auth.Users[0].Password != testBcrypt {
		t.Fatal("Redacted must mask the hash in a copy")
	}
	b, err := cfg.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig("streamgate.yml", b, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	requireEqualConfig(t, back, cfg)

	if def := mustParse(t, ""); !reflect.DeepEqual(def.Auth.Anonymous, DefaultAnonymous()) {
		t.Fatalf("default anonymous = %+v", def.Auth.Anonymous)
	}
}
