import { TelegramDecoder } from "../gateway/index.ts";
import type { SerialJudge, SerialVerdict } from "../transport/index.ts";

/**
 * The judge serial settings detection uses: "valid" once the bytes complete a telegram whose frame checks
 * out (CRC, or an intact encrypted frame even without its key: the line settings are right either way).
 */
export function createTelegramJudge(): SerialJudge {
  // No key: an encrypted frame then fails with DECRYPT_FAILED, which still proves the bytes arrive intact.
  const decoder = new TelegramDecoder();
  return {
    feed(chunk: Buffer): SerialVerdict {
      let verdict: SerialVerdict = "unknown";
      for (const d of decoder.push(chunk)) {
        if (d.ok || d.error.code === "DECRYPT_FAILED" || d.error.code === "REPLAYED") return "valid";
        verdict = "invalid";
      }
      return verdict;
    },
  };
}
