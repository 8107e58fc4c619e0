/**
 * The server: wires configuration, transports, the receive pipeline, modules and the route script,
 * and runs their lifecycle (start, script reload, graceful stop).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { databaseUrl, openStorage, type Storage } from '../db/index.js';
import { SipResolver } from '../dns/index.js';
import { ControlServer } from '../rpc/control-server.js';
import { coreMethods } from '../rpc/core-methods.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../rpc/metrics.js';
import { provisionMethods } from '../rpc/provision-methods.js';
import { RpcRegistry } from '../rpc/registry.js';
import { RpcError } from '../rpc/types.js';
import { builtinModules, type Modules, type Routes } from '../script/api.js';
import { loadScript } from '../script/loader.js';
import { TransportLayer } from '../transport/transport-layer.js';
import type { Destination, Listener, TlsOptions } from '../transport/types.js';
import { type Config, coreSchema } from './config.js';
import type { RequestContext } from './context.js';
import { registerDnsStats, registerProcessStats, registerTransportStats } from './layer-stats.js';
import { Logger } from './logger.js';
import type { ModuleInstance } from './module.js';
import { Myself } from './myself.js';
import { OverloadGuard } from './overload.js';
import { type ActiveRoutes, listenerName, Pipeline } from './pipeline.js';
import { RuntimeConfig } from './runtime-config.js';
import { StatsRegistry } from './stats.js';

/** olelo's name and version, from package.json. */
export const PACKAGE: { readonly name: string; readonly version: string } = JSON.parse(
  readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
) as { name: string; version: string };

/** Options for {@link Server.start} beyond the config file. */
export interface ServerOptions {
  /** Logger to use (tests pass one with a capturing sink). */
  log?: Logger;
}

/** A running olelo server. */
export class Server {
  readonly log: Logger;
  readonly stats = new StatsRegistry();
  readonly startedAt = Date.now();
  /** The control methods (JSON-RPC, `olelo ctl`). */
  readonly rpc = new RpcRegistry();
  /** Settings changeable while running (`cfg.get` / `cfg.set`). */
  readonly runtimeConfig = new RuntimeConfig();
  /** The control HTTP server and Unix socket, when configured. */
  control: ControlServer | undefined;
  private routes: Routes | undefined;
  private active: ActiveRoutes | undefined;
  private timers: NodeJS.Timeout[] = [];
  private modules: Modules | undefined;
  private instances: Array<ModuleInstance<unknown>> = [];
  private pipeline: Pipeline | undefined;
  private transport: TransportLayer | undefined;
  private stopping: Promise<void> | undefined;
  private resolver: SipResolver | undefined;
  private storage: Storage | undefined;
  private overload: OverloadGuard | undefined;

  private constructor(
    readonly config: Config,
    options: ServerOptions,
  ) {
    this.log = options.log ?? Logger.create({ level: config.log.level, format: config.log.format });
  }

  /** Loads the script, binds every listener and starts the modules. */
  static async start(config: Config, options: ServerOptions = {}): Promise<Server> {
    const server = new Server(config, options);
    try {
      await server.startUp();
    } catch (error) {
      await server.abandon();
      throw error;
    }
    return server;
  }

  /**
   * Undoes a start that failed half way (a listener that cannot bind, a module whose start throws):
   * whatever was opened — modules, listeners, timers, the database, the resolver — is closed again, so
   * a failed start leaves nothing running. Failures while closing are logged, not thrown.
   */
  private async abandon(): Promise<void> {
    const quietly = async (what: string, step: () => unknown): Promise<void> => {
      try {
        await step();
      } catch (e) {
        this.log.debug('closing after a failed start', { what, error: e as Error });
      }
    };
    for (const t of this.timers) clearInterval(t);
    this.overload?.stop();
    await quietly('control', () => this.control?.stop());
    for (const instance of this.instances) await quietly('module', () => instance.stop?.());
    await quietly('transport', () => this.transport?.stop(0));
    await quietly('database', () => this.storage?.close());
    await quietly('resolver', () => this.resolver?.close());
  }

