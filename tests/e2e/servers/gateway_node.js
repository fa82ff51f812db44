// LLM gateway on Node (built-in http/https only):
//
//     /usr/bin/node gateway_node.js PORT LOG CAFILE HOST=PORT [HOST=PORT...]
//
// Same API, arguments and log records as gateway.py (see its docstring);
// records also carry `local_port`, the upstream connection the call used.
// Upstream calls go through one keep-alive https.Agent (OpenSSL inside the
// node binary). E2E_GATEWAY_STYLE picks how it behaves:
// - `relay` (default): streams typed text/event-stream, upstream events
//   relayed byte for byte, each request in one write, pooled connections
//   kept while the provider keeps them;
// - `axios`: the express + axios gateways found in the field, each trait a
//   way the exporter has been fooled: at most 2 connections per host (calls
//   of different models share them), each request written head first
//   (flushHeaders) and body second, connections idle for
//   E2E_GATEWAY_IDLE_MS (default 1000) closed, streams answered without
//   any Content-Type and every event re-serialised (its JSON gets a
//   "gateway" member), so that no event written has the bytes of one read.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const tls = require('tls');

const STYLES = {
  relay: { maxSockets: 100, idleMs: 0, typed: true, rewrite: false, splitHead: false },
  axios: { maxSockets: 2, idleMs: 1000, typed: false, rewrite: true, splitHead: true },
};
const STYLE = STYLES[process.env.E2E_GATEWAY_STYLE || 'relay'];
const IDLE_MS = parseInt(process.env.E2E_GATEWAY_IDLE_MS || String(STYLE.idleMs), 10);
const DEFAULT_TIMEOUT_MS = 10000;
const TIMEOUT_STATUSES = [408, 504];
const upstreams = {}; // host -> port
let logFd;
let agent;

function now() {
  return Number(process.hrtime.bigint()) / 1e9; // CLOCK_MONOTONIC, like Python's
}

function finish(rec, outcome, error) {
  if (rec.outcome) return;
  rec.outcome = outcome;
  rec.error = error ? String(error) : null;
  rec.t_end = now();
  fs.writeSync(logFd, JSON.stringify(rec) + '\n');
}

function answerJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function errorAnswer(res, rec) {
  const code = rec.outcome === 'timeout' ? 504 : 502;
  answerJson(res, code, { error: { code, message: 'upstream call failed', upstream_status: rec.status,
    detail: rec.error } });
}

function upstreamOptions(rec, body, payload) {
  const host = rec.upstream;
  const anthropic = host === 'api.anthropic.com';
  const headers = { Host: host, 'Content-Type': 'application/json', 'Content-Length': payload.length };
  if (anthropic) Object.assign(headers, { 'x-api-key': 'e2e', 'anthropic-version': '2023-06-01' });
  else headers.Authorization = 'Bearer e2e';
  // the certificate names 127.0.0.1, where the provider listens for host
  return { host: '127.0.0.1', port: upstreams[host], method: 'POST', agent, headers,
    path: anthropic ? '/v1/messages' : '/v1/chat/completions',
    checkServerIdentity: (name, cert) => tls.checkServerIdentity('127.0.0.1', cert) };
}

// "data: {...}" gets a member of ours; other lines are kept.
function reserialise(lines) {
  return lines.map((l) => {
    if (!l.startsWith('data:')) return l;
    const text = l.slice(5).trim();
    try {
      return 'data: ' + JSON.stringify(Object.assign(JSON.parse(text), { gateway: 'node' }));
    } catch (e) {
      return 'data: ' + text;
    }
  });
}

