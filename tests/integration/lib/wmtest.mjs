// Helpers shared by crash.test.mjs and concurrency.test.mjs (watermark / double-signing tests):
// one-connection-per-request HTTP, consensus request builders that remember their
// (chain, kind, class, level, round), SIGKILL, the double-signing invariant and a vigil.wm parser.
import http from 'node:http';
import fs from 'node:fs';
import { blake2b } from '@noble/hashes/blake2.js';
import * as T from './tezos.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// POST /keys/{pkh} over a fresh TCP connection (agent: false, Connection: close), so no pooled
// keep-alive socket of a killed daemon is ever reused and concurrent requests really are concurrent
// connections. Resolves {status, text, json}; rejects on network errors (connection refused/reset).
export function postFresh(port, pkh, hexStr, { timeoutMs = 15000, query = '' } = {}) {
  const body = JSON.stringify(hexStr);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: `/keys/${pkh}${query}`, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export const errMsg = (r) => (Array.isArray(r.json) && r.json[0] && typeof r.json[0].msg === 'string' ? r.json[0].msg : r.text);

// Conflict class: attestation and attestation_with_dal are one class (docs/watermarks.md).
export const CLASS_OF = {
  block: 'block', preattestation: 'preattestation', attestation: 'attestation', attestation_with_dal: 'attestation',
};
export const CONSENSUS_KINDS = ['block', 'preattestation', 'attestation', 'attestation_with_dal'];
export const OTHER_CHAIN_HEX = 'ed9d217c'; // NetXdQprcVkpaWU is MAINNET_CHAIN_HEX

// A complete sign request (watermark byte included) as hex, with what the watermark keys on.
// `payload` is a label that changes the block payload hash, hence the request bytes.
export async function consensusRequest(kind, level, round, payload, chainHex = T.MAINNET_CHAIN_HEX) {
  let hexReq;
  switch (kind) {
    case 'block': hexReq = T.forgeBlockRequest(level, round, payload, chainHex); break;
    case 'preattestation': hexReq = '12' + chainHex + await T.forgePreattestation(level, round, payload); break;
    case 'attestation': hexReq = '13' + chainHex + await T.forgeAttestation(level, round, payload); break;
    case 'attestation_with_dal': hexReq = '13' + chainHex + await T.forgeAttestationWithDal(level, round, payload); break;
    default: throw new Error(`unknown consensus kind ${kind}`);
  }
  return { kind, cls: CLASS_OF[kind], chain: chainHex, level, round, payload, hex: hexReq };
}

// The double-signing invariant over every 200 ever observed:
// for each (chain, key, conflict class, level, round) at most one distinct request was signed
// (identical retries may be signed again). Returns a list of human-readable violations.
export function doubleSignViolations(signed) {
  const groups = new Map();
  for (const s of signed) {
    const k = `${s.chain}|${s.pkh}|${s.cls}|${s.level}|${s.round}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = new Map()));
    if (!g.has(s.hex)) g.set(s.hex, s);
  }
  const out = [];
  for (const [k, g] of groups) {
    if (g.size > 1) {
      const items = [...g.values()].map((s) => `${s.kind}/${s.payload}${s.epoch !== undefined ? `@epoch${s.epoch}` : ''} sig ${String(s.sig).slice(0, 16)}…`);
      out.push(`${k}: ${g.size} different requests signed: ${items.join(', ')}`);
    }
  }
  return out;
}

// SIGKILL a daemon started by lib/vigil.mjs startVigil and wait until the process is gone.
export async function killVigil(d, timeoutMs = 5000) {
  if (!d || d.exited) return d && d.exited;
  d.child.kill('SIGKILL');
  const deadline = Date.now() + timeoutMs;
  while (!d.exited && Date.now() < deadline) await sleep(10);
  if (!d.exited) throw new Error(`vigil pid ${d.child.pid} still alive ${timeoutMs} ms after SIGKILL`);
  return d.exited;
}

// ---- vigil.wm (docs/watermarks.md "File format") --------------------------------------------

export const WM_HEADER = 256;
export const WM_REC = 256;
const KIND_CODE = { block: 1, preattestation: 2, attestation: 3, attestation_with_dal: 4 };
const KEY_TYPE = { tz1: 0, tz2: 1, tz3: 2, tz4: 3 };
const PKH_PREFIX = {
  tz1: T.PrefixV2.Ed25519PublicKeyHash, tz2: T.PrefixV2.Secp256k1PublicKeyHash,
  tz3: T.PrefixV2.P256PublicKeyHash, tz4: T.PrefixV2.BLS12_381PublicKeyHash,
};

export function pkhBytes(pkh) {
  const [raw] = T.b58DecodeAndCheckPrefix(pkh, [PKH_PREFIX[pkh.slice(0, 3)]]);
  return Buffer.from(raw);
}

// Lists the records of vigil.wm: {index, offset, chain, keyType, pkhHex, kind, copies: [{seq, level, round}]}.
// Checksums are not verified (that is vigil's job); only the layout is decoded.
export function parseWmFile(file) {
  const b = fs.readFileSync(file);
  if (b.subarray(0, 8).toString('latin1') !== 'VIGILWM1') throw new Error(`${file}: bad magic`);
  const recs = [];
  for (let off = WM_HEADER, i = 0; off + WM_REC <= b.length; off += WM_REC, i++) {
    const r = b.subarray(off, off + WM_REC);
    if (r.every((x) => x === 0)) continue;
    const copies = [64, 160].map((c) => ({
      at: off + c, seq: Number(r.readBigUInt64LE(c)), level: r.readInt32LE(c + 8), round: r.readInt32LE(c + 12),
    }));
    recs.push({
      index: i, offset: off, magic: r.subarray(0, 4).toString('latin1'), chain: r.subarray(4, 8).toString('hex'),
      keyType: r[8], pkhHex: r.subarray(9, 29).toString('hex'), kindCode: r[29], copies,
    });
  }
  return recs;
}

export function findWmRecord(file, { chainHex = T.MAINNET_CHAIN_HEX, pkh, kind }) {
  const want = pkhBytes(pkh).toString('hex');
  return parseWmFile(file).find((r) => r.chain === chainHex && r.pkhHex === want
    && r.keyType === KEY_TYPE[pkh.slice(0, 3)] && r.kindCode === KIND_CODE[kind]);
}

// XORs one byte at absolute offset `at` (file mode preserved).
export function flipByte(file, at, mask = 0x01) {
  const fd = fs.openSync(file, 'r+');
  try {
    const one = Buffer.alloc(1);
    if (fs.readSync(fd, one, 0, 1, at) !== 1) throw new Error(`${file}: no byte at ${at}`);
    one[0] ^= mask;
    fs.writeSync(fd, one, 0, 1, at);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// The mark each record of vigil.wm holds on disk, checksums verified independently of vigil:
// key part BLAKE2b-128 of [0,48) at [48,64); each copy's BLAKE2b-128 of key[0,48) || copy[0,80) at
// copy[80,96); the valid copy with the higher sequence wins. Returns
// [{chain, pkhHex, keyType, kind, level, round, seq, keyOk, validCopies}].
const KIND_NAME = { 1: 'block', 2: 'preattestation', 3: 'attestation', 4: 'attestation_with_dal' };
export function wmDurableMarks(file) {
  const b = fs.readFileSync(file);
  const b2 = (u8) => Buffer.from(blake2b(u8, { dkLen: 16 }));
  const out = [];
  for (let off = WM_HEADER; off + WM_REC <= b.length; off += WM_REC) {
    const r = b.subarray(off, off + WM_REC);
    if (r.every((x) => x === 0)) continue;
    const key = r.subarray(0, 48);
    const keyOk = b2(key).equals(r.subarray(48, 64));
    let best = null;
    let valid = 0;
    for (const c of [64, 160]) {
      const copy = r.subarray(c, c + 96);
      if (!b2(Buffer.concat([key, copy.subarray(0, 80)])).equals(copy.subarray(80, 96))) continue;
      valid++;
      const m = { seq: Number(copy.readBigUInt64LE(0)), level: copy.readInt32LE(8), round: copy.readInt32LE(12) };
      if (!best || m.seq > best.seq) best = m;
    }
    out.push({ chain: r.subarray(4, 8).toString('hex'), keyType: r[8], pkhHex: r.subarray(9, 29).toString('hex'),
      kind: KIND_NAME[r[29]], keyOk, validCopies: valid, ...(best || {}) });
  }
  return out;
}
