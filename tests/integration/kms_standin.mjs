// A local AWS KMS stand-in for tests and dev mode, written independently of vigil's C code: Node's
// built-in crypto only, with a hand-rolled CBOR codec, BER/DER reader, CMS writer and SigV4 verifier.
//
// What it checks, like KMS (never a stub that says yes):
//   - SigV4 (AWS4-HMAC-SHA256) on every request against known credentials: scope (date, region,
//     service "kms"), clock skew, session token, signed "host", body hash, signature;
//   - the operation (X-Amz-Target: TrentService.Encrypt | Decrypt | GenerateDataKey | GenerateRandom), the
//     key id (UUID, key ARN, alias/NAME or alias ARN) and the JSON body;
//   - for a Recipient: the attestation document (COSE_Sign1 ES384 over the Sig_structure, the chain
//     leaf ← cabundle ← the configured root, every certificate P-384/SHA-384 and valid now, the field rules
//     of the AWS attestation process) and the key policy's PCR conditions (like
//     kms:RecipientAttestation:PCR0, StringEqualsIgnoreCase); Decrypt without a Recipient is refused when
//     the key's policy demands attestation;
//   - it answers like KMS: HTTP 200 + JSON, or HTTP 400 {"__type": "...Exception", "message": "..."}, content
//     type application/x-amz-json-1.1. With a Recipient, CiphertextForRecipient replaces Plaintext: a BER
//     CMS EnvelopedData (indefinite lengths, as KMS sends it) with RSAES-OAEP-SHA256 key transport to the
//     document's public_key and AES-256-CBC content.
// Ciphertext blobs are the stand-in's own format: "VKB1" | u8 key-id length | key id | 12-byte IV |
// 16-byte GCM tag | AES-256-GCM ciphertext, with the header and the encryption context as AAD.
//
// Library use:  import { KmsStandIn } from './kms_standin.mjs';
//   const kms = new KmsStandIn({ credentials: [{accessKeyId, secretAccessKey, sessionToken}], region,
//     rootPem | rootDer, keys: [{ id, alias, material?, policy: { requireRecipientFor: ['Decrypt'],
//     pcrs: { 0: ['<96 hex>'] } } }] });  const url = await kms.listen();  ...  await kms.close();
// Command line (dev mode):
//   node kms_standin.mjs --root DIR/root.pem [--port 8000] [--region us-east-1] [--state FILE]
//        [--key-id ID] [--pcr0 HEX[,HEX...]] [--no-attestation] [--tls-ca-out FILE [--tls-host NAME]]
//   --tls-ca-out serves HTTPS instead of HTTP, with a test CA made at start (P-256, one day) whose
//   certificate is written to FILE and a server certificate for NAME (default kms.<region>.amazonaws.com),
//   as vigil-enclave needs it (--kms-ca-file FILE --kms-endpoint-host NAME).
//   credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; prints one JSON line
//   {"url": ..., "keyArn": ...} when listening.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';

// ------------------------------------------------------------------------------------------------
// CBOR: a strict decoder (definite strings, no floats, tags only where asked) and a small encoder.

export class CborError extends Error {}

export class Tagged {
  constructor(tag, value) { this.tag = tag; this.value = value; }
}

const CBOR_DEPTH_MAX = 16;
const CBOR_ITEMS_MAX = 4096;

class CborReader {
  constructor(buf) { this.b = buf; this.o = 0; }

  need(n) { if (this.o + n > this.b.length) throw new CborError(`truncated at offset ${this.o}`); }

  head() {
    this.need(1);
    const at = this.o;
    const ib = this.b[this.o++];
    const major = ib >> 5;
    const ai = ib & 31;
    let arg;
    if (ai < 24) arg = ai;
    else if (ai <= 27) {
      const n = 1 << (ai - 24);
      this.need(n);
      let v = 0n;
      for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(this.b[this.o++]);
      arg = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    } else if (ai === 31) {
      if (major === 7) return { major, brk: true, at };
      if (major < 2 || major > 5) throw new CborError(`indefinite length on major ${major} at ${at}`);
      arg = null; // indefinite
    } else throw new CborError(`reserved additional information at ${at}`);
    return { major, arg, at };
  }
}

function cborItem(r, depth, allowTag) {
  if (depth > CBOR_DEPTH_MAX) throw new CborError('nesting too deep');
  const h = r.head();
  if (h.brk) throw new CborError(`unexpected break at ${h.at}`);
  switch (h.major) {
    case 0: return h.arg;
    case 1: return typeof h.arg === 'bigint' ? -1n - h.arg : -1 - h.arg;
    case 2:
    case 3: {
      if (h.arg === null) throw new CborError(`indefinite-length string at ${h.at}`);
      if (typeof h.arg === 'bigint') throw new CborError('string too long');
      r.need(h.arg);
      const s = Buffer.from(r.b.subarray(r.o, r.o + h.arg));
      r.o += h.arg;
      if (h.major === 2) return s;
      try { return new TextDecoder('utf-8', { fatal: true }).decode(s); } catch { throw new CborError(`invalid UTF-8 at ${h.at}`); }
    }
    case 4:
    case 5: {
      const isMap = h.major === 5;
      const out = isMap ? new Map() : [];
      for (let i = 0; ; i++) {
        if (h.arg === null) {
          r.need(1);
          if (r.b[r.o] === 0xff) { r.o++; break; }
        } else if (i >= h.arg) break;
        if (i >= CBOR_ITEMS_MAX) throw new CborError('too many items');
        if (isMap) {
          const k = cborItem(r, depth + 1, false);
          if (typeof k !== 'string' && typeof k !== 'number') throw new CborError(`unsupported map key type at ${h.at}`);
          if (out.has(k)) throw new CborError(`duplicate map key ${JSON.stringify(k)}`);
          out.set(k, cborItem(r, depth + 1, false));
        } else out.push(cborItem(r, depth + 1, false));
      }
      return out;
    }
    case 6:
      if (!allowTag) throw new CborError(`unexpected tag ${h.arg} at ${h.at}`);
      return new Tagged(h.arg, cborItem(r, depth + 1, false));
    default:
      if (h.arg === 20) return false;
      if (h.arg === 21) return true;
      if (h.arg === 22) return null;
      throw new CborError(`unsupported simple value / float at ${h.at}`);
  }
}