  /** The database (what modules get as `core.db`). */
  get db(): Storage {
    if (this.storage === undefined) throw new Error('the server has not opened its database yet');
    return this.storage;
  }

  /** The bound listeners. */
  get listeners(): readonly Listener[] {
    return this.transport?.listeners ?? [];
  }

  private async startUp(): Promise<void> {
    const config = this.config;
    mkdirSync(config.dataDir, { recursive: true });
    this.routes = await loadScript(config.script);
    const database = config.database;
    this.storage = await openStorage(databaseUrl(database, config.dataDir), {
      poolSize: database.poolSize,
      connectTimeout: database.connectTimeout,
      busyTimeout: database.busyTimeout,
    });
    const migration = await this.storage.migrate();
    this.log.info('database ready', {
      url: this.storage.url,
      ...(migration.applied.length > 0 ? { migrated: migration.applied.join('; ') } : {}),
    });
    const limits = config.limits;
    const myself = new Myself(config.domains);
    const transport = new TransportLayer({
      listeners: config.listen.map((l) => ({
        protocol: l.protocol,
        address: l.address,
        port: l.port,
        ...(l.advertise === undefined ? {} : { advertise: l.advertise }),
      })),
      ...(this.hasTls ? { tls: this.readTls() } : {}),
      limits: {
        maxMessageSize: limits.maxMessageSize,
        maxConnections: limits.maxConnections,
        maxConnectionsPerIp: limits.maxConnectionsPerIp,
        connectionIdleTimeout: limits.connectionIdleTimeout,
        messageReadTimeout: limits.messageReadTimeout,
      },
      onMessage: (data, source) => this.pipeline!.receive(data, source),
      onEvent: (event) => {
        if (this.log.enabled('debug')) this.log.debug('transport event', { event });
      },
    });
    this.transport = transport;
    // RFC 3263: only transports we can send on (olelo opens no outbound WebSocket connections)
    const supported = [...new Set(config.listen.map((l) => l.protocol))].filter(
      (p): p is 'udp' | 'tcp' | 'tls' => p === 'udp' || p === 'tcp' || p === 'tls',
    );
    const dns = config.dns;
    this.resolver = new SipResolver({
      supported,
      preferIPv6: dns.preferIPv6,
      cacheSize: dns.cacheSize,
      negativeTtl: Math.round(dns.negativeTtl / 1000),
      blacklistTime: dns.blacklistTime,
      timeout: dns.timeout,
      ...(dns.servers === undefined ? {} : { servers: dns.servers }),
    });
    // figures the transport, the resolver and the process keep, read when statistics are asked for
    const resolver = this.resolver;
    registerTransportStats(this.stats, () => transport.stats());
    registerDnsStats(this.stats, () => resolver.stats());
    registerProcessStats(this.stats);
    this.overload = new OverloadGuard(
      {
        maxTransactions: limits.maxTransactions,
        memoryHighWatermark: limits.memoryHighWatermark,
        maxEventLoopUtilization: limits.maxEventLoopUtilization,
        retryAfter: limits.overloadRetryAfter,
      },
      this.stats,
    );
    const pipeline = new Pipeline({
      overload: this.overload,
      resolver: this.resolver,
      transport,
      myself,
      log: this.log,
      stats: this.stats,
      limits: {
        maxMessageSize: limits.maxMessageSize,
        maxHeaderCount: limits.maxHeaderCount,
        maxLineLength: limits.maxLineLength,
        maxViaCount: limits.maxViaCount,
      },
      routes: () => this.active!,
    });
    this.pipeline = pipeline;
    pipeline.database = this.storage;

    const apis: Record<string, unknown> = {};
    for (const def of builtinModules) {
      const params = (config.modules[def.name] ?? {}) as Record<string, unknown>;
      const instance = def.create(pipeline, params) as ModuleInstance<unknown>;
      this.instances.push(instance);
      apis[def.name] = instance.api;
      pipeline.addModule(def.name, instance.api);
      if (instance.rpc !== undefined) this.rpc.register(instance.rpc);
      if (def.params !== undefined) {
        const setParam = instance.setParam?.bind(instance);
        const runtime = Object.entries(def.params.info.fields ?? {}).filter(
          ([, f]) => f.options.runtime === true,
        );
        // a programming error, caught by any test that starts a server
        if (runtime.length > 0 && setParam === undefined)
          throw new Error(
            `module ${def.name} declares runtime parameters (${runtime.map(([n]) => n).join(', ')}) but no setParam`,
          );
        if (setParam !== undefined) this.runtimeConfig.addFields(def.name, def.params, params, setParam);
      }
    }
    this.setUpControl();
    apis.forward = (req: RequestContext, nextHop?: string) => pipeline.forward(req, nextHop);
    apis.features = Object.freeze({ ...config.features });
    this.modules = apis as Modules;
    this.activate(this.routes);

    await transport.start();
    this.overload.start();
    myself.addListeners(transport.listeners);
    await this.control?.start();
    for (const instance of this.instances) await instance.start?.();
    await this.routes.events?.start?.(this.modules);
    this.startTimers(this.routes);
    for (const l of transport.listeners) {
      this.log.info('listening', { listener: listenerName(l) });
    }
  }

