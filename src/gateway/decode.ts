import {
  DEFAULT_MAX_TELEGRAM_BYTES,
  type FrameEvent,
  ParseMemory,
  parseTelegram,
  type Telegram,
  TelegramFramer,
} from "../dsmr/index.ts";
import { P1Error } from "../shared/index.ts";
import {
  type CipherKeys,
  type CounterStatus,
  decryptFrame,
  FrameCounterTracker,
  parseEncryptedFrame,
} from "../smarty/index.ts";
import { nativeGcm } from "./native-gcm.ts";

/** Keys and limits for decoding a byte stream. */
export interface DecoderOptions {
  /** AES-128 decryption key (16 bytes) for encrypted meters. */
  readonly decryptionKey?: Uint8Array;
  /** Authentication key (16 bytes); Smarty's published default when absent. */
  readonly authenticationKey?: Uint8Array;
  readonly maxTelegramBytes?: number;
}

/** Encryption facts of a telegram that arrived encrypted. */
export interface EncryptionInfo {
  readonly systemTitle: string;
  readonly frameCounter: number;
  readonly counter: CounterStatus;
}

/** One decoded unit of the stream: a telegram with its raw bytes, or why a unit was dropped. */
export type Decoded =
  | {
      readonly ok: true;
      readonly telegram: Telegram;
      readonly raw: Buffer;
      readonly encryption: EncryptionInfo | null;
      /** The decrypted telegram of an encrypted frame (for diagnostics). */
      readonly plaintext?: Buffer;
    }
  | {
      readonly ok: false;
      readonly error: P1Error;
      readonly raw: Buffer | null;
      /** The decrypted telegram, when decryption succeeded and parsing failed. */
      readonly plaintext?: Buffer;
    };

/**
 * Bytes in, telegrams out: framer, then decryption for 0xDB frames, then the parser. Pure and
 * synchronous, so the same code serves the CLI, the gateway pipeline, the fuzzer and the benchmark.
 */
export class TelegramDecoder {
  readonly #framer: TelegramFramer;
  /** The keys decryptFrame takes, made once (undefined: no decryption key configured). */
  readonly #keys: CipherKeys | undefined;
  readonly #counters = new FrameCounterTracker();
  /** This stream's parse hints: one meter's telegrams repeat each other, another meter's do not. */
  readonly #memory = new ParseMemory();
  /** The last system title seen and its hex: a stream's frames come from one meter. */
  #title: Buffer | undefined;
  #titleHex = "";

  constructor(options: DecoderOptions = {}) {
    const key = options.decryptionKey;
    const authenticationKey = options.authenticationKey;
    this.#keys = key ? (authenticationKey ? { key, authenticationKey } : { key }) : undefined;
    this.#framer = new TelegramFramer({
      maxTelegramBytes: options.maxTelegramBytes ?? DEFAULT_MAX_TELEGRAM_BYTES,
    });
  }

  /** Bytes skipped as noise between frames. */
  get skippedBytes(): number {
    return this.#framer.skippedBytes;
  }

  /** Whether a partial frame is buffered. */
  get isPending(): boolean {
    return this.#framer.isPending;
  }

  /** Decodes what one chunk completes. */
  push(chunk: Uint8Array): Decoded[] {
    return this.#framer.push(chunk).map((ev) => this.#decodeEvent(ev));
  }

  /** End of stream (or a long silence): completes or drops what is buffered. */
  flush(): Decoded[] {
    return this.#framer.flush().map((ev) => this.#decodeEvent(ev));
  }

  /** A system title in upper-case hex, remembered for the next frame (a copy: the frame is the caller's). */
  #hexOf(systemTitle: Buffer): string {
    const last = this.#title;
    if (last === undefined || !last.equals(systemTitle)) {
      this.#title = Buffer.from(systemTitle);
      this.#titleHex = systemTitle.toString("hex").toUpperCase();
    }
    return this.#titleHex;
  }

  #decodeEvent(ev: FrameEvent): Decoded {
    return ev.ok ? this.#decode(ev.frame.kind, ev.frame.bytes) : { ok: false, error: ev.error, raw: null };
  }

  #decode(kind: "telegram" | "encrypted", raw: Buffer): Decoded {
    if (kind === "telegram") {
      const parsed = parseTelegram(raw, this.#memory);
      return parsed.ok
        ? { ok: true, telegram: parsed.telegram, raw, encryption: null }
        : { ok: false, error: parsed.error, raw };
    }
    const frame = parseEncryptedFrame(raw);
    if (!frame.ok) return { ok: false, error: frame.error, raw };
    const keys = this.#keys;
    if (!keys) {
      return {
        ok: false,
        error: new P1Error("DECRYPT_FAILED", "encrypted frame received but no decryption key is configured"),
        raw,
      };
    }
    const plain = decryptFrame(frame.frame, keys, nativeGcm());
    if (!plain.ok) return { ok: false, error: plain.error, raw };
    const parsed = parseTelegram(plain.plaintext, this.#memory);
    if (!parsed.ok) return { ok: false, error: parsed.error, raw, plaintext: plain.plaintext };
    const { systemTitle, frameCounter } = frame.frame;
    const titleHex = this.#hexOf(systemTitle);
    const encryption = {
      systemTitle: titleHex,
      frameCounter,
      counter: this.#counters.observeId(titleHex, frameCounter),
    };
    return { ok: true, telegram: parsed.telegram, raw, encryption, plaintext: plain.plaintext };
  }
}