// Decodes exactly one item filling buf.
export function cborDecode(buf, { allowTopTag = false } = {}) {
  const r = new CborReader(buf);
  const v = cborItem(r, 0, allowTopTag);
  if (r.o !== buf.length) throw new CborError(`${buf.length - r.o} trailing bytes`);
  return v;
}

function cborHead(major, n) {
  n = BigInt(n);
  if (n < 24n) return Buffer.from([(major << 5) | Number(n)]);
  for (const [ai, len] of [[24, 1], [25, 2], [26, 4], [27, 8]]) {
    if (n < 1n << BigInt(8 * len)) {
      const b = Buffer.alloc(1 + len);
      b[0] = (major << 5) | ai;
      for (let i = 0; i < len; i++) b[len - i] = Number((n >> BigInt(8 * i)) & 0xffn);
      return b;
    }
  }
  throw new CborError('integer too large');
}

export function cborEncode(v) {
  if (v === null) return Buffer.from([0xf6]);
  if (typeof v === 'boolean') return Buffer.from([v ? 0xf5 : 0xf4]);
  if (typeof v === 'number' || typeof v === 'bigint') {
    return BigInt(v) >= 0n ? cborHead(0, v) : cborHead(1, -1n - BigInt(v));
  }
  if (typeof v === 'string') { const s = Buffer.from(v, 'utf8'); return Buffer.concat([cborHead(3, s.length), s]); }
  if (v instanceof Uint8Array) return Buffer.concat([cborHead(2, v.length), Buffer.from(v)]);
  if (Array.isArray(v)) return Buffer.concat([cborHead(4, v.length), ...v.map(cborEncode)]);
  if (v instanceof Map) {
    const parts = [cborHead(5, v.size)];
    for (const [k, x] of v) parts.push(cborEncode(k), cborEncode(x));
    return Buffer.concat(parts);
  }
  if (v instanceof Tagged) return Buffer.concat([cborHead(6, v.tag), cborEncode(v.value)]);
  throw new CborError(`cannot encode ${typeof v}`);
}

// ------------------------------------------------------------------------------------------------
// BER/DER: a reader (indefinite lengths allowed) and writer helpers.

export class DerError extends Error {}

