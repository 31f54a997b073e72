package slackfake

import (
	"fmt"
	"net/http"
	"strings"
)

// AddFile hosts a shared file and returns its url_private_download, which
// answers only with the bot token, as Slack's file URLs do.
func (s *Server) AddFile(name string, content []byte) string {
	var id string
	s.locked(func() {
		if s.files == nil {
			s.files = map[string][]byte{}
		}
		id = fmt.Sprintf("F%04d", len(s.files)+1)
		s.files[id] = content
	})
	return s.srv.URL + "/files-pri/" + id + "/" + name
}

// serveFile answers a file download; it reports whether the request was one.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/files-pri/")
	if !ok {
		return false
	}
	id, _, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	content, found := s.files[id]
	token := s.token
	s.mu.Unlock()
	switch {
	case r.Header.Get("Authorization") != "Bearer "+token:
		http.Error(w, "not authorized", http.StatusForbidden)
	case !found:
		http.NotFound(w, r)
	default:
		_, _ = w.Write(content)
	}
	return true
}
