import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GrpcServer, type GrpcServerOptions, startGrpcServer } from "../../../src/api/grpc/index.ts";
import { createLogger } from "../../../src/shared/index.ts";
import { closeAfterEach } from "../../helpers/closers.ts";
import {
  type ClientSecurity,
  GatewayTestClient,
  HealthTestClient,
  ReflectionTestClient,
  streamError,
  subscribed,
} from "../../helpers/grpc-client.ts";
import { hasOpenssl, makeTestPki, type TestPki } from "../../helpers/tls.ts";
import { MemoryView, makeEntity, makeMeter, numberState } from "../../helpers/view.ts";

const closers = closeAfterEach();

const TOKEN = "s3cr3t-token-0123456789abcdef";
const logLines: string[] = [];

function view(): MemoryView {
  const v = new MemoryView();
  const meter = makeMeter("home", "electricity", 0, "E0012345");
  const tariff = makeEntity(meter, "emeter_delivery_tariff1");
  v.addEntities([tariff]);
  v.publishState(numberState(tariff.id, 1.5));
  return v;
}

let lastView: MemoryView | null = null;

async function serve(options: Partial<GrpcServerOptions>): Promise<GrpcServer> {
  const logger = createLogger("p1", { sink: (l) => logLines.push(l), level: "debug" });
  lastView = view();
  const server = await startGrpcServer(lastView, { host: "127.0.0.1", port: 0, logger, ...options });
  closers.push(() => server.stop());
  return server;
}

function clients(address: string, security: ClientSecurity) {
  const gateway = new GatewayTestClient(address, security);
  const health = new HealthTestClient(address, security);
  const reflection = new ReflectionTestClient(address, "v1", security);
  const reflectionAlpha = new ReflectionTestClient(address, "v1alpha", security);
  closers.push(() => {
    gateway.close();
    health.close();
    reflection.close();
    reflectionAlpha.close();
  });
  return { gateway, health, reflection, reflectionAlpha };
}

/** Every method of every service, each resolving on success and rejecting with the call's status. */
function everyCall(address: string, security: ClientSecurity): Record<string, () => Promise<unknown>> {
  const c = clients(address, security);
  const stream = async (call: grpc.ClientReadableStream<unknown>): Promise<void> => {
    try {
      await subscribed(call);
    } finally {
      call.cancel();
    }
  };
  return {
    "Gateway/GetInfo": () => c.gateway.getInfo(),
    "Gateway/ListEntities": () => c.gateway.listEntities(),
    "Gateway/StreamStates": () => stream(c.gateway.streamStates()),
    "Gateway/StreamTelegrams": () => stream(c.gateway.streamTelegrams()),
    "Health/Check": () => c.health.check(""),
    "Health/Watch": () => stream(c.health.watch("")),
    "Reflection v1": () => c.reflection.ask({ list_services: "*" }),
    "Reflection v1alpha": () => c.reflectionAlpha.ask({ list_services: "*" }),
  };
}

async function statusOf(p: Promise<unknown>): Promise<number | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return (e as grpc.ServiceError).code;
  }
}