// One element at buf[off]: { tag, constructed, start (contents), end (contents end, before an EOC),
// next (offset after the element) }.
export function berElement(buf, off, limit = buf.length, depth = 0) {
  if (depth > 16) throw new DerError('nesting too deep');
  if (off + 2 > limit) throw new DerError(`truncated at ${off}`);
  const tag = buf[off];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high tag number at ${off}`);
  const constructed = (tag & 0x20) !== 0;
  let l = buf[off + 1];
  let p = off + 2;
  if (l === 0x80) {
    if (!constructed) throw new DerError(`indefinite primitive at ${off}`);
    let q = p;
    while (!(q + 2 <= limit && buf[q] === 0 && buf[q + 1] === 0)) q = berElement(buf, q, limit, depth + 1).next;
    return { tag, constructed, start: p, end: q, next: q + 2 };
  }
  if (l & 0x80) {
    const n = l & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new DerError(`bad length at ${off}`);
    l = 0;
    for (let i = 0; i < n; i++) l = l * 256 + buf[p++];
  }
  if (p + l > limit) throw new DerError(`length past the end at ${off}`);
  return { tag, constructed, start: p, end: p + l, next: p + l };
}

export function berChildren(buf, el) {
  const out = [];
  for (let p = el.start; p < el.end;) { const c = berElement(buf, p, el.end); out.push(c); p = c.next; }
  return out;
}

function derLen(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag, ...content) => { const c = Buffer.concat(content); return Buffer.concat([Buffer.from([tag]), derLen(c.length), c]); };
const indef = (tag, ...content) => Buffer.concat([Buffer.from([tag, 0x80]), ...content, Buffer.from([0, 0])]);
const oid = (hex) => tlv(0x06, Buffer.from(hex, 'hex'));

const OID = {
  envelopedData: '2a864886f70d010703',
  data: '2a864886f70d010701',
  rsaesOaep: '2a864886f70d010107',
  mgf1: '2a864886f70d010108',
  sha256: '608648016503040201',
  aes256cbc: '60864801650304012a',
  ecdsaWithSha384: '2a8648ce3d040303',
};

// The signature algorithm OID (hex) of a DER certificate.
function certSigAlgOid(der) {
  const cert = berElement(der, 0);
  if (cert.tag !== 0x30 || cert.next !== der.length) throw new DerError('certificate is not one SEQUENCE');
  const [, alg] = berChildren(der, cert);
  const [o] = berChildren(der, alg);
  return der.subarray(o.start, o.end).toString('hex');
}

// ------------------------------------------------------------------------------------------------
// CMS EnvelopedData: writer (KMS's shape) and reader (for the self-test and tools).

// CiphertextForRecipient for `plaintext` to the RSA public key `spkiDer`: exactly the layout of KMS's
// (../shared/vectors/enclave-rpc/kms-cms/): indefinite ContentInfo / [0] / EnvelopedData /
// EncryptedContentInfo / [0] chunks, definite RecipientInfos. `fixed` (tests) pins cek, iv, encryptedKey.
export function cmsEnvelope(plaintext, spkiDer, { chunk = 0, fixed = {} } = {}) {
  const pub = crypto.createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  const cek = fixed.cek ?? crypto.randomBytes(32);
  const iv = fixed.iv ?? crypto.randomBytes(16);
  const encryptedKey = fixed.encryptedKey ?? crypto.publicEncrypt(
    { key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  const c = crypto.createCipheriv('aes-256-cbc', cek, iv);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  const ski = crypto.createHash('sha256').update(spkiDer).digest();
  const sha256Alg = tlv(0x30, oid(OID.sha256), Buffer.from([0x05, 0x00]));
  const oaepParams = tlv(0x30, tlv(0xa0, sha256Alg), tlv(0xa1, tlv(0x30, oid(OID.mgf1), sha256Alg)));
  const ktri = tlv(0x30, tlv(0x02, Buffer.from([2])), tlv(0x80, ski), tlv(0x30, oid(OID.rsaesOaep), oaepParams),
    tlv(0x04, encryptedKey));
  const pieces = [];
  const size = chunk > 0 ? chunk : Math.max(ct.length, 1);
  for (let i = 0; i < ct.length; i += size) pieces.push(tlv(0x04, ct.subarray(i, i + size)));
  const eci = indef(0x30, oid(OID.data), tlv(0x30, oid(OID.aes256cbc), tlv(0x04, iv)), indef(0xa0, ...pieces));
  const env = indef(0x30, tlv(0x02, Buffer.from([2])), tlv(0x31, ktri), eci);
  return indef(0x30, oid(OID.envelopedData), indef(0xa0, env));
}

// Opens a CMS EnvelopedData of KMS's shape with an RSA private key (KeyObject or PEM).
export function cmsOpen(ber, privateKey) {
  const hex = (el) => ber.subarray(el.start, el.end).toString('hex');
  const ci = berElement(ber, 0);
  if (ci.tag !== 0x30 || ci.next !== ber.length) throw new DerError('not one ContentInfo');
  const [ctype, content] = berChildren(ber, ci);
  if (hex(ctype) !== OID.envelopedData || content.tag !== 0xa0) throw new DerError('not envelopedData');
  const [env] = berChildren(ber, content);
  const envKids = berChildren(ber, env).filter((e) => e.tag !== 0xa0);
  const [version, ris, eci] = envKids;
  if (hex(version) !== '02') throw new DerError('EnvelopedData version');
  const riList = berChildren(ber, ris);
  if (riList.length !== 1) throw new DerError('want one recipient');
  const [kv, rid, kalg, ekey] = berChildren(ber, riList[0]);
  const [koid] = berChildren(ber, kalg);
  if (hex(kv) !== '02' || rid.tag !== 0x80 || hex(koid) !== OID.rsaesOaep) throw new DerError('recipient');
  const [eType, cAlg, eContent] = berChildren(ber, eci);
  const [cOid, ivEl] = berChildren(ber, cAlg);
  if (hex(eType) !== OID.data || hex(cOid) !== OID.aes256cbc) throw new DerError('content algorithm');
  const ct = eContent.tag === 0x80 ? ber.subarray(eContent.start, eContent.end)
    : Buffer.concat(berChildren(ber, eContent).map((e) => ber.subarray(e.start, e.end)));
  const cek = crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    ber.subarray(ekey.start, ekey.end));
  const d = crypto.createDecipheriv('aes-256-cbc', cek, ber.subarray(ivEl.start, ivEl.end));
  return { plaintext: Buffer.concat([d.update(ct), d.final()]), rid: ber.subarray(rid.start, rid.end), cek };
}

// ------------------------------------------------------------------------------------------------
// Attestation documents (AWS Nitro Enclaves "attestation process" §3; spec enclave-rpc.md §14).

export class AttestationError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; } // kind: malformed | signature | chain
}

const ATT_FIELDS = new Set(['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key',
  'user_data', 'nonce']);

function x509Date(s) {
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new AttestationError('chain', `unparseable certificate date ${s}`);
  return t;
}

function checkChainAndSignature({ certificate, cabundle }, prot, payloadBytes, sig, rootDer, now) {
  // the chain: cabundle[0] is the pinned root; certs[i] is issued by certs[i+1]
  const chainErr = (m) => new AttestationError('chain', m);
  if (!rootDer || !Buffer.from(cabundle[0]).equals(Buffer.from(rootDer))) throw chainErr('cabundle[0] is not the trusted root');
  const ders = [certificate, ...cabundle.slice(1).reverse(), cabundle[0]];
  let certs;
  try { certs = ders.map((d) => new crypto.X509Certificate(d)); } catch (e) { throw chainErr(`certificate: ${e.message}`); }

  // the COSE signature with the leaf key first (one verification), then the chain
  const tbs = cborEncode(['Signature1', prot, Buffer.alloc(0), payloadBytes]);
  const ok = crypto.verify('sha384', tbs, { key: certs[0].publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) throw new AttestationError('signature', 'COSE signature does not verify');
  for (let i = 0; i < certs.length; i++) {
    const c = certs[i];
    const what = i === 0 ? 'leaf' : i === certs.length - 1 ? 'root' : `intermediate ${i}`;
    let alg;
    try { alg = certSigAlgOid(ders[i]); } catch (e) { throw chainErr(`${what}: ${e.message}`); }
    if (alg !== OID.ecdsaWithSha384) throw chainErr(`${what}: not ecdsa-with-SHA384`);
    const kd = c.publicKey.asymmetricKeyDetails || {};
    if (c.publicKey.asymmetricKeyType !== 'ec' || kd.namedCurve !== 'secp384r1') throw chainErr(`${what}: key is not P-384`);
    if (now < x509Date(c.validFrom)) throw chainErr(`${what}: not yet valid`);
    if (now > x509Date(c.validTo)) throw chainErr(`${what}: expired`);
    const issuer = certs[Math.min(i + 1, certs.length - 1)];
    if (i > 0 && !c.ca) throw chainErr(`${what}: not a CA`);
    if (i === 0 && c.ca) throw chainErr('leaf is a CA certificate');
    if (!c.checkIssued(issuer) || !c.verify(issuer.publicKey)) throw chainErr(`${what}: not signed by its issuer`);
  }

}

// Parses and verifies `doc` against `rootDer` at time `now` (ms). Returns the payload fields.
export function verifyAttestation(doc, { rootDer, now = Date.now() }) {
  const bad = (m) => new AttestationError('malformed', m);
  if (!(doc instanceof Uint8Array) || doc.length === 0 || doc.length > 262144) throw bad('document size');
  let top;
  try { top = cborDecode(Buffer.from(doc), { allowTopTag: true }); } catch (e) { throw bad(`CBOR: ${e.message}`); }
  if (top instanceof Tagged) {
    if (top.tag !== 18) throw bad(`tag ${top.tag}`);
    top = top.value;
  }
  if (!Array.isArray(top) || top.length !== 4) throw bad('not a COSE_Sign1 array of 4');
  const [prot, unprot, payloadBytes, sig] = top;
  if (!Buffer.isBuffer(prot) || !(unprot instanceof Map) || !Buffer.isBuffer(payloadBytes) || !Buffer.isBuffer(sig)) {
    throw bad('COSE_Sign1 item types');
  }
  if (unprot.size !== 0) throw bad('unprotected header not empty');
  if (sig.length !== 96) throw bad('signature is not 96 bytes');
  let ph;
  try { ph = cborDecode(prot); } catch (e) { throw bad(`protected header: ${e.message}`); }
  if (!(ph instanceof Map) || ph.size !== 1 || ph.get(1) !== -35) throw bad('protected header is not {1: -35} (ES384)');
  let p;
  try { p = cborDecode(payloadBytes); } catch (e) { throw bad(`payload: ${e.message}`); }
  if (!(p instanceof Map)) throw bad('payload is not a map');
  for (const k of p.keys()) if (!ATT_FIELDS.has(k)) throw bad(`unknown payload key ${JSON.stringify(k)}`);
  const moduleId = p.get('module_id');
  if (typeof moduleId !== 'string' || moduleId.length === 0) throw bad('module_id');
  if (p.get('digest') !== 'SHA384') throw bad('digest is not SHA384');
  const timestamp = p.get('timestamp');
  if (typeof timestamp !== 'number' || timestamp <= 0) throw bad('timestamp');
  const pcrMap = p.get('pcrs');
  if (!(pcrMap instanceof Map) || pcrMap.size < 1 || pcrMap.size > 32) throw bad('pcrs');
  const pcrs = new Map();
  for (const [i, v] of pcrMap) {
    if (typeof i !== 'number' || i < 0 || i > 31 || !Buffer.isBuffer(v) || ![32, 48, 64].includes(v.length)) throw bad(`pcr ${i}`);
    pcrs.set(i, v);
  }
  const certificate = p.get('certificate');
  const cabundle = p.get('cabundle');
  if (!Buffer.isBuffer(certificate) || certificate.length < 1 || certificate.length > 1024) throw bad('certificate');
  if (!Array.isArray(cabundle) || cabundle.length < 1 || cabundle.some((c) => !Buffer.isBuffer(c) || c.length < 1 || c.length > 1024)) {
    throw bad('cabundle');
  }
  const opt = (name, min) => {
    const v = p.get(name);
    if (v === undefined || v === null) return null;
    if (!Buffer.isBuffer(v) || v.length < min || v.length > 1024) throw bad(name);
    return v;
  };
  const fields = { moduleId, digest: 'SHA384', timestamp, pcrs, certificate, cabundle,
    publicKey: opt('public_key', 1), userData: opt('user_data', 0), nonce: opt('nonce', 0) };

  try {
    checkChainAndSignature(fields, prot, payloadBytes, sig, rootDer, now);
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new AttestationError('chain', `certificate or key unusable: ${e.message}`);
  }
  return fields;
}

// ------------------------------------------------------------------------------------------------
// SigV4 (AWS Signature Version 4, AWS4-HMAC-SHA256).

export class SigV4Error extends Error {
  constructor(type, message) { super(message); this.type = type; }
}

const sha256hex = (b) => crypto.createHash('sha256').update(b).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();
const uriEncode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const safeDecode = (s) => { try { return decodeURIComponent(s); } catch { return s; } };

// Canonical URI (non-S3: dot segments removed, empty segments dropped, each segment URI-encoded as sent).
export function canonicalUri(path) {
  const out = [];
  for (const s of path.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop(); else out.push(s);
  }
  let u = `/${out.map(uriEncode).join('/')}`;
  if (path.endsWith('/') && out.length > 0) u += '/';
  return u;
}

export function canonicalQuery(query) {
  if (!query) return '';
  const pairs = query.split('&').filter((x) => x !== '').map((kv) => {
    const i = kv.indexOf('=');
    const k = i < 0 ? kv : kv.slice(0, i);
    const v = i < 0 ? '' : kv.slice(i + 1);
    return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

// headers: [[name, value], ...] as received (duplicates allowed); signed: lower-case names.
export function canonicalRequest({ method, path, query, headers, signed, payloadHash }) {
  const byName = new Map();
  for (const [n, v] of headers) {
    const k = n.toLowerCase();
    if (!byName.has(k)) byName.set(k, []);
    byName.get(k).push(String(v).trim().replace(/\s+/g, ' '));
  }
  const lines = signed.map((k) => `${k}:${(byName.get(k) || []).join(',')}\n`).join('');
  return [method, canonicalUri(path), canonicalQuery(query), lines, signed.join(';'), payloadHash].join('\n');
}

export function stringToSign(amzDate, scope, creq) {
  return ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(creq)].join('\n');
}

export function signature(secret, amzDate, region, service, sts) {
  const kDate = hmac(`AWS4${secret}`, amzDate.slice(0, 8));
  return hmac(hmac(hmac(hmac(kDate, region), service), 'aws4_request'), sts).toString('hex');
}

// Signs a request (client side, for tests): returns the Authorization value and the pieces.
export function signRequest({ method, path = '/', query = '', headers, body = '', accessKeyId, secretAccessKey, region, service, amzDate }) {
  const signed = [...new Set(headers.map(([n]) => n.toLowerCase()))].sort();
  const creq = canonicalRequest({ method, path, query, headers, signed, payloadHash: sha256hex(body) });
  const scope = `${amzDate.slice(0, 8)}/${region}/${service}/aws4_request`;
  const sts = stringToSign(amzDate, scope, creq);
  const sig = signature(secretAccessKey, amzDate, region, service, sts);
  return { creq, sts, authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${sig}` };
}

