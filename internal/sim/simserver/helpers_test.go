package simserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/sim/control"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// startSim starts a simulator on free loopback ports and stops it at the end
// of the test, checking that no goroutine outlives it.
func startSim(t *testing.T, ctx context.Context, cfg Config) *Server {
	t.Helper()
	// Registered first, so it runs after the cleanup that closes s.
	leakcheck.Verify(t)
	if cfg.MesosAddr == "" {
		cfg.MesosAddr = "127.0.0.1:0"
	}
	if cfg.MarathonAddr == "" {
		cfg.MarathonAddr = "127.0.0.1:0"
	}
	if cfg.ControlAddr == "" {
		cfg.ControlAddr = "127.0.0.1:0"
	}
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return s
}

func do(t *testing.T, method, url, body string, want int) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", method, url, resp.Status, want, out)
	}
	return out
}

func postApp(t *testing.T, s *Server, app string) {
	t.Helper()
	do(t, "POST", s.MarathonURL+"/v2/apps", app, http.StatusCreated)
}

func tasks(t *testing.T, s *Server, app string) []control.TaskView {
	t.Helper()
	var list struct {
		Tasks []control.TaskView `json:"tasks"`
	}
	if err := json.Unmarshal(do(t, "GET", s.ControlURL+"/sim/v1/tasks?app="+app, "", 200), &list); err != nil {
		t.Fatal(err)
	}
	return list.Tasks
}

func taskIDs(t *testing.T, s *Server, app string) []string {
	var ids []string
	for _, v := range tasks(t, s, app) {
		ids = append(ids, v.ID)
	}
	return ids
}