  /** True when a `tls` or `wss` listener is configured. */
  get hasTls(): boolean {
    return this.config.listen.some((l) => l.protocol === 'tls' || l.protocol === 'wss');
  }

  /** The TLS material and policy, the files read now. */
  private readTls(): TlsOptions {
    const tls = this.config.tls;
    return {
      cert: readFileSync(tls.certificate!),
      key: readFileSync(tls.key!),
      ...(tls.ca === undefined ? {} : { ca: readFileSync(tls.ca) }),
      verifyClient: tls.verifyClient,
      minVersion: tls.minVersion,
      ...(tls.ciphers === undefined ? {} : { ciphers: tls.ciphers }),
    };
  }

  /**
   * Reads `tls.certificate`, `tls.key` and `tls.ca` again and applies them to new TLS/WSS connections
   * (`tls.reload`, SIGHUP); open connections keep theirs. A certificate that cannot be read or used
   * (bad PEM, key mismatch, expired) is refused and the running one stays.
   */
  reloadTls(): { ok: true; fingerprint256: string; validTo: string } | { ok: false; error: string } {
    try {
      if (!this.hasTls || this.transport === undefined) throw new Error('no tls or wss listener');
      const applied = this.transport.setTls(this.readTls());
      this.log.info('TLS certificate reloaded', { certificate: this.config.tls.certificate, ...applied });
      return { ok: true, ...applied };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.log.error('TLS reload failed; keeping the running certificate', { error });
      return { ok: false, error };
    }
  }