function amzDateToMs(d) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(d);
  if (!m) return NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

// Verifies a received request. creds: Map accessKeyId → {secretAccessKey, sessionToken?}.
// Returns { accessKeyId }; throws SigV4Error with the KMS error type.
export function verifySigV4({ method, path, query, headers, body }, { creds, region, service, now = Date.now(), maxSkewMs = 15 * 60 * 1000 }) {
  const get = (name) => {
    const v = headers.filter(([n]) => n.toLowerCase() === name).map(([, x]) => x);
    return v.length ? v.join(',') : undefined;
  };
  const auth = get('authorization');
  if (!auth) throw new SigV4Error('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(auth.trim());
  if (!m) throw new SigV4Error('IncompleteSignatureException', `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth.slice(0, 64)}`);
  const [, credential, signedList, sig] = m;
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request') throw new SigV4Error('IncompleteSignatureException', 'Credential is malformed');
  const [akid, date, credRegion, credService] = parts;
  const cred = creds.get(akid);
  if (!cred) throw new SigV4Error('UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (credService !== service) throw new SigV4Error('InvalidSignatureException', `Credential should be scoped to correct service: '${service}'.`);
  if (credRegion !== region) throw new SigV4Error('InvalidSignatureException', `Credential should be scoped to a valid region. This region is '${region}'.`);
  const amzDate = get('x-amz-date');
  if (!amzDate || Number.isNaN(amzDateToMs(amzDate))) throw new SigV4Error('IncompleteSignatureException', 'Missing or malformed X-Amz-Date');
  if (amzDate.slice(0, 8) !== date) throw new SigV4Error('InvalidSignatureException', 'Credential date does not match X-Amz-Date');
  if (maxSkewMs !== null && Math.abs(now - amzDateToMs(amzDate)) > maxSkewMs) {
    throw new SigV4Error('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier or later than the allowed window (15 min).`);
  }
  const signed = signedList.split(';');
  if (!signed.includes('host')) throw new SigV4Error('InvalidSignatureException', "'Host' must be a signed header.");
  if ([...signed].sort().join(';') !== signedList) throw new SigV4Error('InvalidSignatureException', 'SignedHeaders are not sorted');
  const token = get('x-amz-security-token');
  if ((cred.sessionToken || undefined) !== (token || undefined)) {
    throw new SigV4Error('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const bodyHash = sha256hex(body);
  const declared = get('x-amz-content-sha256');
  if (declared !== undefined && declared !== bodyHash) throw new SigV4Error('InvalidSignatureException', 'x-amz-content-sha256 does not match the body');
  const creq = canonicalRequest({ method, path, query, headers, signed, payloadHash: bodyHash });
  const sts = stringToSign(amzDate, `${date}/${region}/${service}/aws4_request`, creq);
  const want = Buffer.from(signature(cred.secretAccessKey, amzDate, region, service, sts), 'hex');
  if (!crypto.timingSafeEqual(want, Buffer.from(sig, 'hex'))) {
    const e = new SigV4Error('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
    e.canonicalRequest = creq;
    throw e;
  }
  return { accessKeyId: akid };
}

// ------------------------------------------------------------------------------------------------
// A test PKI for serving HTTPS (Node has no X.509 writer): a P-256 CA and a server certificate for
// the given DNS names, DER built by hand with the helpers above, signed ecdsa-with-SHA256.

const OID_X509 = {
  ecdsaWithSha256: '2a8648ce3d040302',
  commonName: '550403',
  basicConstraints: '551d13',
  keyUsage: '551d0f',
  extKeyUsage: '551d25',
  subjectAltName: '551d11',
  subjectKeyId: '551d0e',
  authorityKeyId: '551d23',
  serverAuth: '2b06010505070301',
};

function utcTime(ms) {
  const d = new Date(ms).toISOString(); // 2025-01-02T03:04:05.678Z
  const t = `${d.slice(2, 4)}${d.slice(5, 7)}${d.slice(8, 10)}${d.slice(11, 13)}${d.slice(14, 16)}${d.slice(17, 19)}Z`;
  return tlv(0x17, Buffer.from(t, 'ascii'));
}

const x509Name = (cn) => tlv(0x30, tlv(0x31, tlv(0x30, oid(OID_X509.commonName), tlv(0x0c, Buffer.from(cn, 'utf8')))));
const ext = (id, critical, value) => tlv(0x30, oid(id), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), tlv(0x04, value));
const keyId = (spki) => crypto.createHash('sha1').update(spki).digest();

function makeCert({ subject, issuer, spki, signKey, issuerSpki, ca, dnsNames = [], notBefore, notAfter }) {
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x01;
  const exts = [
    ext(OID_X509.basicConstraints, true, tlv(0x30, ...(ca ? [Buffer.from([0x01, 0x01, 0xff])] : []))),
    // keyUsage: CA keyCertSign|cRLSign (bits 5, 6), leaf digitalSignature (bit 0)
    ext(OID_X509.keyUsage, true, ca ? Buffer.from([0x03, 0x02, 0x01, 0x06]) : Buffer.from([0x03, 0x02, 0x07, 0x80])),
    ext(OID_X509.subjectKeyId, false, tlv(0x04, keyId(spki))),
    ext(OID_X509.authorityKeyId, false, tlv(0x30, tlv(0x80, keyId(issuerSpki)))),
  ];
  if (!ca) {
    exts.push(ext(OID_X509.extKeyUsage, false, tlv(0x30, oid(OID_X509.serverAuth))));
    exts.push(ext(OID_X509.subjectAltName, false, tlv(0x30, ...dnsNames.map((n) => tlv(0x82, Buffer.from(n, 'ascii'))))));
  }
  const sigAlg = tlv(0x30, oid(OID_X509.ecdsaWithSha256));
  const tbs = tlv(0x30, tlv(0xa0, tlv(0x02, Buffer.from([2]))), tlv(0x02, serial), sigAlg, x509Name(issuer),
    tlv(0x30, utcTime(notBefore), utcTime(notAfter)), x509Name(subject), spki, tlv(0xa3, tlv(0x30, ...exts)));
  const sig = crypto.sign('sha256', tbs, signKey);
  return tlv(0x30, tbs, sigAlg, tlv(0x03, Buffer.from([0]), sig));
}

const pem = (label, der) => `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END ${label}-----\n`;

// Returns { caPem, cert, key } (PEM strings): a CA valid for a day and a leaf for dnsNames signed by it.
export function makeTestTls(dnsNames, { now = Date.now() } = {}) {
  const ca = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const leafSpki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  const window = { notBefore: now - 3600e3, notAfter: now + 24 * 3600e3 };
  const caDer = makeCert({ subject: 'vigil KMS stand-in test CA', issuer: 'vigil KMS stand-in test CA', spki: caSpki,
    issuerSpki: caSpki, signKey: ca.privateKey, ca: true, ...window });
  const leafDer = makeCert({ subject: dnsNames[0], issuer: 'vigil KMS stand-in test CA', spki: leafSpki,
    issuerSpki: caSpki, signKey: ca.privateKey, ca: false, dnsNames, ...window });
  return { caPem: pem('CERTIFICATE', caDer), cert: pem('CERTIFICATE', leafDer),
    key: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) };
}

// ------------------------------------------------------------------------------------------------
// The KMS stand-in.

export class KmsError extends Error {
  constructor(type, message, status = 400) { super(message); this.type = type; this.status = status; }
}

const BLOB_MAGIC = Buffer.from('VKB1');
const RECIPIENT_ALG = 'RSAES_OAEP_SHA_256';

function b64field(body, name, { required = true, max = Infinity, min = 1 } = {}) {
  const v = body[name];
  if (v === undefined || v === null) {
    if (required) throw new KmsError('ValidationException', `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`);
    return null;
  }
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new KmsError('SerializationException', `${name} is not base64`);
  const b = Buffer.from(v, 'base64');
  if (b.length < min || b.length > max) {
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${name}' failed to satisfy constraint: Member must have length between ${min} and ${max}`);
  }
  return b;
}

function contextAad(ctx) {
  if (ctx === undefined || ctx === null) return Buffer.alloc(0);
  if (typeof ctx !== 'object' || Array.isArray(ctx) || Object.values(ctx).some((v) => typeof v !== 'string')) {
    throw new KmsError('ValidationException', 'EncryptionContext must map strings to strings');
  }
  return Buffer.from(JSON.stringify(Object.keys(ctx).sort().map((k) => [k, ctx[k]])));
}

export class KmsStandIn {
  // opts: credentials [{accessKeyId, secretAccessKey, sessionToken?}], region, accountId, keys [...],
  // rootDer | rootPem (attestation trust anchor), now () => ms, maxSkewMs, cmsChunk.
  constructor(opts = {}) {
    this.region = opts.region || 'us-east-1';
    this.accountId = opts.accountId || '111122223333';
    this.creds = new Map((opts.credentials || []).map((c) => [c.accessKeyId, c]));
    this.now = opts.now || (() => Date.now());
    this.maxSkewMs = opts.maxSkewMs === undefined ? 15 * 60 * 1000 : opts.maxSkewMs;
    this.cmsChunk = opts.cmsChunk || 0;
    this.rootDer = opts.rootDer ? Buffer.from(opts.rootDer)
      : opts.rootPem ? Buffer.from(new crypto.X509Certificate(opts.rootPem).raw) : null;
    this.keys = new Map();
    this.calls = []; // {target, ok, error?} for tests
    for (const k of opts.keys || []) this.addKey(k);
    this.server = null;
  }

  addKey({ id = crypto.randomUUID(), alias, material, policy = {} }) {
    const key = {
      id,
      arn: `arn:aws:kms:${this.region}:${this.accountId}:key/${id}`,
      alias: alias ? (alias.startsWith('alias/') ? alias : `alias/${alias}`) : null,
      material: material ? Buffer.from(material) : crypto.randomBytes(32),
      policy: {
        requireRecipientFor: new Set(policy.requireRecipientFor || []),
        pcrs: Object.fromEntries(Object.entries(policy.pcrs || {}).map(([i, l]) => [i, [].concat(l).map((x) => x.toLowerCase())])),
      },
    };
    this.keys.set(id, key);
    return key;
  }

  findKey(ref) {
    if (typeof ref !== 'string' || ref === '') throw new KmsError('ValidationException', 'KeyId must be a non-empty string');
    for (const k of this.keys.values()) {
      if (ref === k.id || ref === k.arn) return k;
      if (k.alias && (ref === k.alias || ref === `arn:aws:kms:${this.region}:${this.accountId}:${k.alias}`)) return k;
    }
    throw new KmsError('NotFoundException', `Key '${ref}' does not exist`);
  }

  // ---- blobs ----
  seal(key, plaintext, ctx) {
    const id = Buffer.from(key.id, 'utf8');
    const header = Buffer.concat([BLOB_MAGIC, Buffer.from([id.length]), id]);
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', key.material, iv);
    c.setAAD(Buffer.concat([header, contextAad(ctx)]));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([header, iv, c.getAuthTag(), ct]);
  }

  blobKey(blob) {
    const bad = () => new KmsError('InvalidCiphertextException', 'The ciphertext is invalid or was not produced by this KMS.');
    if (blob.length < 5 || !blob.subarray(0, 4).equals(BLOB_MAGIC)) throw bad();
    const n = blob[4];
    if (blob.length < 5 + n + 28) throw bad();
    const id = blob.subarray(5, 5 + n).toString('utf8');
    const key = this.keys.get(id);
    if (!key) throw bad();
    return key;
  }

  unseal(key, blob, ctx) {
    const n = blob[4];
    const header = blob.subarray(0, 5 + n);
    const iv = blob.subarray(5 + n, 17 + n);
    const tag = blob.subarray(17 + n, 33 + n);
    try {
      const d = crypto.createDecipheriv('aes-256-gcm', key.material, iv);
      d.setAAD(Buffer.concat([header, contextAad(ctx)]));
      d.setAuthTag(tag);
      return Buffer.concat([d.update(blob.subarray(33 + n)), d.final()]);
    } catch (e) {
      if (e instanceof KmsError) throw e;
      throw new KmsError('InvalidCiphertextException', 'The ciphertext is invalid or was not produced by this KMS.');
    }
  }

  // ---- recipients ----
  // Verifies body.Recipient (if any) and the key's policy for `action`; returns the recipient SPKI or null.
  authorizeRecipient(body, action, key) {
    const r = body.Recipient;
    const needed = key ? key.policy.requireRecipientFor.has(action) : false;
    if (r === undefined || r === null) {
      if (needed) {
        throw new KmsError('AccessDeniedException', `User is not authorized to perform: kms:${action} on resource: ${key.arn} because the key policy requires kms:RecipientAttestation conditions`);
      }
      return null;
    }
    if (typeof r !== 'object') throw new KmsError('ValidationException', 'Recipient must be an object');
    if (r.KeyEncryptionAlgorithm !== RECIPIENT_ALG) {
      throw new KmsError('ValidationException', `1 validation error detected: Value '${r.KeyEncryptionAlgorithm}' at 'recipient.keyEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [${RECIPIENT_ALG}]`);
    }
    const doc = b64field(r, 'AttestationDocument', { max: 262144 });
    if (!this.rootDer) throw new KmsError('KMSInternalException', 'no attestation root configured', 500);
    let att;
    try {
      att = verifyAttestation(doc, { rootDer: this.rootDer, now: this.now() });
    } catch (e) {
      if (!(e instanceof AttestationError)) throw e;
      if (e.kind === 'malformed') throw new KmsError('ValidationException', `Invalid attestation document: ${e.message}`);
      throw new KmsError('AccessDeniedException', `The attestation document is not valid: ${e.message}`);
    }
    if (key) {
      for (const [idx, allowed] of Object.entries(key.policy.pcrs)) {
        const v = att.pcrs.get(Number(idx));
        if (!v || !allowed.includes(v.toString('hex'))) {
          throw new KmsError('AccessDeniedException', `User is not authorized to perform: kms:${action} on resource: ${key.arn} (kms:RecipientAttestation:PCR${idx} condition not met)`);
        }
      }
    }
    if (!att.publicKey) throw new KmsError('ValidationException', 'The attestation document carries no public_key');
    let pub;
    try { pub = crypto.createPublicKey({ key: att.publicKey, format: 'der', type: 'spki' }); } catch {
      throw new KmsError('ValidationException', 'The attestation document public_key is not a DER SubjectPublicKeyInfo');
    }
    const bits = pub.asymmetricKeyDetails?.modulusLength;
    if (pub.asymmetricKeyType !== 'rsa' || ![2048, 3072, 4096].includes(bits)) {
      throw new KmsError('ValidationException', 'The recipient public key must be RSA 2048, 3072 or 4096');
    }
    return att.publicKey;
  }

  envelope(plaintext, spki) { return cmsEnvelope(plaintext, spki, { chunk: this.cmsChunk }).toString('base64'); }

  // ---- operations ----
  op(target, body) {
    switch (target) {
      case 'TrentService.Encrypt': {
        const key = this.findKey(body.KeyId);
        const pt = b64field(body, 'Plaintext', { max: 4096 });
        if (body.EncryptionAlgorithm !== undefined && body.EncryptionAlgorithm !== 'SYMMETRIC_DEFAULT') {
          throw new KmsError('ValidationException', 'EncryptionAlgorithm must be SYMMETRIC_DEFAULT for this key');
        }
        return { CiphertextBlob: this.seal(key, pt, body.EncryptionContext).toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'TrentService.Decrypt': {
        const blob = b64field(body, 'CiphertextBlob', { max: 6144 });
        const key = this.blobKey(blob);
        if (body.KeyId !== undefined && this.findKey(body.KeyId) !== key) {
          throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext.');
        }
        const spki = this.authorizeRecipient(body, 'Decrypt', key);
        const pt = this.unseal(key, blob, body.EncryptionContext);
        const out = { KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
        if (spki) out.CiphertextForRecipient = this.envelope(pt, spki); else out.Plaintext = pt.toString('base64');
        return out;
      }
      case 'TrentService.GenerateDataKey': {
        const key = this.findKey(body.KeyId);
        let n;
        if (body.KeySpec !== undefined && body.NumberOfBytes !== undefined) throw new KmsError('ValidationException', 'KeySpec and NumberOfBytes are exclusive');
        if (body.KeySpec === 'AES_256') n = 32;
        else if (body.KeySpec === 'AES_128') n = 16;
        else if (Number.isInteger(body.NumberOfBytes) && body.NumberOfBytes >= 1 && body.NumberOfBytes <= 1024) n = body.NumberOfBytes;
        else throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.');
        const spki = this.authorizeRecipient(body, 'GenerateDataKey', key);
        const dk = crypto.randomBytes(n);
        const out = { CiphertextBlob: this.seal(key, dk, body.EncryptionContext).toString('base64'), KeyId: key.arn };
        if (spki) out.CiphertextForRecipient = this.envelope(dk, spki); else out.Plaintext = dk.toString('base64');
        return out;
      }
      case 'TrentService.GenerateRandom': {
        const n = body.NumberOfBytes;
        if (!Number.isInteger(n) || n < 1 || n > 1024) throw new KmsError('ValidationException', 'NumberOfBytes must be between 1 and 1024');
        const spki = this.authorizeRecipient(body, 'GenerateRandom', null);
        const rnd = crypto.randomBytes(n);
        return spki ? { CiphertextForRecipient: this.envelope(rnd, spki) } : { Plaintext: rnd.toString('base64') };
      }
      default:
        throw new KmsError('UnknownOperationException', '');
    }
  }

  handle(req, res) {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= 1 << 20) chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      const target = req.headers['x-amz-target'] || '';
      let status = 200;
      let out;
      try {
        if (size > 1 << 20) throw new KmsError('ValidationException', 'request body too large', 413);
        const q = req.url.indexOf('?');
        verifySigV4({ method: req.method, path: q < 0 ? req.url : req.url.slice(0, q), query: q < 0 ? '' : req.url.slice(q + 1), headers, body },
          { creds: this.creds, region: this.region, service: 'kms', now: this.now(), maxSkewMs: this.maxSkewMs });
        if (req.method !== 'POST' || !(req.headers['content-type'] || '').startsWith('application/x-amz-json-1.1')) {
          throw new KmsError('UnknownOperationException', '');
        }
        let json;
        try { json = JSON.parse(body.toString('utf8')); } catch { throw new KmsError('SerializationException', 'Start of structure or map found where not expected.'); }
        if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new KmsError('SerializationException', 'body is not a JSON object');
        out = this.op(target, json);
        this.calls.push({ target, ok: true, recipient: json.Recipient !== undefined && json.Recipient !== null });
      } catch (e) {
        const type = e instanceof SigV4Error ? e.type : e instanceof KmsError ? e.type : 'KMSInternalException';
        status = e instanceof KmsError ? e.status : e instanceof SigV4Error ? 400 : 500;
        out = { __type: type, message: e instanceof SigV4Error || e instanceof KmsError ? e.message : 'internal error' };
        this.calls.push({ target, ok: false, error: type });
        if (!(e instanceof SigV4Error || e instanceof KmsError)) console.error('kms stand-in:', e);
      }
      const text = JSON.stringify(out);
      res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(text),
        'x-amzn-RequestId': crypto.randomUUID() });
      res.end(text);
    });
  }

  // tls: { key, cert } (PEM, e.g. from makeTestTls) serves HTTPS instead of HTTP.
  listen(port = 0, host = '127.0.0.1', { tls } = {}) {
    return new Promise((resolve, reject) => {
      const handler = (req, res) => this.handle(req, res);
      this.server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
      this.server.on('error', reject);
      this.server.listen(port, host, () => {
        const a = this.server.address();
        this.url = `${tls ? 'https' : 'http'}://${host}:${a.port}`;
        resolve(this.url);
      });
    });
  }

  close() {
    return new Promise((resolve) => { if (!this.server) resolve(); else this.server.close(() => resolve()); });
  }
}

// A SigV4-signed KMS call (client side, for tests and tools). Returns {status, json, text}.
export async function kmsCall(url, target, body, { accessKeyId, secretAccessKey, sessionToken, region = 'us-east-1',
  amzDate, tamper } = {}) {
  const text = JSON.stringify(body);
  const host = new URL(url).host;
  const date = amzDate || new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const headers = [['Content-Type', 'application/x-amz-json-1.1'], ['Host', host], ['X-Amz-Date', date],
    ['X-Amz-Target', `TrentService.${target}`]];
  if (sessionToken) headers.push(['X-Amz-Security-Token', sessionToken]);
  const { authorization } = signRequest({ method: 'POST', headers, body: text, accessKeyId, secretAccessKey, region, service: 'kms', amzDate: date });
  const send = Object.fromEntries(headers.filter(([n]) => n !== 'Host'));
  send.Authorization = tamper ? tamper(authorization) : authorization;
  const r = await fetch(url, { method: 'POST', headers: send, body: text });
  const rt = await r.text();
  let json = null;
  try { json = JSON.parse(rt); } catch { /* not JSON */ }
  return { status: r.status, json, text: rt, contentType: r.headers.get('content-type') };
}

// ------------------------------------------------------------------------------------------------
// Command line.

async function main(argv) {
  const opts = { port: 8000, region: process.env.AWS_REGION || 'us-east-1', pcr0: null, attestation: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    if (a === '--root') opts.root = v();
    else if (a === '--port') opts.port = Number(v());
    else if (a === '--region') opts.region = v();
    else if (a === '--state') opts.state = v();
    else if (a === '--key-id') opts.keyId = v();
    else if (a === '--pcr0') opts.pcr0 = v().split(',');
    else if (a === '--no-attestation') opts.attestation = false;
    else if (a === '--tls-ca-out') opts.tlsCaOut = v();
    else if (a === '--tls-host') opts.tlsHost = v();
    else throw new Error(`unknown option ${a}`);
  }
  const akid = process.env.AWS_ACCESS_KEY_ID;
  const secret = process.env.AWS_SECRET_ACCESS_KEY;
  if (!akid || !secret) throw new Error('set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the credentials clients must sign with)');
  // key material survives restarts through --state (0600)
  let state = { keys: [] };
  if (opts.state && fs.existsSync(opts.state)) state = JSON.parse(fs.readFileSync(opts.state, 'utf8'));
  let entry = state.keys.find((k) => !opts.keyId || k.id === opts.keyId);
  if (!entry) {
    entry = { id: opts.keyId || crypto.randomUUID(), material: crypto.randomBytes(32).toString('hex') };
    state.keys.push(entry);
    if (opts.state) fs.writeFileSync(opts.state, JSON.stringify(state, null, 2), { mode: 0o600 });
  }
  const kms = new KmsStandIn({
    region: opts.region,
    credentials: [{ accessKeyId: akid, secretAccessKey: secret, sessionToken: process.env.AWS_SESSION_TOKEN }],
    rootPem: opts.root ? fs.readFileSync(opts.root) : undefined,
    keys: [{ id: entry.id, material: Buffer.from(entry.material, 'hex'), policy: opts.attestation
      ? { requireRecipientFor: ['Decrypt'], pcrs: opts.pcr0 ? { 0: opts.pcr0 } : {} } : {} }],
  });
  let tls;
  if (opts.tlsCaOut) {
    tls = makeTestTls([opts.tlsHost || `kms.${opts.region}.amazonaws.com`]);
    fs.writeFileSync(opts.tlsCaOut, tls.caPem);
  }
  const url = await kms.listen(opts.port, '127.0.0.1', { tls });
  console.log(JSON.stringify({ url, keyId: entry.id, keyArn: kms.keys.get(entry.id).arn }));
  const stop = () => kms.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  main(process.argv.slice(2)).catch((e) => { console.error(`kms_standin: ${e.message}`); process.exit(2); });
}
