package testbed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// SessionCookie is the session cookie's name (Better Auth's).
const SessionCookie = "better-auth.session_token"

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// principal is who a request acts for: a signed-in user (session) or an API key,
// which belongs to one organization.
type principal struct {
	userID   string
	keyOrgID string   // set when authenticated by API key
	session  *session // set when authenticated by cookie
}

// authenticate accepts `Authorization: Bearer <api key>` or the session cookie.
func (p *Pod) authenticate(r *http.Request) (principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		key, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || key == "" {
			return principal{}, errorf(http.StatusUnauthorized, "Unauthorized: want Authorization: Bearer <api key>")
		}
		orgID, userID, err := p.st.apiKeyByHash(r.Context(), hashKey(key))
		if errors.Is(err, errNotFound) {
			return principal{}, errorf(http.StatusUnauthorized, "Unauthorized: invalid API key")
		}
		return principal{userID: userID, keyOrgID: orgID}, err
	}
	sess, err := p.sessionFrom(r)
	if err != nil {
		return principal{}, err
	}
	return principal{userID: sess.User.ID, session: &sess}, nil
}

// sessionFrom finds the signed-in session of the request's cookie.
func (p *Pod) sessionFrom(r *http.Request) (session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return session{}, errorf(http.StatusUnauthorized, "Unauthorized")
	}
	sess, err := p.st.sessionByToken(r.Context(), c.Value)
	if errors.Is(err, errNotFound) {
		return session{}, errorf(http.StatusUnauthorized, "Unauthorized: session expired or unknown")
	}
	return sess, err
}

// checkOrg checks that the principal may act in org: an API key only in its own
// organization, a user in the organizations it is a member of.
func (p *Pod) checkOrg(ctx context.Context, who principal, o org) error {
	if who.session == nil {
		if who.keyOrgID != o.ID {
			return errorf(http.StatusForbidden, "Forbidden: the API key does not belong to organization %q", o.Slug)
		}
		return nil
	}
	ok, err := p.st.isMember(ctx, o.ID, who.userID)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusForbidden, "Forbidden: not a member of organization %q", o.Slug)
	}
	return nil
}