  /** Registers the core's control methods and runtime settings, and creates the control server. */
  private setUpControl(): void {
    const config = this.config;
    const server = this;
    this.runtimeConfig.add({
      group: 'log',
      name: 'level',
      schema: coreSchema.info.fields!.log!.info.fields!.level!,
      get: () => this.log.level,
      apply: (value) => this.log.setLevel(value as Config['log']['level']),
    });
    const limits = { ...config.limits };
    this.runtimeConfig.addFields('limits', coreSchema.info.fields!.limits!, limits, (name, value) => {
      const overload = this.overload!;
      if (name === 'maxTransactions') overload.maxTransactions = value as number;
      else if (name === 'overloadRetryAfter') overload.retryAfter = value as number;
      else if (name === 'memoryHighWatermark') {
        overload.memoryHighWatermark = value as number;
        overload.sample();
      } else if (name === 'maxEventLoopUtilization') {
        overload.maxEventLoopUtilization = value as number;
        overload.sampleLoad();
      } else this.transport!.setLimits({ [name]: value });
    });
    this.rpc.register(
      coreMethods(
        {
          name: PACKAGE.name,
          version: PACKAGE.version,
          startedAt: this.startedAt,
          stats: this.stats,
          get listeners() {
            return server.listeners;
          },
          scriptPath: config.script,
          runtimeConfig: this.runtimeConfig,
          limits,
          transportStats: () => this.transport?.stats() as ReturnType<TransportLayer['stats']> | undefined,
          reloadScript: () => this.reloadScript(),
        },
        this.rpc,
      ),
    );
    if (this.hasTls) {
      this.rpc.register({
        'tls.reload': {
          doc:
            'Reads the TLS certificate, key and CA files again and uses them for new TLS and WSS connections; ' +
            'open connections keep theirs. A bad certificate (unreadable, key mismatch, expired) is refused ' +
            'with error 500 and the running one stays. Returns the new fingerprint and expiry.',
          handler: () => {
            const result = this.reloadTls();
            if (!result.ok) throw new RpcError(500, `TLS not reloaded: ${result.error}`);
            return { fingerprint256: result.fingerprint256, validTo: result.validTo };
          },
        },
      });
    }
    const domain = () => this.modules?.domain;
    this.rpc.register(
      provisionMethods(this.db, {
        domainsChanged: async () => {
          await domain()?.reload();
        },
      }),
    );
    const control = config.control;
    const socket =
      control.socket === 'off'
        ? undefined
        : control.socket === ''
          ? join(config.dataDir, 'olelo.sock')
          : control.socket;
    if (control.http.listen === 'off' && socket === undefined) return;
    this.control = new ControlServer({
      registry: this.rpc,
      log: this.log.child({ component: 'control' }),
      http: {
        listen: control.http.listen,
        token: control.http.token,
        sessionTimeout: control.http.sessionTimeout,
      },
      socket,
      admins: this.db.admins,
      metrics: () => renderMetrics(this.stats),
      metricsContentType: METRICS_CONTENT_TYPE,
    });
  }

  /** Binds a script's handlers to the module APIs. */
  private activate(routes: Routes): void {
    const m = this.modules!;
    const { request, reply, onsend } = routes;
    this.active = {
      request: (ctx) => request(ctx, m),
      ...(reply === undefined ? {} : { reply: (ctx) => reply(ctx, m) }),
      ...(onsend === undefined
        ? {}
        : { onsend: (ctx: RequestContext, destination: Destination) => onsend(ctx, destination, m) }),
    };
  }

  private startTimers(routes: Routes): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const timer of routes.events?.timers ?? []) {
      const handle = setInterval(() => {
        Promise.resolve()
          .then(() => timer.run(this.modules!))
          .catch((e: unknown) => this.log.error('timer route failed', { error: e as Error }));
      }, timer.interval);
      handle.unref();
      this.timers.push(handle);
    }
  }

  /**
   * Loads the route script again. A script that fails to compile or load is rejected and the running one
   * stays; messages in flight finish with the handlers they started with.
   */
  async reloadScript(): Promise<{ ok: true } | { ok: false; error: string }> {
    try {
      const routes = await loadScript(this.config.script);
      this.routes = routes;
      this.activate(routes);
      this.startTimers(routes);
      this.log.info('route script reloaded', { script: this.config.script });
      return { ok: true };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.log.error('route script reload failed; keeping the running script', { error });
      return { ok: false, error };
    }
  }

  /** Statistics of the transport layer. */
  transportStats(): unknown {
    return this.transport?.stats();
  }

  /**
   * Stops: no new messages are accepted, messages in flight get up to `graceMs` to finish, then every
   * connection is closed.
   */
  stop(graceMs = 2000): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      this.overload?.stop();
      await this.control?.stop();
      await this.pipeline?.idle(graceMs);
      try {
        await this.routes?.events?.stop?.(this.modules!);
      } catch (e) {
        this.log.error('stop event route failed', { error: e as Error });
      }
      for (const instance of this.instances) await instance.stop?.();
      await this.transport?.stop(graceMs);
      await this.storage?.close();
      this.resolver?.close();
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}
