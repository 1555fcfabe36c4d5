package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store errors that handlers branch on.
var (
	errNotFound = errors.New("not found")
	errExists   = errors.New("already exists")
)

// store holds the tenant data (users, sessions, organizations, keys, agents, threads).
// Every statement is bounded by timeout, so a partitioned Postgres fails fast instead
// of hanging a request or a run.
type store struct {
	db       *pgxpool.Pool
	timeout  time.Duration
	executor string // dbos.workflow_status.executor_id of the runs this pod claims (Config.Executor)
}

func (s *store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

func (s *store) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.db.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (s *store) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.db.QueryRow(ctx, sql, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound
	}
	return err
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

func newSecret(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

type user struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

type org struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	CreatedAt time.Time `json:"createdAt"`
}

type session struct {
	Token       string
	User        user
	ActiveOrgID *string
	ExpiresAt   time.Time
}

func (s *store) createUser(ctx context.Context, email, name, hash string) (user, error) {
	u := user{ID: newID("usr"), Email: email, Name: name}
	_, err := s.exec(ctx, `INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)`, u.ID, email, name, hash)
	if isUniqueViolation(err) {
		return u, errExists
	}
	return u, err
}

func (s *store) userByEmail(ctx context.Context, email string) (user, string, error) {
	var u user
	var hash string
	err := s.queryRow(ctx, `SELECT id, email, name, password_hash FROM users WHERE email = $1`, []any{email}, &u.ID, &u.Email, &u.Name, &hash)
	return u, hash, err
}

func (s *store) createSession(ctx context.Context, userID string, ttl time.Duration) (session, error) {
	sess := session{Token: newSecret(""), ExpiresAt: time.Now().Add(ttl).UTC()}
	_, err := s.exec(ctx, `INSERT INTO sessions (token, user_id, expires_at) VALUES ($1, $2, $3)`, sess.Token, userID, sess.ExpiresAt)
	return sess, err
}

func (s *store) sessionByToken(ctx context.Context, token string) (session, error) {
	sess := session{Token: token}
	err := s.queryRow(ctx, `SELECT u.id, u.email, u.name, s.active_organization_id, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = $1 AND s.expires_at > now()`,
		[]any{token}, &sess.User.ID, &sess.User.Email, &sess.User.Name, &sess.ActiveOrgID, &sess.ExpiresAt)
	return sess, err
}

func (s *store) setActiveOrg(ctx context.Context, token, orgID string) error {
	_, err := s.exec(ctx, `UPDATE sessions SET active_organization_id = $2 WHERE token = $1`, token, orgID)
	return err
}

func (s *store) createOrg(ctx context.Context, userID, name, slug string) (org, error) {
	o := org{ID: newID("org"), Name: name, Slug: slug}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3) RETURNING created_at`,
			o.ID, name, slug).Scan(&o.CreatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO members (organization_id, user_id, role) VALUES ($1, $2, 'owner')`, o.ID, userID)
		return err
	})
	if isUniqueViolation(err) {
		return o, errExists
	}
	return o, err
}

func (s *store) orgBy(ctx context.Context, column, value string) (org, error) {
	var o org
	err := s.queryRow(ctx, `SELECT id, name, slug, created_at FROM organizations WHERE `+column+` = $1`,
		[]any{value}, &o.ID, &o.Name, &o.Slug, &o.CreatedAt)
	return o, err
}

func (s *store) orgBySlug(ctx context.Context, slug string) (org, error) {
	return s.orgBy(ctx, "slug", slug)
}
func (s *store) orgByID(ctx context.Context, id string) (org, error) { return s.orgBy(ctx, "id", id) }

func (s *store) isMember(ctx context.Context, orgID, userID string) (bool, error) {
	var ok bool
	err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM members WHERE organization_id = $1 AND user_id = $2)`,
		[]any{orgID, userID}, &ok)
	return ok, err
}

func (s *store) createAPIKey(ctx context.Context, orgID, userID, name, keyHash string, perms json.RawMessage) (string, error) {
	id := newID("key")
	_, err := s.exec(ctx, `INSERT INTO api_keys (id, organization_id, user_id, name, key_hash, permissions) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, orgID, userID, name, keyHash, perms)
	return id, err
}

func (s *store) apiKeyByHash(ctx context.Context, keyHash string) (orgID, userID string, err error) {
	err = s.queryRow(ctx, `SELECT organization_id, user_id FROM api_keys WHERE key_hash = $1`, []any{keyHash}, &orgID, &userID)
	return orgID, userID, err
}

func (s *store) createProviderKey(ctx context.Context, orgID, providerID, label, apiKey string) (string, error) {
	id := newID("aik")
	_, err := s.exec(ctx, `INSERT INTO ai_provider_keys (id, organization_id, provider_id, label, api_key) VALUES ($1, $2, $3, $4, $5)`,
		id, orgID, providerID, label, apiKey)
	return id, err
}

func (s *store) providerKey(ctx context.Context, orgID, id string) (string, error) {
	var apiKey string
	err := s.queryRow(ctx, `SELECT api_key FROM ai_provider_keys WHERE organization_id = $1 AND id = $2`, []any{orgID, id}, &apiKey)
	return apiKey, err
}

func (s *store) setSimpleMode(ctx context.Context, orgID string, simpleMode json.RawMessage) error {
	n, err := s.exec(ctx, `UPDATE organizations SET settings = jsonb_set(settings, '{simple_mode}', $2::jsonb) WHERE id = $1`, orgID, simpleMode)
	if err == nil && n == 0 {
		return errNotFound
	}
	return err
}

func (s *store) simpleMode(ctx context.Context, orgID string) (json.RawMessage, error) {
	var raw json.RawMessage
	err := s.queryRow(ctx, `SELECT COALESCE(settings->'simple_mode', 'null'::jsonb) FROM organizations WHERE id = $1`, []any{orgID}, &raw)
	return raw, err
}

func (s *store) createAgent(ctx context.Context, orgID, title string, connections json.RawMessage) (string, error) {
	id := newID("vmcp")
	_, err := s.exec(ctx, `INSERT INTO virtual_mcps (id, organization_id, title, connections) VALUES ($1, $2, $3, $4)`,
		id, orgID, title, connections)
	return id, err
}

func (s *store) agentExists(ctx context.Context, orgID, id string) (bool, error) {
	var ok bool
	err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM virtual_mcps WHERE organization_id = $1 AND id = $2)`, []any{orgID, id}, &ok)
	return ok, err
}
