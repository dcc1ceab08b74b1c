import { EventEmitter } from "node:events";
import type {
  EntityInfo,
  EntityState,
  GatewayEvents,
  GatewayInfo,
  GatewayView,
  LinkState,
  TelegramEvent,
} from "../../gateway/types.ts";

/**
 * The part of a gateway that belongs to one source, as a GatewayView of its own: a gateway with
 * several sources serves each as its own native-API device (own port, name and MAC), so Home Assistant
 * shows one device per meter connection. Counters and client bookkeeping stay the gateway's.
 */
export class SourceView extends EventEmitter<GatewayEvents> implements GatewayView {
  readonly #view: GatewayView;
  readonly #sourceId: string;
  #closed = false;

  constructor(view: GatewayView, sourceId: string) {
    super();
    // Like the gateway: every client adds listeners, the default cap of 10 is no limit here.
    this.setMaxListeners(0);
    this.#view = view;
    this.#sourceId = sourceId;
    view.on("state", this.#onState);
    view.on("entities", this.#onEntities);
    view.on("telegram", this.#onTelegram);
    view.on("link", this.#onLink);
  }

  /** The source this view shows. */
  get sourceId(): string {
    return this.#sourceId;
  }

  info(): GatewayInfo {
    const info = this.#view.info();
    return { ...info, sources: info.sources.filter((s) => s.id === this.#sourceId) };
  }

  entities(): readonly EntityInfo[] {
    return this.#view.entities().filter((e) => e.sourceId === this.#sourceId);
  }

  states(): readonly EntityState[] {
    return this.#view.states().filter((s) => this.#view.entity(s.entityId)?.sourceId === this.#sourceId);
  }

  entity(id: string): EntityInfo | undefined {
    const e = this.#view.entity(id);
    return e?.sourceId === this.#sourceId ? e : undefined;
  }

  state(id: string): EntityState | undefined {
    return this.entity(id) === undefined ? undefined : this.#view.state(id);
  }

  clientConnected(): void {
    this.#view.clientConnected();
  }

  clientDisconnected(): void {
    this.#view.clientDisconnected();
  }

  countCoalesced(n: number): void {
    this.#view.countCoalesced(n);
  }

  /** Stops following the gateway's events; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#view.off("state", this.#onState);
    this.#view.off("entities", this.#onEntities);
    this.#view.off("telegram", this.#onTelegram);
    this.#view.off("link", this.#onLink);
  }

  readonly #onState = (s: EntityState): void => {
    if (this.#view.entity(s.entityId)?.sourceId === this.#sourceId) this.emit("state", s);
  };

  readonly #onEntities = (list: readonly EntityInfo[]): void => {
    const mine = list.filter((e) => e.sourceId === this.#sourceId);
    if (mine.length > 0) this.emit("entities", mine);
  };

  readonly #onTelegram = (t: TelegramEvent): void => {
    if (t.sourceId === this.#sourceId) this.emit("telegram", t);
  };

  readonly #onLink = (sourceId: string, state: LinkState): void => {
    if (sourceId === this.#sourceId) this.emit("link", sourceId, state);
  };
}
