import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayConfig, loadConfig, redactConfig } from "../../src/config/index.ts";
import { configError } from "../helpers/config.ts";
import { hasOpenssl, makeTestPki, type TestPki } from "../helpers/tls.ts";

const KEY_HEX = "0123456789ABCDEFFEDCBA9876543210";
const TOKEN = "tok-5a7c9e1b3d5f7a9c1e3b5d7f";

const TMP = mkdtempSync(join(tmpdir(), "p1-config-sec-"));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let n = 0;

/** Writes `text` as a file of a fresh directory with `mode`; returns its path. */
function tempFile(text: string, mode = 0o600, name = "p1.yaml"): string {
  const dir = join(TMP, `d${++n}`);
  mkdirSync(dir);
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function load(path: string | undefined, overrides = {}): { config: GatewayConfig; warnings: string[] } {
  const warnings: string[] = [];
  const config = loadConfig(path, overrides, { onWarning: (w) => warnings.push(w) });
  return { config, warnings };
}

describe("grpcToken and grpcTokenFile", () => {
  it("reads the token from the file, the file's or the command line's; a flag replaces the file's", () => {
    expect(load(tempFile(`grpcToken: ${TOKEN}\n`)).config.grpcToken?.toString()).toBe(TOKEN);
    const dir = tempFile(`grpcTokenFile: token.txt\n`);
    writeFileSync(join(dir, "../token.txt"), `${TOKEN}\n`, { mode: 0o600 });
    const fromFile = load(dir).config;
    expect(fromFile.grpcToken?.toString()).toBe(TOKEN);
    expect(fromFile.grpcTokenFile).toBe(join(dir, "../token.txt"));
    expect(load(dir, { grpcToken: `${TOKEN}-flag` }).config.grpcToken?.toString()).toBe(`${TOKEN}-flag`);
    expect(load(undefined, {}).config.grpcToken).toBeUndefined();
    expect(redactConfig(fromFile).grpcToken).toBe("***");
  });

  it.each([
    ["too short", { grpcToken: "short" }, "grpcToken"],
    ["with a space", { grpcToken: "abcdefgh ijklmnopq" }, "grpcToken"],
    ["a missing file", { grpcTokenFile: "/nonexistent/token" }, "grpcTokenFile"],
  ])("rejects a token %s, naming the key, never the value", (_, overrides, key) => {
    const e = configError(() => load(undefined, overrides));
    expect(e.message).toContain(`${key}:`);
    expect(e.message).not.toContain("abcdefgh");
  });

  it("rejects both keys at once, and a token file holding no valid token (without quoting it)", () => {
    const path = tempFile(`grpcToken: ${TOKEN}\ngrpcTokenFile: t\n`);
    expect(configError(() => load(path)).message).toContain("grpcTokenFile: give grpcToken or grpcTokenFile");
    const bad = tempFile("Zq9secret Zq9secret\n", 0o600, "token");
    const e = configError(() => load(undefined, { grpcTokenFile: bad }));
    expect(e.message).toContain("grpcTokenFile:");
    expect(e.message).not.toContain("Zq9");
  });
});

describe.skipIf(!hasOpenssl())("grpcTlsCert, grpcTlsKey, grpcTlsClientCa", () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => pki.remove());

  it("reads the PEM files, relative to the configuration file", () => {
    const path = tempFile("grpcTlsCert: server.pem\ngrpcTlsKey: server.key\ngrpcTlsClientCa: ca.pem\n");
    for (const f of ["server.pem", "server.key", "ca.pem"])
      copyFileSync(join(pki.dir, f), join(path, "..", f));
    const tls = load(path).config.grpcTls;
    expect(tls?.cert).toEqual(pki.pem.serverCert);
    expect(tls?.key).toEqual(pki.pem.serverKey);
    expect(tls?.clientCa).toEqual(pki.pem.ca);
    expect(tls?.certFile).toBe(join(path, "../server.pem"));
  });

  it.each<[string, () => Record<string, string>, string]>([
    [
      "a missing certificate",
      () => ({ grpcTlsCert: "/nonexistent.pem", grpcTlsKey: pki.files.serverKey }),
      "grpcTlsCert",
    ],
    [
      "a key that is not PEM",
      () => ({ grpcTlsCert: pki.files.serverCert, grpcTlsKey: pki.files.ca }),
      "grpcTlsKey",
    ],
    [
      "the key of another certificate",
      () => ({ grpcTlsCert: pki.files.serverCert, grpcTlsKey: pki.files.clientKey }),
      "grpcTlsKey",
    ],
    ["a certificate without its key", () => ({ grpcTlsCert: pki.files.serverCert }), "grpcTlsKey"],
    ["a key without a certificate", () => ({ grpcTlsKey: pki.files.serverKey }), "grpcTlsKey"],
    ["a client CA without TLS", () => ({ grpcTlsClientCa: pki.files.ca }), "grpcTlsClientCa"],
    [
      "a client CA that is a key",
      () => ({
        grpcTlsCert: pki.files.serverCert,
        grpcTlsKey: pki.files.serverKey,
        grpcTlsClientCa: pki.files.serverKey,
      }),
      "grpcTlsClientCa",
    ],
  ])("%s is a configuration error naming the key, never the file's content", (_, overrides, key) => {
    const e = configError(() => load(undefined, overrides()));
    expect(e.message).toContain(`command line: ${key}:`);
    expect(e.message).not.toContain("PRIVATE KEY");
    expect(e.message).not.toContain(pki.pem.serverKey.toString().split("\n")[1]);
  });
});

describe("files holding secrets that other users can read", () => {
  it.each([
    [0o644, "readable by everyone"],
    [0o640, "readable by the group"],
    [0o604, "readable by others"],
  ])("mode %o (%s) with a key: a warning naming the file and chmod 600, never the key", (mode) => {
    const path = tempFile(`serialPort: /dev/ttyUSB0\ndecryptionKey: "${KEY_HEX}"\n`, mode);
    const { warnings } = load(path);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(path);
    expect(warnings[0]).toContain(`chmod 600 ${path}`);
    expect(warnings[0]).toContain("decryptionKey");
    expect(warnings.join("\n")).not.toMatch(new RegExp(KEY_HEX, "i"));
  });

  it("no warning for a private file, for a shared file without keys, or for keys given as flags", () => {
    expect(load(tempFile(`decryptionKey: "${KEY_HEX}"\nserialPort: /dev/x\n`, 0o600)).warnings).toEqual([]);
    expect(load(tempFile("serialPort: /dev/ttyUSB0\n", 0o644)).warnings).toEqual([]);
    expect(load(tempFile("serialPort: /dev/ttyUSB0\n", 0o644), { decryptionKey: KEY_HEX }).warnings).toEqual(
      [],
    );
  });

  it("finds keys in sources entries and names every kind; warns about a shared token file too", () => {
    const path = tempFile(
      `apiEncryptionKey: ${Buffer.alloc(32, 3).toString("base64")}\nsources:\n  - serialPort: /dev/a\n    decryptionKey: "${KEY_HEX}"\n`,
      0o644,
    );
    expect(load(path).warnings[0]).toContain("apiEncryptionKey, decryptionKey");
    const token = tempFile(`${TOKEN}\n`, 0o644, "token");
    const { warnings } = load(undefined, { grpcTokenFile: token });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`chmod 600 ${token}`);
    expect(warnings[0]).not.toContain(TOKEN);
  });
});
