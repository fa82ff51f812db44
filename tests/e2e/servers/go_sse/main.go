// Go SSE test server: `go_sse PORT`. Standard library only.
// Implements the shared e2e server API (see tests/e2e/README.md) with SSE
// bodies byte-identical to the other servers.
package main

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const chunk = `{"id":"x","object":"chat.completion.chunk","choices":[{"delta":{"content":"tok"}}]}`

// The same JSON split over two data lines; joined with "\n" it is still valid.
var chunkLines = []string{`{"id":"x","object":"chat.completion.chunk",`,
	`"choices":[{"delta":{"content":"tok"}}]}`}

var eols = map[string]string{"lf": "\n", "crlf": "\r\n", "cr": "\r"}

type params struct {
	events, heartbeats, status, abortAfter int
	interval, firstDelay                   time.Duration
	eol                                    string
	multiline, nodelay, gzip               bool
}

type event struct {
	data bool
	text string
}

func intParam(r *http.Request, name string, dflt int) int {
	v := r.URL.Query().Get(name)
	if v == "" {
		return dflt
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return dflt
	}
	return n
}

func parse(r *http.Request) params {
	eol, ok := eols[r.URL.Query().Get("eol")]
	if !ok {
		eol = "\n"
	}
	return params{
		events:     intParam(r, "events", 5),
		heartbeats: intParam(r, "heartbeats", 0),
		status:     intParam(r, "status", 200),
		abortAfter: intParam(r, "abort_after", -1),
		interval:   time.Duration(intParam(r, "interval_ms", 10)) * time.Millisecond,
		firstDelay: time.Duration(intParam(r, "first_delay_ms", 0)) * time.Millisecond,
		eol:        eol,
		multiline:  r.URL.Query().Get("multiline") == "1",
		nodelay:    r.URL.Query().Get("nodelay") == "1",
		gzip:       r.URL.Query().Get("gzip") == "1",
	}
}

func dataEvent(p params, index int) string {
	lines := []string{chunk}
	if index == p.events-1 {
		lines = []string{"[DONE]"}
	} else if p.multiline {
		lines = chunkLines
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("data: " + l + p.eol)
	}
	return b.String() + p.eol
}

// plan gives the event order shared by all servers: heartbeat i right before
// data event i; surplus heartbeats follow the last data event.
func plan(p params) []event {
	var out []event
	for i := 0; i < p.events || i < p.heartbeats; i++ {
		if i < p.heartbeats {
			out = append(out, event{false, ": ping" + p.eol + p.eol})
		}
		if i < p.events {
			out = append(out, event{true, dataEvent(p, i)})
		}
	}
	return out
}

// streamTimes is one line of the E2E_TIMES_LOG file per complete stream:
// the CLOCK_MONOTONIC times (seconds) the exporter's durations are compared
// with, each taken right after the Flush that wrote the piece.
type streamTimes struct {
	Path     string    `json:"path"`
	TRequest float64   `json:"t_request"`
	THeaders float64   `json:"t_headers"`
	TData    []float64 `json:"t_data"`
	TEnd     float64   `json:"t_end"`
}

var (
	timesLog  *os.File
	timesMu   sync.Mutex
	monoBase  float64   // CLOCK_MONOTONIC at startWall
	startWall time.Time // carries Go's monotonic reading
)

func initClock() {
	var ts syscall.Timespec
	const clockMonotonic = 1
	startWall = time.Now()
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	monoBase = float64(ts.Sec) + float64(ts.Nsec)/1e9
}

func now() float64 {
	return monoBase + time.Since(startWall).Seconds()
}

func logTimes(t *streamTimes) {
	if timesLog == nil {
		return
	}
	line, _ := json.Marshal(t)
	timesMu.Lock()
	timesLog.Write(append(line, '\n'))
	timesMu.Unlock()
}

func sendJSON(w http.ResponseWriter, status int, v interface{}) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func sendError(w http.ResponseWriter, status int) {
	if status == 429 {
		w.Header().Set("Retry-After", "1")
	}
	sendJSON(w, status, map[string]interface{}{"error": map[string]interface{}{
		"code": status, "message": fmt.Sprintf("status %d requested", status)}})
}

// pause waits before event i as p says; false if the client went away.
func pause(r *http.Request, p params, i int) bool {
	if p.nodelay { // back to back, no timer per event: the bench's full rate
		return r.Context().Err() == nil
	}
	delay := p.interval
	if i == 0 {
		delay = p.firstDelay
	}
	select {
	case <-r.Context().Done(): // client went away
		return false
	case <-time.After(delay):
		return true
	}
}

func streamSSE(w http.ResponseWriter, r *http.Request, p params, tRequest float64) {
	if p.status != 200 {
		sendError(w, p.status)
		return
	}
	flusher := w.(http.Flusher)
	var body io.Writer = w
	var gz *gzip.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	if p.gzip { // as a compressing middleware does: each event flushed
		w.Header().Set("Content-Encoding", "gzip")
		gz = gzip.NewWriter(w)
		body = gz
	}
	w.WriteHeader(200)
	flusher.Flush() // headers go out now, not with the first event
	times := streamTimes{Path: r.URL.Path, TRequest: tRequest, THeaders: now(), TData: []float64{}}
	sentData := 0
	for i, ev := range plan(p) {
		if !pause(r, p, i) {
			return
		}
		io.WriteString(body, ev.text)
		if gz != nil {
			gz.Flush()
		}
		flusher.Flush()
		if ev.data {
			times.TData = append(times.TData, now())
			sentData++
		}
		if sentData == p.abortAfter && sentData < p.events {
			// net/http closes the connection without the terminating chunk.
			panic(http.ErrAbortHandler)
		}
	}
	if gz != nil {
		gz.Close() // the gzip trailer
		flusher.Flush()
	}
	// net/http writes the terminating chunk as soon as the handler returns.
	times.TEnd = now()
	logTimes(&times)
}

func handler(w http.ResponseWriter, r *http.Request) {
	tRequest := now()
	p := parse(r)
	path := r.URL.Path
	switch {
	// Also under any prefix (/<case>/v1/chat/completions): each test case
	// gets a path label of its own.
	case r.Method == "POST" && strings.HasSuffix(path, "/v1/chat/completions"):
		var body struct {
			Stream bool `json:"stream"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if p.status != 200 {
			sendError(w, p.status)
		} else if body.Stream {
			streamSSE(w, r, p, tRequest)
		} else {
			sendJSON(w, 200, map[string]interface{}{"id": "x", "object": "chat.completion",
				"choices": []interface{}{map[string]interface{}{
					"message": map[string]string{"role": "assistant", "content": "tok"}}}})
		}
	case r.Method == "GET" && strings.HasPrefix(path, "/events/"):
		streamSSE(w, r, p, tRequest)
	case r.Method == "GET" && strings.HasPrefix(path, "/items/"):
		sendJSON(w, 200, map[string]string{"id": path[strings.LastIndex(path, "/")+1:], "name": "item"})
	case r.Method == "GET" && path == "/health":
		sendJSON(w, 200, map[string]string{"status": "ok"})
	default:
		sendJSON(w, 404, map[string]interface{}{"error": map[string]interface{}{"code": 404, "message": "not found"}})
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_sse PORT")
		os.Exit(2)
	}
	initClock()
	if path := os.Getenv("E2E_TIMES_LOG"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		timesLog = f
	}
	server := &http.Server{Addr: "127.0.0.1:" + os.Args[1], Handler: http.HandlerFunc(handler)}
	if err := server.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
