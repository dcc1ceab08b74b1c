import { once } from "node:events";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { aesGcmInUse } from "../../src/gateway/native-gcm.ts";
import { eventually, ThirdPartyClient } from "../api/native/helpers.ts";
import { runCli } from "../helpers/cli.ts";
import { type ClientSecurity, type GatewayInfoMsg, GatewayTestClient } from "../helpers/grpc-client.ts";
import { killServed, startServe } from "../helpers/serve.ts";
import { hasOpenssl, makeTestPki } from "../helpers/tls.ts";

// Distinctive secrets, so that any spelling of them in any output is found by substring search.
const DECRYPTION_KEY = Buffer.from("5A1B2C3D4E5F60718293A4B5C6D7E8F9", "hex");
const AUTHENTICATION_KEY = Buffer.from("C0FFEE00DEADBEEF0123456789ABCDEF", "hex");
const API_KEY = Buffer.from("p1-gateway native API test key!!", "utf8"); // 32 bytes
const TOKEN = "Tk-9f8e7d6c5b4a39281706f5e4d3c2b1a0";

/** Every spelling a key could leak in: hex upper and lower, base64 (and base64url), the text itself. */
function spellings(): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = {
    decryptionKey: DECRYPTION_KEY,
    authenticationKey: AUTHENTICATION_KEY,
    apiEncryptionKey: API_KEY,
    grpcToken: Buffer.from(TOKEN, "utf8"),
  };
  for (const [name, key] of Object.entries(keys)) {
    out[`${name} hex upper`] = key.toString("hex").toUpperCase();
    out[`${name} hex lower`] = key.toString("hex");
    out[`${name} base64`] = key.toString("base64").replace(/=+$/, "");
    out[`${name} base64url`] = key.toString("base64url");
  }
  out["grpcToken as text"] = TOKEN;
  return out;
}

/** Names of secrets found in `text`, by spelling. */
function leaks(text: string): string[] {
  return Object.entries(spellings())
    .filter(([, s]) => text.includes(s) || text.toLowerCase().includes(s.toLowerCase()))
    .map(([name]) => name);
}

const TMP = mkdtempSync(join(tmpdir(), "p1-security-"));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
  killServed();
});

async function infoWithTelegram(address: string, security: ClientSecurity): Promise<GatewayInfoMsg> {
  const client = new GatewayTestClient(address, security);
  closers.push(() => client.close());
  let info = await client.getInfo();
  const deadline = Date.now() + 15_000;
  while ((info.sources[0]?.counters.telegrams_ok ?? 0) < 1) {
    if (Date.now() > deadline) throw new Error("no telegram within 15 s");
    await new Promise((r) => setTimeout(r, 50));
    info = await client.getInfo();
  }
  return info;
}

