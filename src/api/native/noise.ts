import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { P1Error } from "../../shared/index.ts";
import type { FeedResult, FrameCodec, RawMessage } from "./frame.ts";

// The Noise framework (noiseprotocol.org/noise.html, rev 34) for the one pattern ESPHome uses,
// responder side only. Primitives come from node:crypto; the handshake state machine is ours.

/** The Noise protocol of the ESPHome API (§1.2); also the mDNS `api_encryption` TXT value. */
export const NOISE_PROTOCOL = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";
/** Every Noise frame starts with this byte (§1.2). */
export const NOISE_INDICATOR = 0x01;
/** The PSK is exactly 32 bytes (the base64 key decodes to it, §1.2). */
export const NOISE_PSK_BYTES = 32;
/** Firmware limits handshake frames to 128 bytes ("Bad handshake packet len", §1.2). */
export const MAX_HANDSHAKE_FRAME_BYTES = 128;
/** The 2-byte size field caps a frame body at 65 535 bytes (§1.2). */
export const MAX_NOISE_FRAME_BYTES = 65_535;
// Prologue = "NoiseAPIInit" + BE16 length of the client hello body + that body (§1.2).
const PROLOGUE_PREFIX = Buffer.from("NoiseAPIInit", "ascii");
// Server hello: chosen protocol 0x01, then name NUL, MAC NUL (§1.2 step 3).
const CHOSEN_PROTOCOL = 0x01;
// First byte of a handshake message body: 0x00 = Noise message follows, 0x01 = rejection text (§1.2).
const HANDSHAKE_OK = 0x00;
const HANDSHAKE_REJECT = 0x01;
const DH_LEN = 32;
const TAG_LEN = 16;
// Data plaintext header: BE16 type + BE16 length (§1.2).
const DATA_HEADER_BYTES = 4;

/** ChaCha20-Poly1305 with Noise's nonce: 4 zero bytes, then the 64-bit counter little-endian. */
class CipherState {
  readonly #key: Buffer;
  #n = 0n;

  constructor(key: Buffer) {
    this.#key = key;
  }

  #nonce(): Buffer {
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64LE(this.#n, 4);
    this.#n++;
    return nonce;
  }

  encrypt(ad: Uint8Array, plaintext: Uint8Array): Buffer {
    const cipher = createCipheriv("chacha20-poly1305", this.#key, this.#nonce(), { authTagLength: TAG_LEN });
    cipher.setAAD(ad, { plaintextLength: plaintext.length });
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  /** Throws on a bad tag (node:crypto's "Unsupported state or unable to authenticate data"). */
  decrypt(ad: Uint8Array, ciphertext: Uint8Array): Buffer {
    if (ciphertext.length < TAG_LEN) throw new Error("ciphertext shorter than its tag");
    const body = ciphertext.subarray(0, ciphertext.length - TAG_LEN);
    const decipher = createDecipheriv("chacha20-poly1305", this.#key, this.#nonce(), {
      authTagLength: TAG_LEN,
    });
    decipher.setAAD(ad, { plaintextLength: body.length });
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LEN));
    return Buffer.concat([decipher.update(body), decipher.final()]);
  }
}

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash("sha256");
  for (const p of parts) hash.update(p);
  return hash.digest();
}

/** Noise's HKDF(ck, ikm, n) is RFC 5869 HKDF-SHA256 with salt = ck and empty info. */
function hkdf(ck: Buffer, ikm: Uint8Array, outputs: 2 | 3): Buffer[] {
  const out = Buffer.from(hkdfSync("sha256", ikm, ck, Buffer.alloc(0), 32 * outputs));
  return Array.from({ length: outputs }, (_, i) => out.subarray(32 * i, 32 * (i + 1)));
}

/** Noise SymmetricState (§5.2) with SHA-256 and ChaChaPoly. */
class SymmetricState {
  #ck: Buffer;
  #h: Buffer;
  #cipher: CipherState | null = null;

  constructor(protocolName: string) {
    const name = Buffer.from(protocolName, "ascii");
    // Names longer than HASHLEN are hashed, shorter ones zero-padded.
    this.#h = name.length <= 32 ? Buffer.concat([name, Buffer.alloc(32 - name.length)]) : sha256(name);
    this.#ck = this.#h;
  }

