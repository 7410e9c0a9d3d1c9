// Deterministic Tezos test keys, forged operations and independent signature checks
// (Taquito for keys/forging, @noble/curves + @taquito/utils for verification).
import signerPkg from '@taquito/signer';
import utilsPkg from '@taquito/utils';
import forgingPkg from '@taquito/local-forging';
import { sha256 } from '@noble/hashes/sha2.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { bls12_381 } from '@noble/curves/bls12-381.js';

const { InMemorySigner } = signerPkg;
const { b58Encode, b58DecodeAndCheckPrefix, PrefixV2, verifySignature } = utilsPkg;
const { LocalForger } = forgingPkg;

export { InMemorySigner, b58Encode, b58DecodeAndCheckPrefix, PrefixV2, verifySignature };

export const BLS_SIG_DST = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';
export const BLS_AUG_DST = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_AUG_';
export const BLS_POP_DST = 'BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';

export const GENESIS_BRANCH = 'BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2';
export const MAINNET_CHAIN = 'NetXdQprcVkpaWU';
export const MAINNET_CHAIN_HEX = '7a06a770';

export const hex = (u8) => Buffer.from(u8).toString('hex');
export const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
export const blake2b256 = (msg) => blake2b(msg, { dkLen: 32 });
const utf8 = (s) => new TextEncoder().encode(s);

const SK_PREFIX = {
  tz1: PrefixV2.Ed25519Seed,
  tz2: PrefixV2.Secp256k1SecretKey,
  tz3: PrefixV2.P256SecretKey,
  tz4: PrefixV2.BLS12_381SecretKey,
};

// Secret payload for a kind from a label: sha256(label); the BLS scalar is little-endian and must
// be < r, hence byte 31 &= 0x3f (test-peers §1.7).
export function secretFromLabel(kind, label) {
  const s = sha256(utf8(label));
  if (kind === 'tz4') s[31] &= 0x3f;
  return s;
}

// Returns {kind, label, sk (b58), signer (InMemorySigner), pk, pkh}.
export async function makeKey(kind, label = `peers-${kind}`) {
  const sk = b58Encode(secretFromLabel(kind, label), SK_PREFIX[kind]);
  const signer = new InMemorySigner(sk);
  return { kind, label, sk, signer, pk: await signer.publicKey(), pkh: await signer.publicKeyHash() };
}

export function kindOfPkh(pkh) { return pkh.slice(0, 3); }

// ---------------------------------------------------------------------------------------------
// Forging

const forger = new LocalForger();

export function valueHash(label) { return b58Encode(blake2b256(utf8(label)), PrefixV2.ValueHash); }

export async function forgeRevealTransaction(key, counter = 1, amount = '1000000') {
  const dest = 'tz2Gg9ekXbptZxnbYd6uboG5h7htZukYn1AX';
  return forger.forge({
    branch: GENESIS_BRANCH,
    contents: [
      { kind: 'reveal', source: key.pkh, fee: '1257', counter: String(counter), gas_limit: '1000',
        storage_limit: '0', public_key: key.pk },
      { kind: 'transaction', source: key.pkh, fee: '1000', counter: String(counter + 1), gas_limit: '1527',
        storage_limit: '257', amount, destination: dest },
    ],
  });
}

export async function forgeTransaction(key, counter = 1, amount = '1000') {
  return forger.forge({
    branch: GENESIS_BRANCH,
    contents: [{ kind: 'transaction', source: key.pkh, fee: '1000', counter: String(counter), gas_limit: '1527',
      storage_limit: '257', amount, destination: 'tz1Xp4rFq137NMB4vKGVkLPECTgo4YLTYGGt' }],
  });
}

export async function forgeDelegation(key, counter = 3) {
  return forger.forge({
    branch: GENESIS_BRANCH,
    contents: [{ kind: 'delegation', source: key.pkh, fee: '1000', counter: String(counter), gas_limit: '1000',
      storage_limit: '0', delegate: key.pkh }],
  });
}

export async function forgeFailingNoop(text = 'hello') {
  return forger.forge({ branch: GENESIS_BRANCH, contents: [{ kind: 'failing_noop', arbitrary: hex(utf8(text)) }] });
}

// Tag 21 attestation; payload hash derived from `payload` so different payloads give different bytes.
export async function forgeAttestation(level, round = 0, payload = 'p', slot = 0) {
  return forger.forge({
    branch: GENESIS_BRANCH,
    contents: [{ kind: 'attestation', slot, level, round, block_payload_hash: valueHash(payload) }],
  });
}

// Tag 23 attestation_with_dal.
export async function forgeAttestationWithDal(level, round = 0, payload = 'p', slot = 0, dal = '1') {
  return forger.forge({
    branch: GENESIS_BRANCH,
    contents: [{ kind: 'attestation_with_dal', slot, level, round, block_payload_hash: valueHash(payload),
      dal_attestation: dal }],
  });
}

