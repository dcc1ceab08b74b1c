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
 * Routes a gateway's events to the SourceViews of their source: one set of listeners on the gateway
 * however many sources it has. A listener per view would make every event cost O(sources), and a
 * gateway of thousands of meters O(sources²) per round of telegrams.
 */
class SourceRouter {
  readonly #view: GatewayView;
  readonly #bySource = new Map<string, Set<SourceView>>();

  constructor(view: GatewayView) {
    this.#view = view;
  }

  add(sourceId: string, target: SourceView): void {
    if (this.#bySource.size === 0) {
      this.#view.on("state", this.#onState);
      this.#view.on("entities", this.#onEntities);
      this.#view.on("telegram", this.#onTelegram);
      this.#view.on("link", this.#onLink);
    }
    const set = this.#bySource.get(sourceId) ?? new Set<SourceView>();
    this.#bySource.set(sourceId, set);
    set.add(target);
  }

  remove(sourceId: string, target: SourceView): void {
    const set = this.#bySource.get(sourceId);
    if (set === undefined || !set.delete(target)) return;
    if (set.size === 0) this.#bySource.delete(sourceId);
    if (this.#bySource.size > 0) return;
    this.#view.off("state", this.#onState);
    this.#view.off("entities", this.#onEntities);
    this.#view.off("telegram", this.#onTelegram);
    this.#view.off("link", this.#onLink);
    routers.delete(this.#view);
  }

  #emit(sourceId: string | undefined, emit: (v: SourceView) => void): void {
    const set = sourceId === undefined ? undefined : this.#bySource.get(sourceId);
    if (set !== undefined) for (const v of set) emit(v);
  }

  readonly #onState = (s: EntityState): void =>
    this.#emit(this.#view.entity(s.entityId)?.sourceId, (v) => v.emit("state", s));

  readonly #onEntities = (list: readonly EntityInfo[]): void => {
    const bySource = new Map<string, EntityInfo[]>();
    for (const e of list) {
      if (!this.#bySource.has(e.sourceId)) continue;
      const mine = bySource.get(e.sourceId);
      if (mine === undefined) bySource.set(e.sourceId, [e]);
      else mine.push(e);
    }
    for (const [sourceId, mine] of bySource) this.#emit(sourceId, (v) => v.emit("entities", mine));
  };

  readonly #onTelegram = (t: TelegramEvent): void => this.#emit(t.sourceId, (v) => v.emit("telegram", t));

  readonly #onLink = (sourceId: string, state: LinkState): void =>
    this.#emit(sourceId, (v) => v.emit("link", sourceId, state));
}

/** One router per gateway view, made with its first SourceView and dropped with its last. */
const routers = new Map<GatewayView, SourceRouter>();

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
    const router = routers.get(view) ?? new SourceRouter(view);
    routers.set(view, router);
    router.add(sourceId, this);
  }

  /** The source this view shows. */
  get sourceId(): string {
    return this.#sourceId;
  }

  info(): GatewayInfo {
    const info = this.#view.info(this.#sourceId);
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
    routers.get(this.#view)?.remove(this.#sourceId, this);
  }
}