  mixHash(data: Uint8Array): void {
    this.#h = sha256(this.#h, data);
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.#ck, ikm, 2) as [Buffer, Buffer];
    this.#ck = ck;
    this.#cipher = new CipherState(k);
  }

  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, h, k] = hkdf(this.#ck, ikm, 3) as [Buffer, Buffer, Buffer];
    this.#ck = ck;
    this.mixHash(h);
    this.#cipher = new CipherState(k);
  }

  encryptAndHash(plaintext: Uint8Array): Buffer {
    const out = this.#cipher === null ? Buffer.from(plaintext) : this.#cipher.encrypt(this.#h, plaintext);
    this.mixHash(out);
    return out;
  }

  decryptAndHash(ciphertext: Uint8Array): Buffer {
    const out = this.#cipher === null ? Buffer.from(ciphertext) : this.#cipher.decrypt(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return out;
  }

  /** The two transport ciphers: initiator → responder, responder → initiator. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.#ck, Buffer.alloc(0), 2) as [Buffer, Buffer];
    return [new CipherState(k1), new CipherState(k2)];
  }
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  return Buffer.from(jwk.x ?? "", "base64url");
}

function x25519(privateKey: KeyObject, peerPublic: Uint8Array): Buffer {
  const publicKey = createPublicKey({
    key: { kty: "OKP", crv: "X25519", x: Buffer.from(peerPublic).toString("base64url") },
    format: "jwk",
  });
  return diffieHellman({ privateKey, publicKey });
}

/** A Noise frame: indicator, BE16 size, body. */
export function encodeNoiseFrame(body: Uint8Array): Buffer {
  if (body.length > MAX_NOISE_FRAME_BYTES) {
    throw new P1Error(
      "TOO_LARGE",
      `Noise frame body of ${body.length} bytes, the cap is ${MAX_NOISE_FRAME_BYTES}`,
    );
  }
  const header = Buffer.from([NOISE_INDICATOR, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([header, body]);
}

/** The explicit handshake rejection (§1.2 step 4′): 0x01 + ASCII reason, as one Noise frame. */
export function noiseRejection(reason: string): Buffer {
  return encodeNoiseFrame(Buffer.concat([Buffer.from([HANDSHAKE_REJECT]), Buffer.from(reason, "ascii")]));
}

/** Identity the device announces in the server hello. */
export interface NoiseIdentity {
  /** Device hostname (HelloResponse.name). */
  readonly name: string;
  /** MAC in any common notation; sent as 12 lowercase hex digits. */
  readonly mac: string;
}

type Phase = "hello" | "handshake" | "ready" | "failed";

/**
 * Noise_NNpsk0 responder and Noise framing for one connection (§1.2): client hello → server hello,
 * message 1 (psk, e) → message 2 (e, ee), then encrypted data frames. Buffers at most one frame.
 */
export class NoiseCodec implements FrameCodec {
  readonly #psk: Buffer;
  readonly #identity: NoiseIdentity;
  #phase: Phase = "hello";
  #pending: Buffer = Buffer.alloc(0);
  #symmetric: SymmetricState | null = null;
  #recv: CipherState | null = null;
  #send: CipherState | null = null;

  constructor(psk: Buffer, identity: NoiseIdentity) {
    if (psk.length !== NOISE_PSK_BYTES) {
      throw new P1Error("CONFIG_INVALID", `Noise PSK must be ${NOISE_PSK_BYTES} bytes, got ${psk.length}`, {
        key: "encryptionKey",
      });
    }
    this.#psk = Buffer.from(psk);
    this.#identity = identity;
  }

  get ready(): boolean {
    return this.#phase === "ready";
  }

  feed(chunk: Buffer): FeedResult {
    if (this.#phase === "failed") return this.#fail("bytes after a failure", null);
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const messages: RawMessage[] = [];
    const replies: Buffer[] = [];
    let pos = 0;
    const buf = this.#pending;
    while (pos < buf.length) {
      if (buf[pos] !== NOISE_INDICATOR) {
        const got = `0x${buf.subarray(pos, pos + 8).toString("hex")}`;
        const reject = this.#phase === "ready" ? null : "Bad indicator byte";
        return this.#fail(`expected Noise indicator 0x01, got ${got}`, reject, replies);
      }
      if (buf.length - pos < 3) break;
      const size = ((buf[pos + 1] as number) << 8) | (buf[pos + 2] as number);
      if (this.#phase !== "ready" && size > MAX_HANDSHAKE_FRAME_BYTES) {
        return this.#fail(
          `handshake frame of ${size} bytes`,
          "Bad handshake packet len",
          replies,
          "TOO_LARGE",
        );
      }
      const end = pos + 3 + size;
      if (end > buf.length) break;
      const body = buf.subarray(pos + 3, end);
      pos = end;
      const step = this.#step(body, messages, replies);
      if (step !== null) return step;
    }
    this.#pending = pos === 0 ? buf : Buffer.from(buf.subarray(pos));
    return { ok: true, messages, replies };
  }

  encode(type: number, payload: Uint8Array): Buffer {
    if (this.#send === null) throw new Error("Noise encode before the handshake completed");
    if (payload.length > MAX_NOISE_FRAME_BYTES - DATA_HEADER_BYTES - TAG_LEN) {
      throw new P1Error("TOO_LARGE", `message ${type} of ${payload.length} bytes does not fit a Noise frame`);
    }
    const header = Buffer.from([type >> 8, type & 0xff, payload.length >> 8, payload.length & 0xff]);
    return encodeNoiseFrame(this.#send.encrypt(Buffer.alloc(0), Buffer.concat([header, payload])));
  }

  /** Handles one frame body; returns a failure result, or null to go on. */
  #step(body: Buffer, messages: RawMessage[], replies: Buffer[]): FeedResult | null {
    switch (this.#phase) {
      case "hello":
        this.#onClientHello(body);
        replies.push(this.#serverHello());
        return null;
      case "handshake":
        return this.#onHandshake(body, replies);
      case "ready":
        return this.#onData(body, messages, replies);
      case "failed":
        return this.#fail("bytes after a failure", null, replies);
    }
  }

  #onClientHello(body: Buffer): void {
    const prologue = Buffer.alloc(PROLOGUE_PREFIX.length + 2);
    PROLOGUE_PREFIX.copy(prologue);
    prologue.writeUInt16BE(body.length, PROLOGUE_PREFIX.length);
    const symmetric = new SymmetricState(NOISE_PROTOCOL);
    symmetric.mixHash(Buffer.concat([prologue, body]));
    this.#symmetric = symmetric;
    this.#phase = "handshake";
  }

  #serverHello(): Buffer {
    const mac = this.#identity.mac.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
    return encodeNoiseFrame(
      Buffer.concat([
        Buffer.from([CHOSEN_PROTOCOL]),
        Buffer.from(this.#identity.name, "utf8"),
        Buffer.from([0]),
        Buffer.from(mac, "ascii"),
        Buffer.from([0]),
      ]),
    );
  }

  #onHandshake(body: Buffer, replies: Buffer[]): FeedResult | null {
    const symmetric = this.#symmetric;
    if (symmetric === null) return this.#fail("handshake before hello", "Handshake error", replies);
    if (body.length === 0) return this.#fail("empty handshake message", "Empty handshake message", replies);
    if (body[0] !== HANDSHAKE_OK) {
      return this.#fail(
        `handshake error byte 0x${body[0]?.toString(16)}`,
        "Bad handshake error byte",
        replies,
      );
    }
    const message = body.subarray(1);
    if (message.length !== DH_LEN + TAG_LEN) {
      return this.#fail(
        `handshake message of ${message.length} bytes, expected 48`,
        "Handshake error",
        replies,
      );
    }
    // Message 1 tokens: psk, e (psk mode: e also mixes the key), then the (empty) payload.
    symmetric.mixKeyAndHash(this.#psk);
    const re = message.subarray(0, DH_LEN);
    symmetric.mixHash(re);
    symmetric.mixKey(re);
    try {
      symmetric.decryptAndHash(message.subarray(DH_LEN));
    } catch (e) {
      return this.#fail(
        "handshake MAC failure (wrong key?)",
        "Handshake MAC failure",
        replies,
        "DECRYPT_FAILED",
        e,
      );
    }
    // Message 2 tokens: e, ee, then the empty payload.
    const ephemeral = generateKeyPairSync("x25519");
    const ePub = rawPublicKey(ephemeral.publicKey);
    symmetric.mixHash(ePub);
    symmetric.mixKey(ePub);
    let shared: Buffer;
    try {
      shared = x25519(ephemeral.privateKey, re);
    } catch (e) {
      return this.#fail(
        "client ephemeral key is not a valid X25519 point",
        "Handshake error",
        replies,
        "FRAME_INVALID",
        e,
      );
    }
    symmetric.mixKey(shared);
    const tag = symmetric.encryptAndHash(Buffer.alloc(0));
    replies.push(encodeNoiseFrame(Buffer.concat([Buffer.from([HANDSHAKE_OK]), ePub, tag])));
    [this.#recv, this.#send] = symmetric.split();
    this.#symmetric = null;
    this.#phase = "ready";
    return null;
  }

  #onData(body: Buffer, messages: RawMessage[], replies: Buffer[]): FeedResult | null {
    let plain: Buffer;
    try {
      plain = (this.#recv as CipherState).decrypt(Buffer.alloc(0), body);
    } catch (e) {
      return this.#fail("data frame failed decryption", null, replies, "DECRYPT_FAILED", e);
    }
    if (plain.length < DATA_HEADER_BYTES) {
      return this.#fail(`decrypted frame of ${plain.length} bytes, shorter than its header`, null, replies);
    }
    const type = plain.readUInt16BE(0);
    const length = plain.readUInt16BE(2);
    if (DATA_HEADER_BYTES + length > plain.length) {
      return this.#fail(
        `message ${type} claims ${length} bytes, frame holds ${plain.length - 4}`,
        null,
        replies,
      );
    }
    messages.push({ type, payload: plain.subarray(DATA_HEADER_BYTES, DATA_HEADER_BYTES + length) });
    return null;
  }

  #fail(
    message: string,
    reject: string | null,
    replies: Buffer[] = [],
    code: "FRAME_INVALID" | "TOO_LARGE" | "DECRYPT_FAILED" = "FRAME_INVALID",
    cause?: unknown,
  ): FeedResult {
    this.#phase = "failed";
    this.#pending = Buffer.alloc(0);
    this.#symmetric = null;
    if (reject !== null) replies.push(noiseRejection(reject));
    const error = new P1Error(code, message, undefined, cause === undefined ? undefined : { cause });
    return { ok: false, error, replies };
  }
}