describe("gRPC bearer token", () => {
  it("with a token set, every service (gateway, health, reflection) answers only calls that carry it", async () => {
    const server = await serve({ token: Buffer.from(TOKEN) });
    const cases: [string, ClientSecurity, number | "ok"][] = [
      ["right token", { token: TOKEN }, "ok"],
      ["no token", {}, status.UNAUTHENTICATED],
      ["wrong token", { token: `${TOKEN}x` }, status.UNAUTHENTICATED],
      ["a prefix of the token", { token: TOKEN.slice(0, -1) }, status.UNAUTHENTICATED],
      ["the token without 'Bearer'", { authorization: TOKEN }, status.UNAUTHENTICATED],
      ["another scheme", { authorization: `Basic ${TOKEN}` }, status.UNAUTHENTICATED],
      ["scheme in lower case", { authorization: `bearer ${TOKEN}` }, "ok"],
    ];
    for (const [what, security, expected] of cases) {
      const calls = everyCall(server.address, security);
      const got = Object.fromEntries(
        await Promise.all(Object.entries(calls).map(async ([name, call]) => [name, await statusOf(call())])),
      );
      const want = Object.fromEntries(Object.keys(calls).map((name) => [name, expected]));
      expect(got, what).toEqual(want);
    }
  });

  it("says what is missing without echoing what was sent; logs the refusal, never the token", async () => {
    logLines.length = 0;
    const server = await serve({ token: Buffer.from(TOKEN) });
    const missing = clients(server.address, {});
    const wrong = clients(server.address, { token: "guessed-token-abcdefgh" });
    const noToken = (await missing.gateway.getInfo().catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(noToken.code).toBe(status.UNAUTHENTICATED);
    expect(noToken.details).toContain("authorization: Bearer");
    const bad = (await wrong.gateway.getInfo().catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(bad.code).toBe(status.UNAUTHENTICATED);
    expect(bad.details).not.toContain("guessed");
    // A refused stream never reaches the handler: no client is counted, nothing is subscribed.
    const err = await streamError(wrong.gateway.streamStates());
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(lastView?.maxClients).toBe(0);
    const log = logLines.join("\n");
    expect(log).toMatch(/GetInfo from 127\.0\.0\.1 refused: no bearer token/);
    expect(log).toMatch(/refused: a wrong token/);
    expect(log).not.toContain("guessed");
    expect(log).not.toContain(TOKEN);
    expect(log).toContain("token required");
  });

  it("without a token set, calls need none (and a token sent anyway is ignored)", async () => {
    const server = await serve({});
    for (const security of [{}, { token: TOKEN }]) {
      const calls = everyCall(server.address, security);
      for (const [name, call] of Object.entries(calls)) expect(await statusOf(call()), name).toBe("ok");
    }
  });
});

describe.skipIf(!hasOpenssl())("gRPC TLS (certificates made by the openssl CLI)", () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => pki.remove());

  it("serves TLS: a client trusting the CA connects; a plaintext client or one trusting another CA does not", async () => {
    const server = await serve({ tls: { cert: pki.pem.serverCert, key: pki.pem.serverKey } });
    const trusted = { credentials: grpc.credentials.createSsl(pki.pem.ca) };
    for (const [name, call] of Object.entries(everyCall(server.address, trusted)))
      expect(await statusOf(call()), name).toBe("ok");
    expect(await statusOf(clients(server.address, {}).gateway.getInfo())).toBe(status.UNAVAILABLE);
    const untrusting = { credentials: grpc.credentials.createSsl(pki.pem.otherCa) };
    expect(await statusOf(clients(server.address, untrusting).gateway.getInfo())).toBe(status.UNAVAILABLE);
  });

  it("with a client CA, only clients presenting a certificate it signed get in (mutual TLS)", async () => {
    const server = await serve({
      tls: { cert: pki.pem.serverCert, key: pki.pem.serverKey, clientCa: pki.pem.ca },
    });
    const withCert = grpc.credentials.createSsl(pki.pem.ca, pki.pem.clientKey, pki.pem.clientCert);
    for (const [name, call] of Object.entries(everyCall(server.address, { credentials: withCert })))
      expect(await statusOf(call()), name).toBe("ok");
    const noCert = grpc.credentials.createSsl(pki.pem.ca);
    expect(await statusOf(clients(server.address, { credentials: noCert }).gateway.getInfo())).toBe(
      status.UNAVAILABLE,
    );
    const stranger = grpc.credentials.createSsl(pki.pem.ca, pki.pem.strangerKey, pki.pem.strangerCert);
    expect(await statusOf(clients(server.address, { credentials: stranger }).health.check(""))).toBe(
      status.UNAVAILABLE,
    );
  });

  it("TLS and a token together: the token is still required on every service", async () => {
    const server = await serve({
      tls: { cert: pki.pem.serverCert, key: pki.pem.serverKey },
      token: Buffer.from(TOKEN),
    });
    const credentials = grpc.credentials.createSsl(pki.pem.ca);
    for (const [name, call] of Object.entries(everyCall(server.address, { credentials, token: TOKEN })))
      expect(await statusOf(call()), name).toBe("ok");
    for (const [name, call] of Object.entries(everyCall(server.address, { credentials })))
      expect(await statusOf(call()), name).toBe(status.UNAUTHENTICATED);
  });
});