/** A config file holding every kind of key (mode 0644, as an editor would leave it). */
function writeConfig(extra = ""): string {
  const path = join(TMP, `p1-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    path,
    [
      "simulate: smarty",
      `decryptionKey: "${DECRYPTION_KEY.toString("hex").toUpperCase()}"`,
      `authenticationKey: "${AUTHENTICATION_KEY.toString("hex").toLowerCase()}"`,
      `apiEncryptionKey: "${API_KEY.toString("base64")}"`,
      extra,
    ].join("\n"),
  );
  chmodSync(path, 0o644);
  return path;
}

describe("keys never leave the gateway", () => {
  it("serve with every key set (log level debug): no key in stdout, stderr, GetInfo or the diagnostics bundle", async () => {
    const config = writeConfig();
    const serve = await startServe(["--config", config, "--log-level", "debug", "--status-interval", "1"], {
      P1_GATEWAY_GRPC_TOKEN: TOKEN,
    });
    const info = await infoWithTelegram(serve.address, { token: TOKEN });
    expect(info.sources[0]).toMatchObject({ protocol_version: "smarty", encrypted: true });

    // Exercise the paths that log: a wrong gRPC token, a native client with the right and one with a wrong key.
    const wrong = new GatewayTestClient(serve.address, { token: `${TOKEN}-wrong` });
    closers.push(() => wrong.close());
    expect(((await wrong.getInfo().catch((e: grpc.ServiceError) => e)) as grpc.ServiceError).code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    const esp = new ThirdPartyClient(serve.apiPort, API_KEY);
    closers.push(() => esp.close());
    await eventually(() => esp.initialized, "the encrypted native API client", 15_000);
    const intruder = new ThirdPartyClient(serve.apiPort, Buffer.alloc(32, 1));
    closers.push(() => intruder.close());

    const text = await runCli(["diagnostics", "--grpc", serve.address], undefined, {
      P1_GATEWAY_GRPC_TOKEN: TOKEN,
    });
    expect(text.code, text.stderr).toBe(0);
    const json = await runCli(["diagnostics", "--grpc", serve.address, "--json"], undefined, {
      P1_GATEWAY_GRPC_TOKEN: TOKEN,
    });
    expect(json.code, json.stderr).toBe(0);
    const refused = await runCli([
      "diagnostics",
      "--grpc",
      serve.address,
      "--token",
      "not-the-token-0123456789",
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("invalid token");

    const exited = once(serve.child, "exit");
    serve.child.kill("SIGTERM");
    expect((await exited)[0]).toBe(0);

    // The config file holds keys and is readable by others: warned about, by name, without the keys.
    expect(serve.output()).toMatch(
      new RegExp(`${config.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} holds keys .*chmod 600`),
    );
    expect(serve.output()).toContain("refused: a wrong token");
    const all = [
      serve.output(),
      JSON.stringify(info),
      text.stdout.toString(),
      text.stderr,
      json.stdout.toString(),
      json.stderr,
      refused.stderr,
    ].join("\n");
    expect(all.length).toBeGreaterThan(2_000);
    expect(leaks(all)).toEqual([]);

    // The bundle: versions, the source and its counters, the redacted configuration, masked telegrams.
    const bundle = JSON.parse(json.stdout.toString()) as {
      version: string;
      node_version: string;
      os: string;
      config_json: string;
      info: GatewayInfoMsg;
      telegrams: {
        outcome: string;
        encrypted: boolean;
        text: string;
        frame_header: string;
        masked_values: number;
      }[];
      notes: string[];
      aes_gcm: string;
    };
    expect(bundle.node_version).toBe(process.version);
    expect(bundle.os).not.toBe("");
    expect(bundle.info.sources[0]).toMatchObject({ protocol_version: "smarty", link_state: "LINK_STATE_OK" });
    expect(JSON.parse(bundle.config_json)).toMatchObject({
      apiEncryptionKey: "***",
      grpcToken: "***",
      sources: [{ decryptionKey: "***", authenticationKey: "***" }],
    });
    expect(bundle.telegrams.length).toBeGreaterThan(0);
    const t = bundle.telegrams[0];
    expect(t).toMatchObject({ outcome: "OK", encrypted: true });
    expect(t?.text).toMatch(/^0-0:42\.0\.0\(X+\)\r$/m);
    expect(t?.masked_values).toBeGreaterThan(0);
    expect(bundle.notes.join(" ")).toContain("no longer match");
    // Which AES-GCM the gateway decrypts with: the one this process loads from the same build.
    expect(bundle.aes_gcm).toBe(aesGcmInUse());
    expect(text.stdout.toString()).toContain(`AES-GCM decryption: ${bundle.aes_gcm}`);
    // No equipment id in any spelling, in the telegrams or in meter ids.
    const ids = info.sources.flatMap((s) => s.meters).filter((m) => m.equipment_id !== "");
    expect(ids.length).toBeGreaterThan(0);
    const bundleText = `${json.stdout.toString()}\n${text.stdout.toString()}`;
    for (const m of ids) {
      expect(bundleText).not.toContain(m.equipment_id);
      expect(bundleText.toUpperCase()).not.toContain(
        Buffer.from(m.equipment_id).toString("hex").toUpperCase(),
      );
      expect(bundleText).not.toContain(m.id);
    }
    expect(text.stdout.toString()).toContain("values masked (CRC no longer matches)");
  });
});

describe.skipIf(!hasOpenssl())("gRPC TLS and token through serve and diagnostics", () => {
  it("serve over TLS with a token file; diagnostics connects with --cacert and --token-file", async () => {
    const pki = makeTestPki();
    closers.push(() => pki.remove());
    const tokenFile = join(TMP, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const serve = await startServe([
      "--status-interval",
      "1",
      "--grpc-tls-cert",
      pki.files.serverCert,
      "--grpc-tls-key",
      pki.files.serverKey,
      "--grpc-token-file",
      tokenFile,
    ]);
    expect(serve.output()).toContain(`grpcurl -cacert ${pki.files.serverCert}`);
    expect(serve.output()).toContain("-H 'authorization: Bearer <token>'");
    const ok = await runCli([
      "diagnostics",
      "--grpc",
      serve.address,
      "--cacert",
      pki.files.ca,
      "--token-file",
      tokenFile,
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.toString()).toContain("Last telegrams");
    const plaintext = await runCli([
      "diagnostics",
      "--grpc",
      serve.address,
      "--token-file",
      tokenFile,
      "--timeout",
      "3",
    ]);
    expect(plaintext.code).toBe(1);
    const noToken = await runCli(["diagnostics", "--grpc", serve.address, "--cacert", pki.files.ca]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("requires a token");
    expect(
      leaks(`${serve.output()}\n${ok.stdout}\n${ok.stderr}\n${noToken.stderr}\n${plaintext.stderr}`),
    ).toEqual([]);
  });
});

describe("gRPC security configuration errors", () => {
  it("a missing TLS file is a configuration error naming the key: exit 2", async () => {
    const missing = await runCli([
      "serve",
      "--grpc-tls-cert",
      join(TMP, "nope.pem"),
      "--grpc-tls-key",
      join(TMP, "nope.key"),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/grpcTlsCert: cannot read .*nope\.pem: no such file/);
    expect(missing.stderr).toMatch(/grpcTlsKey: cannot read/);
  });
});
