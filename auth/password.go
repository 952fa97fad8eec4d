package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Parameters of the argon2id hashes HashPassword makes: the first of
// OWASP's recommended argon2id settings (19 MiB of memory, 2 passes, one
// lane), a 16-byte salt and a 32-byte key. One check takes a few tens of
// milliseconds on a server core; the Authorizer caches successful checks
// so a player sending Basic credentials with every HLS part does not pay
// it each time.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on hashes found in the config, so that a typo cannot make each
// login cost minutes or gigabytes.
const (
	maxArgonMemory = 256 * 1024 // KiB
	maxArgonTime   = 16
	maxBcryptCost  = 15
)

// hashHelp is appended to every hash format error.
const hashHelp = "expected an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash) " +
	"or a bcrypt hash ($2a$/$2b$/$2y$); plain passwords are not accepted, " +
	"make a hash with `streamgate hash-password`"

// HashPassword returns an argon2id hash of pass in PHC string form, for the
// password field of a user in the config.
func HashPassword(pass string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	h := argonHash{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	h.key = h.derive(pass, argonKeyLen)
	return h.String(), nil
}

// passwordHash is a stored hash that can check a password.
type passwordHash interface {
	verify(pass string) bool
}

// parsePasswordHash accepts argon2id and bcrypt hashes and nothing else.
func parsePasswordHash(s string) (passwordHash, error) {
	switch {
	case s == "":
		return nil, errors.New("empty; " + hashHelp)
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon(s)
	case strings.HasPrefix(s, "$argon2"):
		return nil, errors.New("only the argon2id variant is accepted; " + hashHelp)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("bad bcrypt hash: %w; %s", err, hashHelp)
		}
		if cost > maxBcryptCost {
			return nil, fmt.Errorf("bcrypt cost %d is above %d", cost, maxBcryptCost)
		}
		return bcryptHash(s), nil
	}
	return nil, errors.New("not a password hash; " + hashHelp)
}

// bcryptHash is a bcrypt hash string.
type bcryptHash string

func (h bcryptHash) verify(pass string) bool {
	return bcrypt.CompareHashAndPassword([]byte(h), []byte(pass)) == nil
}

// argonHash is a parsed argon2id PHC string.
type argonHash struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseArgon parses "$argon2id$v=19$m=M,t=T,p=P$salt$key" (unpadded base64).
func parseArgon(s string) (argonHash, error) {
	var h argonHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errors.New("bad argon2id hash: want 5 fields separated by $; " + hashHelp)
	}
	if parts[2] != "v=19" {
		return h, fmt.Errorf("bad argon2id hash: version %q, want v=19", parts[2])
	}
	var m, t, p uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) != parts[3] {
		return h, fmt.Errorf("bad argon2id hash: parameters %q, want m=...,t=...,p=...", parts[3])
	}
	switch {
	case m < 8 || m > maxArgonMemory:
		return h, fmt.Errorf("bad argon2id hash: memory m=%d KiB, want 8 to %d", m, maxArgonMemory)
	case t < 1 || t > maxArgonTime:
		return h, fmt.Errorf("bad argon2id hash: passes t=%d, want 1 to %d", t, maxArgonTime)
	case p < 1 || p > 255:
		return h, fmt.Errorf("bad argon2id hash: lanes p=%d, want 1 to 255", p)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return h, errors.New("bad argon2id hash: salt must be at least 8 bytes of unpadded base64")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return h, errors.New("bad argon2id hash: hash must be 16 to 128 bytes of unpadded base64")
	}
	return argonHash{memory: m, time: t, threads: uint8(p), salt: salt, key: key}, nil
}

func (h argonHash) derive(pass string, n int) []byte {
	return argon2.IDKey([]byte(pass), h.salt, h.time, h.memory, h.threads, uint32(n))
}

func (h argonHash) verify(pass string) bool {
	return subtle.ConstantTimeCompare(h.derive(pass, len(h.key)), h.key) == 1
}

// String returns the PHC string form.
func (h argonHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memory, h.time, h.threads,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

// dummyHash returns the hash checked for user names that do not exist, so
// that a wrong name costs as long as a wrong password and names cannot be
// probed by timing. It has HashPassword's parameters and matches nothing
// in practice.
func dummyHash() argonHash {
	return argonHash{
		memory: argonMemory, time: argonTime, threads: argonThreads,
		salt: make([]byte, argonSaltLen), key: make([]byte, argonKeyLen),
	}
}
