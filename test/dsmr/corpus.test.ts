import { describe, expect, it } from "vitest";
import type { VersionName } from "../../src/dsmr/index.ts";
import { type Decoded, TelegramDecoder } from "../../src/gateway/index.ts";
import { discoverMeters } from "../../src/meters/index.ts";
import { decryptFrame, parseEncryptedFrame } from "../../src/smarty/index.ts";
import { CORPUS_DIR, type CorpusEntry, corpusEntries, hasCorpus, readCorpus } from "../helpers/corpus.ts";

/** Versions the corpus label allows. Corpus labels follow 1-3:0.2.8, so "4.0" covers 4.0.4 meters. */
function allowedVersions(e: CorpusEntry): readonly (VersionName | null)[] | "any" {
  if (e.group === "other") return "any";
  const v = e.version;
  if (v.startsWith("2.2/3.0")) return ["2.2", "3.0"];
  if (v.startsWith("e-MUCS")) return ["emucs"];
  if (v.includes("Smarty")) return ["smarty"];
  if (v === "4.0") return ["4.0", "4.04"];
  return [v as VersionName];
}

/**
 * Deliberate departures from the corpus label. The NWA Warmtelink writes its CRC unpadded ("B9F" for
 * 0B9F); we compare CRC digits by value, so a real meter doing this is not silently lost.
 */
const ACCEPTED_DESPITE_LABEL: ReadonlySet<string> = new Set(["dsmr50/dsmr_parser-nwa-warmtelink-heat.txt"]);

function decodeAll(bytes: Buffer, key?: string, aad?: string): Decoded[] {
  const options: { decryptionKey?: Uint8Array; authenticationKey?: Uint8Array } = {};
  if (key) options.decryptionKey = Buffer.from(key, "hex");
  if (aad) options.authenticationKey = Buffer.from(aad, "hex");
  const d = new TelegramDecoder(options);
  return [...d.push(bytes), ...d.flush()];
}

const entries = corpusEntries();
if (!hasCorpus)
  console.log(`corpus suite skipped: ${CORPUS_DIR} not found (only CI has ../shared beside the clone)`);
const plain = entries.filter((e) => !e.encrypted);
const encrypted = entries.filter((e) => e.encrypted);

describe.skipIf(!hasCorpus)("shared telegram corpus", () => {
  it("has entries to test", () => {
    expect(plain.length).toBeGreaterThan(50);
    expect(encrypted.length).toBeGreaterThan(0);
  });

  describe.each(plain.filter((e) => e.crc !== "invalid" || ACCEPTED_DESPITE_LABEL.has(e.file)))(
    "$file",
    (e) => {
      it("parses with the right version, clean values and its meters", () => {
        const results = decodeAll(readCorpus(e.file));
        const ok = results.filter((r) => r.ok);
        expect(ok, JSON.stringify(results.map((r) => (r.ok ? "ok" : r.error.message)))).toHaveLength(1);
        const r = ok[0];
        if (!r?.ok) return;
        const t = r.telegram;
        const allowed = allowedVersions(e);
        if (allowed !== "any") expect(allowed).toContain(t.version);
        expect(t.crc).toBe(e.crc === "none" ? "absent" : "valid");
        // Every object of our own dialects is known and decodes; foreign dialects may carry unknown codes.
        if (e.group !== "other") {
          expect(t.unknown).toEqual([]);
          expect(t.warnings.filter((w) => !w.includes("CRC"))).toEqual([]);
        }
        const meters = discoverMeters(t);
        if (e.group !== "other")
          expect(meters.some((m) => m.type === "electricity" && m.channel === 0)).toBe(true);
        // A channel with a device type but a zero id and no reading is an empty slot, not a meter.
        const emptySlot = e.notes.includes("but no 24.2.1 reading");
        for (const m of e.notes.matchAll(/gas (?:on )?(?:M-Bus )?channel (\d)/gi)) {
          const gas = expect.objectContaining({ type: "gas", channel: Number(m[1]) });
          if (emptySlot) expect(meters).not.toContainEqual(gas);
          else expect(meters).toContainEqual(gas);
        }
        // Registers keep their exact digits.
        for (const o of t.objects)
          if (o.value.kind === "decimal") expect(Number(o.value.text)).toBe(o.value.value);
      });
    },
  );

  describe.each(plain.filter((e) => e.crc === "invalid" && !ACCEPTED_DESPITE_LABEL.has(e.file)))(
    "$file (invalid)",
    (e) => {
      it("is rejected with CRC_MISMATCH", () => {
        const results = decodeAll(readCorpus(e.file));
        expect(results.length).toBeGreaterThan(0);
        expect(results.every((r) => !r.ok && r.error.code === "CRC_MISMATCH")).toBe(true);
      });
      if (e.line_endings?.startsWith("LF") && e.notes.includes("after converting LF to CR LF it is valid")) {
        it("becomes valid once its line ends are CR LF again", () => {
          const crlf = Buffer.from(readCorpus(e.file).toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1");
          const ok = decodeAll(crlf).filter((r) => r.ok);
          expect(ok).toHaveLength(1);
          if (ok[0]?.ok) expect(ok[0].telegram.version).toBe("emucs");
        });
      }
    },
  );

  describe.each(encrypted)("$file (encrypted)", (e) => {
    it("decrypts with the listed keys to its plaintext, and the .hex copy holds the same bytes", () => {
      const bytes = readCorpus(e.file);
      expect(
        readCorpus(e.file.replace(/\.bin$/, ".hex"))
          .toString("latin1")
          .trim(),
      ).toBe(bytes.toString("hex").toUpperCase());
      const frame = parseEncryptedFrame(bytes);
      expect(frame.ok).toBe(true);
      if (!frame.ok || !e.key || !e.aad || !e.plaintext_file) return;
      const plain = decryptFrame(frame.frame, {
        key: Buffer.from(e.key, "hex"),
        authenticationKey: Buffer.from(e.aad, "hex"),
      });
      expect(plain.ok).toBe(true);
      if (plain.ok) expect(plain.plaintext.equals(readCorpus(e.plaintext_file))).toBe(true);
    });

    it("fails the tag with a wrong key or authentication key (DECRYPT_FAILED)", () => {
      const bytes = readCorpus(e.file);
      const wrongKey = decodeAll(bytes, "00000000000000000000000000000000", e.aad ?? undefined);
      const wrongAad = decodeAll(bytes, e.key ?? undefined, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
      for (const r of [...wrongKey, ...wrongAad])
        expect(!r.ok && r.error.code === "DECRYPT_FAILED").toBe(true);
    });

    it("goes through the decoder: the telegram's own CRC is then checked", () => {
      const results = decodeAll(readCorpus(e.file), e.key ?? undefined, e.aad ?? undefined);
      const plainEntry = entries.find((p) => p.file === e.plaintext_file);
      expect(results).toHaveLength(1);
      if (plainEntry?.crc === "invalid")
        expect(!results[0]?.ok && results[0]?.error.code === "CRC_MISMATCH").toBe(true);
      else expect(results[0]?.ok).toBe(true);
    });
  });
});
