// A Redis client on ioredis (the npm package, installed by
// scripts/setup.sh under build/e2e-node), for the redis: e2e group:
//
//     NODE_PATH=build/e2e-node/node_modules node redis_node_client.js PORT NAMESPACE
//
// The gateway of redis_client.py on Node: cache-aside GET/SETEX with an
// LPUSH on every miss, then one pipeline (GETs, MGET, LPUSH, an LPUSH on a
// string key: WRONGTYPE). Prints its ground truth as redis_client.py does
// (see its docstring), counted from what ioredis returned.
'use strict';
const crypto = require('crypto');
const Redis = require('ioredis');

const truth = {
  hits: 0, misses: 0, attempts: 0, successes: 0, failures: {}, depth: {}, commands: {}, seconds: {}, notes: {},
};

function bound(command, n, seconds) {
  truth.commands[command] = (truth.commands[command] || 0) + n;
  truth.seconds[command] = (truth.seconds[command] || 0) + n * seconds;
}

async function timed(command, call) {
  const t0 = process.hrtime.bigint();
  try {
    return await call();
  } finally {
    bound(command, 1, Number(process.hrtime.bigint() - t0) / 1e9);
  }
}

function readReply(value) {
  for (const v of Array.isArray(value) ? value : [value]) {
    if (v === null) truth.misses++;
    else truth.hits++;
  }
}

// One LPUSH's outcome: [error or null, reply].
function produced(key, err, reply) {
  truth.attempts++;
  if (err) {
    const reason = err.message.split(' ')[0];
    truth.failures[reason] = (truth.failures[reason] || 0) + 1;
  } else {
    truth.successes++;
    truth.depth[key] = reply;
  }
}

async function gateway(r, ns) {
  for (let i = 0; i < 30; i++) {
    const prompt = 'prompt ' + (i % 12);
    const key = ns + ':cache:' + crypto.createHash('sha256').update(prompt).digest('hex').slice(0, 16);
    const value = await timed('GET', () => r.get(key));
    readReply(value);
    if (value !== null) continue;
    await r.setex(key, 3600, 'answer to ' + prompt);
    const q = ns + ':queue:jobs';
    produced(q, null, await timed('LPUSH', () => r.lpush(q, JSON.stringify({ prompt }))));
  }
}

async function pipeline(r, ns) {
  const q = ns + ':queue:piped';
  const str = ns + ':queue:string';
  await r.set(ns + ':k:present', 'v');
  await r.set(str, 'not a list');
  const keys = [ns + ':k:present', ns + ':k:absent', ns + ':k:gone'];
  const plan = [['GET', keys[0]], ['GET', keys[1]], ['MGET', ...keys, keys[0]], ['LPUSH', q, 'a'],
    ['LPUSH', str, 'b'], ['LPUSH', q, 'c', 'd'], ['GET', keys[1]]];
  const p = r.pipeline();
  for (const [command, ...args] of plan) p.call(command, ...args);
  const t0 = process.hrtime.bigint();
  const replies = await p.exec();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  plan.forEach(([command, key], i) => {
    bound(command, 1, seconds);
    const [err, reply] = replies[i];
    if (command === 'LPUSH') produced(key, err, reply);
    else readReply(reply);
  });
}

async function main() {
  const [port, ns] = process.argv.slice(2);
  const r = new Redis({ host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: 0 });
  await gateway(r, ns);
  await pipeline(r, ns);
  await r.quit();
  console.log(JSON.stringify(truth));
}

main().catch((e) => {
  console.error('ground truth: ' + e.stack);
  process.exit(2);
});