// Tag 20 preattestation: same layout as the tag 21 attestation (LocalForger 24 lacks the kind).
export async function forgePreattestation(level, round = 0, payload = 'p', slot = 0) {
  const a = await forgeAttestation(level, round, payload, slot);
  if (a.slice(64, 66) !== '15') throw new Error(`unexpected attestation tag ${a.slice(64, 66)}`);
  return a.slice(0, 64) + '14' + a.slice(66);
}

export async function parseOp(hexBytes) { return forger.parse(hexBytes); }

export const WM_GENERIC = unhex('03');
export const wmAttestation = (chainHex = MAINNET_CHAIN_HEX) => unhex('13' + chainHex);
export const wmPreattestation = (chainHex = MAINNET_CHAIN_HEX) => unhex('12' + chainHex);

// ---------------------------------------------------------------------------------------------
// Verification

const SIG_PREFIX = {
  tz1: PrefixV2.Ed25519Signature,
  tz2: PrefixV2.Secp256k1Signature,
  tz3: PrefixV2.P256Signature,
  tz4: PrefixV2.BLS12_381Signature,
};
const SIG_TEXT = { tz1: 'edsig', tz2: 'spsig1', tz3: 'p2sig', tz4: 'BLsig' };
const PK_PREFIX = {
  tz1: PrefixV2.Ed25519PublicKey,
  tz2: PrefixV2.Secp256k1PublicKey,
  tz3: PrefixV2.P256PublicKey,
  tz4: PrefixV2.BLS12_381PublicKey,
};

export function decodeSig(kind, sig) {
  if (!sig.startsWith(SIG_TEXT[kind])) throw new Error(`signature ${sig} lacks the ${SIG_TEXT[kind]} prefix`);
  const [raw] = b58DecodeAndCheckPrefix(sig, [SIG_PREFIX[kind]]);
  return raw;
}
export function decodePk(kind, pk) {
  const [raw] = b58DecodeAndCheckPrefix(pk, [PK_PREFIX[kind]]);
  return raw;
}

const ORDER = { tz2: secp256k1.Point.CURVE().n, tz3: p256.Point.CURVE().n };

export function isLowS(kind, rawSig) {
  const s = BigInt('0x' + hex(rawSig.slice(32, 64)));
  return s >= 1n && s <= ORDER[kind] / 2n;
}

// Verifies a b58 signature of msg (Uint8Array, watermark included) with @noble/curves directly.
// tz4: version 2 = POP-ciphersuite signature of msg; version 1 = AUG signature of pk || msg.
export function nobleVerify(kind, pkB58, sigB58, msg, { version = 2 } = {}) {
  const pk = decodePk(kind, pkB58);
  const sig = decodeSig(kind, sigB58);
  switch (kind) {
    case 'tz1': return ed25519.verify(sig, blake2b256(msg), pk);
    case 'tz2': return secp256k1.verify(sig, blake2b256(msg), pk, { prehash: false, lowS: false });
    case 'tz3': return p256.verify(sig, blake2b256(msg), pk, { prehash: false, lowS: false });
    case 'tz4': {
      const ls = bls12_381.longSignatures;
      if (version === 1) {
        const m = new Uint8Array(pk.length + msg.length);
        m.set(pk); m.set(msg, pk.length);
        return ls.verify(sig, ls.hash(m, BLS_AUG_DST), pk);
      }
      return ls.verify(sig, ls.hash(msg, BLS_SIG_DST), pk);
    }
    default: throw new Error(`unknown kind ${kind}`);
  }
}

export function noblePopVerify(pkB58, sigB58) {
  const pk = decodePk('tz4', pkB58);
  const sig = decodeSig('tz4', sigB58);
  const ls = bls12_381.longSignatures;
  return ls.verify(sig, ls.hash(pk, BLS_POP_DST), pk);
}

export function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// Reference tz4 version-1 (AUG) signature computed with noble from the key's label.
export function blsAugSignature(key, msg) {
  const sk = secretFromLabel('tz4', key.label).reverse(); // BLsk payload is little-endian
  const pk = decodePk('tz4', key.pk);
  const ls = bls12_381.longSignatures;
  const sig = ls.sign(ls.hash(concat(pk, msg), BLS_AUG_DST), sk);
  return b58Encode(sig.toBytes ? sig.toBytes() : sig, PrefixV2.BLS12_381Signature);
}

const be32 = (n) => (n >>> 0).toString(16).padStart(8, '0');

// A Tenderbake block header sign request (0x11 || chain || shell || protocol data), round taken from
// the fitness (payload_round = 0). `payload` varies the payload hash.
export function forgeBlockRequest(level, round = 0, payload = 'b', chainHex = MAINNET_CHAIN_HEX) {
  const h32 = (label) => hex(blake2b256(utf8(label)));
  const fitness = '00000001' + '02' + '00000004' + be32(level) + '00000000' + '00000004' + 'ffffffff'
    + '00000004' + be32(round);
  return '11' + chainHex + be32(level) + '01' + h32('pred') + '0000000061947af5' + '04' + h32('ops')
    + be32(fitness.length / 2) + fitness + h32('ctx') + h32(`payload-${payload}`) + '00000000'
    + 'a8e1dd3c00000000' + '00' + '00';
}
