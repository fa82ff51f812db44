// Node SSE test server: `/usr/bin/node node_sse.js PORT [CERT KEY]`.
// Built-in `http` only, or `https` given CERT and KEY (PEM files).
// Implements the shared e2e server API (see tests/e2e/README.md) with SSE
// bodies byte-identical to the other servers, over either.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');

const CHUNK = '{"id":"x","object":"chat.completion.chunk","choices":[{"delta":{"content":"tok"}}]}';
// The same JSON split over two data lines; joined with "\n" it is still valid.
const CHUNK_LINES = ['{"id":"x","object":"chat.completion.chunk",',
  '"choices":[{"delta":{"content":"tok"}}]}'];
const EOLS = { lf: '\n', crlf: '\r\n', cr: '\r' };

function intParam(q, name, dflt) {
  return q.has(name) ? parseInt(q.get(name), 10) : dflt;
}

function params(q) {
  return {
    events: intParam(q, 'events', 5),
    interval: intParam(q, 'interval_ms', 10),
    heartbeats: intParam(q, 'heartbeats', 0),
    eol: EOLS[q.get('eol') || 'lf'],
    multiline: q.get('multiline') === '1',
    status: intParam(q, 'status', 200),
    abortAfter: intParam(q, 'abort_after', -1),
    firstDelay: intParam(q, 'first_delay_ms', 0),
  };
}

function dataEvent(p, index) {
  let lines = [CHUNK];
  if (index === p.events - 1) lines = ['[DONE]'];
  else if (p.multiline) lines = CHUNK_LINES;
  return lines.map((l) => 'data: ' + l + p.eol).join('') + p.eol;
}

// Event order shared by all servers: heartbeat i right before data event i;
// surplus heartbeats follow the last data event.
function plan(p) {
  const out = [];
  for (let i = 0; i < Math.max(p.events, p.heartbeats); i++) {
    if (i < p.heartbeats) out.push(['heartbeat', ': ping' + p.eol + p.eol]);
    if (i < p.events) out.push(['data', dataEvent(p, i)]);
  }
  return out;
}

function sendJSON(res, status, obj, extra) {
  const body = JSON.stringify(obj);
  res.writeHead(status, Object.assign({
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  }, extra || {}));
  res.end(body);
}

function sendError(res, status) {
  const extra = status === 429 ? { 'Retry-After': '1' } : {};
  sendJSON(res, status, { error: { code: status, message: `status ${status} requested` } }, extra);
}

const TIMES_LOG = process.env.E2E_TIMES_LOG;

// CLOCK_MONOTONIC in seconds, the exporter's clock.
function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

// One JSON line per complete stream (E2E_TIMES_LOG): the times the
// exporter's durations are compared with. Writes to a socket are tried at
// once, so a time taken right after write() is the write's time.
function logTimes(times) {
  if (TIMES_LOG) fs.appendFileSync(TIMES_LOG, JSON.stringify(times) + '\n');
}

function streamSSE(req, res, p) {
  if (p.status !== 200) return sendError(res, p.status);
  const times = { path: new URL(req.url, 'http://localhost').pathname, t_request: req.tRequest, t_data: [] };
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.flushHeaders(); // headers go out now, not with the first event
  times.t_headers = now();
  const events = plan(p);
  let next = 0;
  let sentData = 0;
  let timer = null;
  res.on('close', () => clearTimeout(timer)); // client went away
  const step = () => {
    const [kind, text] = events[next++];
    if (kind === 'data') sentData++;
    if (sentData === p.abortAfter && sentData < p.events) {
      // Close without the terminating chunk, once this event is written:
      // destroy() right away would discard the pending write.
      res.write(text, () => req.socket.destroy());
      return;
    }
    res.write(text);
    if (kind === 'data') times.t_data.push(now());
    if (next < events.length) {
      timer = setTimeout(step, p.interval);
      return;
    }
    res.end();
    times.t_end = now();
    logTimes(times);
  };
  if (events.length === 0) res.end();
  else timer = setTimeout(step, p.firstDelay);
}

function handle(req, res, body) {
  const url = new URL(req.url, 'http://localhost');
  const p = params(url.searchParams);
  const path = url.pathname;
  // Also under any prefix (/<case>/v1/chat/completions): each test case
  // gets a path label of its own.
  if (req.method === 'POST' && path.endsWith('/v1/chat/completions')) {
    const json = body.length ? JSON.parse(body) : {};
    if (p.status !== 200) return sendError(res, p.status);
    if (json.stream) return streamSSE(req, res, p);
    return sendJSON(res, 200, { id: 'x', object: 'chat.completion',
      choices: [{ message: { role: 'assistant', content: 'tok' } }] });
  }
  if (req.method === 'GET' && path.startsWith('/events/')) return streamSSE(req, res, p);
  if (req.method === 'GET' && path.startsWith('/items/')) {
    return sendJSON(res, 200, { id: path.split('/').pop(), name: 'item' });
  }
  if (req.method === 'GET' && path === '/health') return sendJSON(res, 200, { status: 'ok' });
  return sendJSON(res, 404, { error: { code: 404, message: 'not found' } });
}

function onRequest(req, res) {
  req.tRequest = now();
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => handle(req, res, Buffer.concat(parts).toString()));
}

const [certFile, keyFile] = process.argv.slice(3, 5);
const server = certFile
  ? https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, onRequest)
  : http.createServer(onRequest);
server.keepAliveTimeout = 30000;
server.listen(parseInt(process.argv[2], 10), '127.0.0.1');
