// LLM gateway on Node (built-in http/https only), the second gateway of
// the upstream group, shaped like the express + axios gateways found in
// the field:
//
//     /usr/bin/node gateway_node.js PORT LOG CAFILE HOST=PORT [HOST=PORT...]
//
// Same API, arguments and log records as gateway.py (see its docstring),
// with these differences, each one a way the exporter has been fooled:
// - upstream calls go through one https.Agent with keep-alive (at most
//   MAX_SOCKETS connections per host, so calls of different models share
//   connections) that closes a connection idle for IDLE_MS
//   (E2E_GATEWAY_IDLE_MS, default 1000);
// - each upstream request is written in two writes, the head first
//   (flushHeaders), then the JSON body;
// - streamed answers carry no Content-Type at all, and every upstream
//   event is re-serialised (its JSON gets a "gateway" member), so that no
//   event the gateway writes has the bytes of one it read.
// Records also carry `local_port`: the upstream connection the call used.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const tls = require('tls');

const MAX_SOCKETS = 2;
const IDLE_MS = parseInt(process.env.E2E_GATEWAY_IDLE_MS || '1000', 10);
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
  res.writeHead(200, { 'Cache-Control': 'no-cache' }); // no Content-Type
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
      res.write(reserialise(lines).join('\n') + '\n\n');
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
    stream: Boolean(body.stream), status: null, events: 0, t_written: null, t_first_data: null,
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
  up.flushHeaders();
  up.write(payload);
  up.end();
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
  agent = new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, timeout: IDLE_MS,
    ca: fs.readFileSync(cafile) });
  http.createServer(route).listen(parseInt(port, 10), '127.0.0.1');
}

main();
