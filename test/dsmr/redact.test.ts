import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MASK_CHAR, maskIdentifiers, OBJECTS, parseTelegram, type Telegram } from "../../src/dsmr/index.ts";
import { TelegramDecoder } from "../../src/gateway/index.ts";
import { corpusEntries, hasCorpus, readCorpus } from "../helpers/corpus.ts";
import { fixture, fixturePath, parseOk } from "../helpers/fixtures.ts";

/** The identifier objects a telegram holds (by their role in the spec tables) and their values as written. */
function identifiers(t: Telegram): { obis: string; raw: string; text: string }[] {
  return t.objects.flatMap((o) =>
    o.def?.role === "identifier" && o.value.kind === "text"
      ? [{ obis: o.obis, raw: o.value.raw, text: o.value.value }]
      : [],
  );
}

function checkMasked(bytes: Buffer): void {
  const original = bytes.toString("latin1");
  const t = parseOk(bytes);
  const ids = identifiers(t);
  const { text, masked } = maskIdentifiers(original);
  expect(masked).toBe(ids.length);
  const before = original.split("\n");
  const after = text.split("\n");
  expect(after).toHaveLength(before.length);
  before.forEach((line, i) => {
    const out = after[i] as string;
    // Structure kept: same length, same OBIS, same parentheses; only identifier values changed.
    expect(out.length).toBe(line.length);
    const isId = ids.some((id) => line.startsWith(`${id.obis}(`));
    if (isId) expect(out).toMatch(new RegExp(`^[^(]+\\((${MASK_CHAR})*\\)\\r?$`));
    else expect(out).toBe(line);
  });
  // Lines that are not identifiers stay as written, even where an anonymised capture repeats an id there.
  const others = before.filter((line) => !ids.some((id) => line.startsWith(`${id.obis}(`))).join("\n");
  for (const id of ids) {
    // Short values (an empty slot's "0") may occur elsewhere by chance; real ids are long.
    if (id.raw.length >= 8 && !others.includes(id.raw)) expect(text).not.toContain(id.raw);
    if (id.text.length >= 6 && !others.includes(id.text)) expect(text).not.toContain(id.text);
  }
  // The CRC covered the original bytes: a masked telegram with a CRC no longer validates.
  if (masked > 0 && t.crc === "valid") {
    const r = parseTelegram(Buffer.from(text, "latin1"));
    expect(r.ok ? "ok" : r.error.code).toBe("CRC_MISMATCH");
  }
}

describe("maskIdentifiers", () => {
  it("masks exactly the objects whose role is identifier in the spec tables", () => {
    const roles = Object.values(OBJECTS).filter((d) => "role" in d && d.role === "identifier");
    // The tables name them; the masker reads the tables, so the set covers every spec's id objects.
    expect(roles.map((d) => d.obis)).toEqual(
      expect.arrayContaining(["0-0:96.1.1", "0-0:96.1.0", "0-n:96.1.0", "0-n:96.1.1", "0-0:42.0.0"]),
    );
  });

  it.each(readdirSync(fixturePath(".")).filter((f) => f.endsWith(".txt")))(
    "%s: ids masked, every other line unchanged, line lengths kept",
    (name) => checkMasked(fixture(name)),
  );

  it("masks an M-Bus id on any channel, a fifth OBIS group, CRLF and lines without identifiers", () => {
    const text = "/X\r\n\r\n0-3:96.1.0(4730)\r\n0-0:96.1.1.255(4530)\r\n1-0:1.8.1(001.000*kWh)\r\n!\r\n";
    const r = maskIdentifiers(text);
    expect(r.masked).toBe(2);
    expect(r.text).toBe(
      "/X\r\n\r\n0-3:96.1.0(XXXX)\r\n0-0:96.1.1.255(XXXX)\r\n1-0:1.8.1(001.000*kWh)\r\n!\r\n",
    );
  });
});

describe.skipIf(!hasCorpus)("maskIdentifiers on the shared corpus", () => {
  const valid = corpusEntries().filter((e) => !e.encrypted && e.crc !== "invalid" && e.group !== "other");
  // Some captures hold fragments or several telegrams: check each telegram the decoder delivers.
  it.each(valid.map((e) => e.file))("%s", (file) => {
    const decoder = new TelegramDecoder();
    const telegrams = [...decoder.push(readCorpus(file)), ...decoder.flush()].flatMap((d) =>
      d.ok ? [d.raw] : [],
    );
    expect(telegrams.length).toBeGreaterThan(0);
    for (const raw of telegrams) checkMasked(raw);
  });
});