// orgForSlug resolves the organization of a /api/<slug>/ route for the principal.
func (p *Pod) orgForSlug(ctx context.Context, who principal, slug string) (org, error) {
	o, err := p.st.orgBySlug(ctx, slug)
	if errors.Is(err, errNotFound) {
		return o, errorf(http.StatusNotFound, "organization %q not found", slug)
	}
	if err != nil {
		return o, err
	}
	return o, p.checkOrg(ctx, who, o)
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// checkOrigin applies Better Auth's CSRF rule to its POST routes: a request that
// carries cookies must come from the trusted origin, and no request may come from
// another one.
func (p *Pod) checkOrigin(r *http.Request) error {
	if p.cfg.AuthURL == "*" {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if len(r.Cookies()) > 0 {
			return errorf(http.StatusForbidden, "Missing or null Origin: send Origin: %s", p.cfg.AuthURL)
		}
		return nil
	}
	if !strings.EqualFold(strings.TrimSuffix(origin, "/"), p.cfg.AuthURL) {
		return errorf(http.StatusForbidden, "Invalid origin %q: want %s", origin, p.cfg.AuthURL)
	}
	return nil
}

func (p *Pod) setSessionCookie(w http.ResponseWriter, sess session) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.Token, Path: "/", Expires: sess.ExpiresAt,
		MaxAge: int(sessionTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

func (c credentials) validate(signUp bool) error {
	if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
		return errorf(http.StatusBadRequest, "invalid email %q", c.Email)
	}
	if len(c.Password) < 8 || len(c.Password) > 128 {
		return errorf(http.StatusBadRequest, "password must be 8 to 128 characters")
	}
	if signUp && strings.TrimSpace(c.Name) == "" {
		return errorf(http.StatusBadRequest, "name is required")
	}
	return nil
}

func (p *Pod) handleSignUp(w http.ResponseWriter, r *http.Request) {
	var c credentials
	err := p.checkOrigin(r)
	if err == nil {
		err = p.decodeBody(w, r, &c)
	}
	if err == nil {
		err = c.validate(true)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), p.cfg.BcryptCost)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	u, err := p.st.createUser(r.Context(), strings.ToLower(c.Email), c.Name, string(hash))
	if errors.Is(err, errExists) {
		err = errorf(http.StatusUnprocessableEntity, "User already exists")
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.startSession(w, r, u)
}

func (p *Pod) handleSignIn(w http.ResponseWriter, r *http.Request) {
	var c credentials
	err := p.checkOrigin(r)
	if err == nil {
		err = p.decodeBody(w, r, &c)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	u, hash, err := p.st.userByEmail(r.Context(), strings.ToLower(c.Email))
	if err == nil && bcrypt.CompareHashAndPassword([]byte(hash), []byte(c.Password)) != nil {
		err = errNotFound
	}
	if errors.Is(err, errNotFound) {
		err = errorf(http.StatusUnauthorized, "Invalid email or password")
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.startSession(w, r, u)
}

func (p *Pod) startSession(w http.ResponseWriter, r *http.Request, u user) {
	sess, err := p.st.createSession(r.Context(), u.ID, sessionTTL)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.setSessionCookie(w, sess)
	writeJSON(w, http.StatusOK, map[string]any{"token": sess.Token, "user": u})
}

func (p *Pod) handleOrgCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	sess, err := p.authForm(w, r, &body)
	if err == nil && (strings.TrimSpace(body.Name) == "" || !slugRE.MatchString(body.Slug)) {
		err = errorf(http.StatusBadRequest, "want a name and a slug of lowercase letters, digits and '-' (got slug %q)", body.Slug)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	o, err := p.st.createOrg(r.Context(), sess.User.ID, body.Name, body.Slug)
	if errors.Is(err, errExists) {
		err = errorf(http.StatusBadRequest, "Organization already exists: slug %q is taken", body.Slug)
	}
	if err == nil {
		err = p.st.setActiveOrg(r.Context(), sess.Token, o.ID)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (p *Pod) handleOrgSetActive(w http.ResponseWriter, r *http.Request) {
	var body struct {
		OrganizationID string `json:"organizationId"`
	}
	sess, err := p.authForm(w, r, &body)
	var o org
	if err == nil {
		o, err = p.memberOrg(r.Context(), sess, body.OrganizationID)
	}
	if err == nil {
		err = p.st.setActiveOrg(r.Context(), sess.Token, o.ID)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// memberOrg returns the organization with id if the session's user is a member.
func (p *Pod) memberOrg(ctx context.Context, sess session, id string) (org, error) {
	o, err := p.st.orgByID(ctx, id)
	if errors.Is(err, errNotFound) {
		return o, errorf(http.StatusNotFound, "organization %q not found", id)
	}
	if err != nil {
		return o, err
	}
	return o, p.checkOrg(ctx, principal{userID: sess.User.ID, session: &sess}, o)
}

// authForm runs the checks of a signed-in auth POST: origin, session, body.
func (p *Pod) authForm(w http.ResponseWriter, r *http.Request, body any) (session, error) {
	if err := p.checkOrigin(r); err != nil {
		return session{}, err
	}
	sess, err := p.sessionFrom(r)
	if err != nil {
		return sess, err
	}
	return sess, p.decodeBody(w, r, body)
}

func (p *Pod) handleGetSession(w http.ResponseWriter, r *http.Request) {
	sess, err := p.sessionFrom(r)
	var he *httpError
	if errors.As(err, &he) {
		writeJSON(w, http.StatusOK, nil) // Better Auth answers null when signed out
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.setSessionCookie(w, sess)
	writeJSON(w, http.StatusOK, map[string]any{
		"session": map[string]any{"token": sess.Token, "userId": sess.User.ID,
			"activeOrganizationId": sess.ActiveOrgID, "expiresAt": sess.ExpiresAt},
		"user": sess.User,
	})
}