function relay(up, res, rec) {
  let pending = '';
  let lines = [];
  const headers = { 'Cache-Control': 'no-cache' };
  if (STYLE.typed) headers['Content-Type'] = 'text/event-stream';
  res.writeHead(200, headers);
  up.setEncoding('utf8');
  up.on('data', (text) => {
    pending += text;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).replace(/\r$/, '');
      pending = pending.slice(nl + 1);
      if (line) {
        lines.push(line);
        continue;
      }
      if (!lines.length) continue;
      if (rec.t_first_data === null && lines.some((l) => l.startsWith('data:'))) rec.t_first_data = now();
      rec.events++;
      res.write((STYLE.rewrite ? reserialise(lines) : lines).join('\n') + '\n\n');
      lines = [];
    }
  });
  up.on('end', () => {
    finish(rec, up.complete ? 'success' : 'failure', up.complete ? null : 'truncated');
    if (up.complete) res.end();
    else res.destroy();
  });
  up.on('error', (e) => { // reset mid-stream: our stream is cut
    finish(rec, 'failure', e);
    res.destroy();
  });
  res.on('close', () => {
    if (!rec.outcome) {
      finish(rec, 'timeout', 'gateway client went away');
      up.destroy();
    }
  });
}

function plainAnswer(up, res, rec) {
  const parts = [];
  up.on('data', (d) => parts.push(d));
  up.on('error', (e) => {
    finish(rec, 'failure', e);
    errorAnswer(res, rec);
  });
  up.on('end', () => {
    if (rec.status >= 400) {
      finish(rec, TIMEOUT_STATUSES.includes(rec.status) ? 'timeout' : 'failure');
      errorAnswer(res, rec);
      return;
    }
    finish(rec, 'success');
    answerJson(res, 200, JSON.parse(Buffer.concat(parts).toString('utf8')));
  });
}

function chat(req, res, body) {
  const rec = { id: body.e2e_id || null, upstream: body.upstream || 'api.openai.com', model: body.model || null,
    stream: Boolean(body.stream), status: null, events: 0, t_body_started: null, t_written: null,
    t_first_data: null,
    local_port: null };
  rec.port = upstreams[rec.upstream] || null;
  const payload = Buffer.from(JSON.stringify(body));
  const readMs = body.gateway_timeout_ms !== undefined ? body.gateway_timeout_ms : DEFAULT_TIMEOUT_MS;
  rec.t_send = now();
  const up = https.request(upstreamOptions(rec, body, payload), (resp) => {
    rec.status = resp.statusCode;
    if (resp.statusCode >= 400 || !rec.stream) plainAnswer(resp, res, rec);
    else relay(resp, res, rec);
  });
  up.setTimeout(readMs, () => {
    finish(rec, 'timeout', 'read timeout');
    up.destroy();
    if (!res.headersSent) errorAnswer(res, rec);
    else res.destroy();
  });
  up.on('socket', (s) => {
    const local = () => { rec.local_port = s.localPort; };
    if (s.localPort) local();
    else s.once('secureConnect', local);
  });
  up.on('error', (e) => {
    if (rec.outcome) return;
    finish(rec, 'failure', e);
    if (!res.headersSent) errorAnswer(res, rec);
  });
  up.on('finish', () => { rec.t_written = now(); });
  rec.t_body_started = now();
  if (STYLE.splitHead) {
    up.flushHeaders();
    up.write(payload);
    up.end();
  } else {
    up.end(payload);
  }
}

function route(req, res) {
  if (req.method === 'GET' && req.url === '/health') {
    answerJson(res, 200, { status: 'ok' });
    return;
  }
  if (req.method !== 'POST' || !req.url.endsWith('/v1/chat/completions')) {
    answerJson(res, 404, { error: 'not found' });
    return;
  }
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => chat(req, res, JSON.parse(Buffer.concat(parts).toString('utf8'))));
}

function main() {
  const [port, logfile, cafile, ...hosts] = process.argv.slice(2);
  for (const arg of hosts) {
    const eq = arg.indexOf('=');
    upstreams[arg.slice(0, eq)] = parseInt(arg.slice(eq + 1), 10);
  }
  logFd = fs.openSync(logfile, 'a');
  agent = new https.Agent({ keepAlive: true, maxSockets: STYLE.maxSockets, timeout: IDLE_MS,
    ca: fs.readFileSync(cafile) });
  http.createServer(route).listen(parseInt(port, 10), '127.0.0.1');
}

main();
