// Node LLM gateway: `/usr/bin/node node_gateway.js PORT LOG CAFILE HOST=PORT...`.
// The Node twin of gateway.py for streamed calls only (tests/e2e/adopt_cases.py):
// plaintext inbound HTTP; `POST [/PREFIX]/v1/chat/completions` with an
// OpenAI-style JSON body goes unchanged to the host named by its `upstream`
// field over HTTPS to 127.0.0.1:PORT (`Host: HOST`, the certificate checked
// against CAFILE), through one keep-alive https.Agent: its pooled TLS
// connections outlive the calls. The upstream SSE answer is relayed byte for
// byte as it arrives. `GET /health`: {"status": "ok"}. Upstream errors: 502.
//
// Each upstream call appends one JSON line to LOG before the relayed stream
// ends, with gateway.py's fields: id, upstream, port, model, stream, status,
// outcome, error, events (upstream events relayed), t_written (request
// flushed to the socket), t_first_data (first event with a data line read),
// t_end, CLOCK_MONOTONIC seconds (process.hrtime is that clock on Linux).
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');

const [port, logFile, caFile, ...hostArgs] = process.argv.slice(2);
const UPSTREAMS = Object.fromEntries(hostArgs.map((a) => {
  const [host, p] = a.split('=');
  return [host, parseInt(p, 10)];
}));
const ca = fs.readFileSync(caFile);
const agent = new https.Agent({ keepAlive: true, maxSockets: 100 });
const log = fs.openSync(logFile, 'a');

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

function finish(rec, outcome, error) {
  Object.assign(rec, { outcome, error: error || null, t_end: now() });
  fs.writeSync(log, JSON.stringify(rec) + '\n');
}

// Events are counted as they pass: a blank line ends one.
function countEvents(rec, state, chunk) {
  for (const line of (state.rest + chunk).split('\n').slice(0, -1)) {
    const l = line.replace(/\r$/, '');
    if (l) {
      state.lines.push(l);
    } else if (state.lines.length) {
      if (rec.t_first_data === null && state.lines.some((x) => x.startsWith('data:'))) {
        rec.t_first_data = now();
      }
      rec.events += 1;
      state.lines = [];
    }
  }
  state.rest = (state.rest + chunk).split('\n').pop();
}

function relay(body, res) {
  const host = body.upstream || 'api.openai.com';
  const rec = {
    id: body.e2e_id, upstream: host, port: UPSTREAMS[host], model: body.model, stream: true,
    status: null, events: 0, t_written: null, t_first_data: null,
  };
  const payload = JSON.stringify(body);
  const req = https.request({
    host: '127.0.0.1', port: UPSTREAMS[host], path: '/v1/chat/completions', method: 'POST', agent, ca,
    servername: 'localhost', // the run's certificate names localhost, not the Host header
    headers: {
      Host: host, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload),
      Authorization: 'Bearer e2e',
    },
  }, (up) => {
    rec.status = up.statusCode;
    if (up.statusCode >= 400) {
      up.resume();
      finish(rec, 'failure');
      res.writeHead(502, { 'Content-Type': 'application/json' }).end('{"error":"upstream"}');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const state = { rest: '', lines: [] };
    up.setEncoding('utf8');
    up.on('data', (chunk) => {
      countEvents(rec, state, chunk);
      res.write(chunk);
    });
    up.on('end', () => {
      finish(rec, 'success');
      res.end();
    });
    up.on('error', (e) => {
      finish(rec, 'failure', String(e));
      res.destroy();
    });
  });
  req.on('finish', () => { rec.t_written = now(); });
  req.on('error', (e) => {
    finish(rec, 'failure', String(e));
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  req.end(payload);
}

http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status": "ok"}');
    return;
  }
  if (req.method !== 'POST' || !req.url.endsWith('/v1/chat/completions')) {
    res.writeHead(404).end();
    return;
  }
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => relay(JSON.parse(Buffer.concat(parts).toString()), res));
}).listen(parseInt(port, 10), '127.0.0.1');
