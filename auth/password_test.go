package auth

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// HashPassword makes an argon2id PHC string with the documented parameters
// that checks the password and nothing else; two hashes of one password
// differ by their salt.
func TestHashPasswordRoundTrip(t *testing.T) {
	s, err := HashPassword("correct horse")
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`), s)

	h, err := parsePasswordHash(s)
	require.NoError(t, err)
	assert.True(t, h.verify("correct horse"))
	assert.False(t, h.verify("correct horse "))
	assert.False(t, h.verify(""))

	s2, err := HashPassword("correct horse")
	require.NoError(t, err)
	assert.NotEqual(t, s, s2)

	a, err := New(Config{Users: []User{{Name: "u", Password: s}}}, nil)
	require.NoError(t, err, "a fresh hash is a valid config value")
	a.Close()
}

func TestPasswordHashFormats(t *testing.T) {
	b2a, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	require.NoError(t, err)
	b2b := []byte(string(b2a))
	b2b[2] = 'b'
	tests := []struct {
		name string
		hash string
		ok   bool
	}{
		{"argon2id", cheapHash(t, "pw"), true},
		{"bcrypt 2a", string(b2a), true},
		{"bcrypt 2b", string(b2b), true},
		{"plain", "pw", false},
		{"plain: prefix", "plain:pw", false},
		{"md5 crypt", "$1$salt$qJH7.N4xYta3aEG/dfqo/0", false},
		{"sha512 crypt", "$6$salt$abc", false},
		{"bcrypt cost too high", "$2a$31$" + string(b2a[7:]), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parsePasswordHash(tc.hash)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.True(t, h.verify("pw"))
			assert.False(t, h.verify("PW"))
		})
	}
}
