// Starting and stopping a vigil daemon for tests and benchmarks.
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export function vigilBin() {
  return process.env.VIGIL_BIN || path.resolve(HERE, '../../../build/vigil');
}

export function sharedDir() {
  const d = process.env.VIGIL_SHARED;
  return d && fs.existsSync(d) ? d : null;
}

export function mkTemp(prefix = 'vigil-it-') { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

// A port the kernel considers free right now (bind port 0, read it, close).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// True if 127.0.0.1:port can be bound now.
export function portIsFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function writeSecretFile(file, keys) {
  const arr = keys.map((k) => ({ name: k.name || k.pkh, value: `unencrypted:${k.sk}` }));
  fs.writeFileSync(file, JSON.stringify(arr, null, 2), { mode: 0o600 });
}

// policies: { pkh: null | { allow: {kind: [ops]}, allow_proof_of_possession, allowed_chains } }
export function writeConfig(file, { baseDir, port, uport, secretFile, policies, watermark = 'file' }) {
  const lines = [
    `base_dir: ${baseDir}`,
    'server:',
    `  address: "127.0.0.1:${port}"`,
    `  utility_address: "127.0.0.1:${uport}"`,
    'vaults:',
    '  local:',
    '    driver: file',
    '    config:',
    `      file: ${secretFile}`,
    'tezos:',
  ];
  for (const [pkh, pol] of Object.entries(policies)) {
    if (pol === null) { lines.push(`  ${pkh}:`); continue; }
    lines.push(`  ${pkh}:`);
    if (pol.allow_proof_of_possession) lines.push('    allow_proof_of_possession: true');
    if (pol.allowed_chains) lines.push(`    allowed_chains: [${pol.allowed_chains.join(', ')}]`);
    if (pol.allow) {
      lines.push('    allow:');
      for (const [kind, ops] of Object.entries(pol.allow)) lines.push(`      ${kind}: [${(ops || []).join(', ')}]`);
    }
  }
  lines.push('watermark:', `  driver: ${watermark}`, '');
  fs.writeFileSync(file, lines.join('\n'));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Spawns `vigil serve args...`; resolves once GET http://127.0.0.1:uport/healthz answers 200.
export async function startVigil(args, { uport, timeoutMs = 20000, env = {}, logFile } = {}) {
  const bin = vigilBin();
  if (!fs.existsSync(bin)) throw new Error(`vigil binary not found: ${bin} (set VIGIL_BIN)`);
  const child = spawn(bin, ['serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const d = { child, log: '', exited: null };
  const onData = (b) => {
    const s = b.toString();
    d.log += s;
    if (d.log.length > 4_000_000) d.log = d.log.slice(-2_000_000);
    if (logFile) fs.appendFileSync(logFile, s);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('exit', (code, sig) => { d.exited = { code, sig }; });
  const deadline = Date.now() + timeoutMs;
  let lastErr = null;
  while (Date.now() < deadline) {
    if (d.exited) {
      throw new Error(`vigil exited early (code ${d.exited.code}, signal ${d.exited.sig}); log:\n${d.log.slice(-3000)}`);
    }
    try {
      const r = await fetch(`http://127.0.0.1:${uport}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) { await r.text(); return d; }
      lastErr = `healthz ${r.status}`;
    } catch (e) { lastErr = e.message; }
    await sleep(100);
  }
  await stopVigil(d);
  throw new Error(`vigil not healthy after ${timeoutMs} ms (${lastErr}); log:\n${d.log.slice(-3000)}`);
}

export async function stopVigil(d) {
  if (!d || !d.child || d.exited) return d && d.exited;
  d.child.kill('SIGTERM');
  for (let i = 0; i < 100 && !d.exited; i++) await sleep(50);
  if (!d.exited) { d.child.kill('SIGKILL'); for (let i = 0; i < 40 && !d.exited; i++) await sleep(50); }
  return d.exited;
}

// fetch wrapper returning {status, headers, text, json}
export async function http(url, { method = 'GET', body, headers = {}, timeoutMs = 15000 } = {}) {
  const r = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}

export function postSign(base, pkh, hexStr, { query = '', headers = {} } = {}) {
  return http(`${base}/keys/${pkh}${query}`, {
    method: 'POST', body: JSON.stringify(hexStr), headers: { 'content-type': 'application/json', ...headers },
  });
}
