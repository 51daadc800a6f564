// The renderer's configuration: one schema that holds every default. `renderer run`,
// `renderer sandbox` and `renderer serve` all start from validate(CONFIG_SCHEMA, ...),
// so a limit means the same thing everywhere. Documented in docs/config.md.
import type { Schema } from './schema.js';

const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;

export const TIMEOUT_MS_SCHEMA = { type: 'integer', minimum: 1, maximum: 86_400_000, default: 30_000 } as const;
export const MEMORY_MIB_SCHEMA = { type: 'integer', minimum: 16, maximum: 1_048_576, default: 512 } as const;

/** Arrow column types a step may output, by apache-arrow's Type names. */
export const DEFAULT_ALLOWED_TYPES = [
  'Null', 'Bool', 'Int', 'Float', 'Utf8', 'LargeUtf8', 'Binary', 'LargeBinary', 'Date', 'Time',
  'Timestamp', 'Interval', 'Duration', 'Decimal', 'FixedSizeBinary', 'Dictionary',
] as const;

/**
 * Step uids by default: 2,000,000,000 up to 2,000,004,095, inside the block systemd
 * leaves unused (1879048192-2147352575; UIDS-GIDS.md): no account, no /etc/subuid
 * range of useradd (from 100000 in steps of 65536), no nspawn container, below 2^31.
 */
export const DEFAULT_UID_RANGE = Object.freeze({ first: 2_000_000_000, count: 4096 });

export const LIMITS_SCHEMA: Schema = {
  type: 'object',
  properties: {
    timeoutMs: TIMEOUT_MS_SCHEMA,
    memoryMiB: MEMORY_MIB_SCHEMA,
    maxProcesses: { type: 'integer', minimum: 8, maximum: 4096, default: 64 },
    maxOutputBytes: { type: 'integer', minimum: 1024, maximum: 64 * GIB, default: 2 * GIB },
    maxResultBytes: { type: 'integer', minimum: 1024, maximum: 64 * MIB, default: MIB },
    maxLogBytes: { type: 'integer', minimum: 1024, maximum: 16 * MIB, default: 64 * 1024 },
    maxParamsBytes: { type: 'integer', minimum: 1024, maximum: 64 * MIB, default: MIB },
    tmpSizeMiB: { type: 'integer', minimum: 1, maximum: 65_536, default: 64 },
    maxOpenFiles: { type: 'integer', minimum: 64, maximum: 65_536, default: 1024 },
    /** CPU quota in cores (e.g. 0.5); unset means no quota. */
    cpuCores: { type: 'number', minimum: 0.01, maximum: 1024 },
    /**
     * The operator's ceilings on what a request may ask for. Unset: the limit above is
     * also the ceiling, so a caller may only lower it (config/load.ts, executor.ts).
     */
    max: {
      type: 'object',
      default: {},
      properties: {
        timeoutMs: { type: 'integer', minimum: TIMEOUT_MS_SCHEMA.minimum, maximum: TIMEOUT_MS_SCHEMA.maximum },
        memoryMiB: { type: 'integer', minimum: MEMORY_MIB_SCHEMA.minimum, maximum: MEMORY_MIB_SCHEMA.maximum },
      },
    },
  },
};

export const VALIDATION_SCHEMA: Schema = {
  type: 'object',
  properties: {
    allowedTypes: { type: 'array', items: { type: 'string', enum: DEFAULT_ALLOWED_TYPES }, default: DEFAULT_ALLOWED_TYPES },
    checkUtf8: { type: 'boolean', default: true },
    checkDictionaries: { type: 'boolean', default: true },
    checkColumnNames: { type: 'boolean', default: true },
    maxColumnNameBytes: { type: 'integer', minimum: 1, maximum: 65_536, default: 120 },
    maxColumns: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
    maxBatches: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 100_000 },
  },
};

export const SANDBOX_SCHEMA: Schema = {
  type: 'object',
  properties: {
    /**
     * Host uids (and gids of the same numbers) for sandboxes: every live sandbox on the
     * host gets one of its own (sandbox/uids.ts), so per-user kernel budgets such as
     * RLIMIT_NPROC count one run, never every run on the host.
     */
    uidRange: {
      type: 'object',
      default: {},
      properties: {
        first: { type: 'integer', minimum: 1000, maximum: 4_294_000_000, default: DEFAULT_UID_RANGE.first },
        count: { type: 'integer', minimum: 16, maximum: 1_000_000, default: DEFAULT_UID_RANGE.count },
      },
    },
    /**
     * A directory every renderer instance on this host shares (tmpfs, emptied at boot):
     * the step-uid leases and the locks that say which renderer instances are alive.
     */
    hostDir: { type: 'string', minLength: 1, default: '/run/renderer' },
    /**
     * The nice value of every sandboxed process. Steps yield to the renderer, so on an
     * overloaded host it still drains their output and times them (nsjail's default is 19).
     */
    niceness: { type: 'integer', minimum: 0, maximum: 19, default: 10 },
    /** Replaced by uidRange (one uid shared by all sandboxes made RLIMIT_NPROC host-wide); refused with a message. */
    stepUid: { type: 'integer', description: 'no longer used: see sandbox.uidRange' },
    stepGid: { type: 'integer', description: 'no longer used: see sandbox.uidRange' },
    bwrapPath: { type: 'string', minLength: 1, default: '/usr/bin/bwrap' },
    /** Where run cgroups are created; unset: chosen from the host (docs/config.md). */
    cgroupRoot: { type: 'string', minLength: 1 },
    /** Refuse to run without per-run cgroups (no oom_killed, no pids limit otherwise). */
    requireCgroups: { type: 'boolean', default: true },
    /** Node's permission model (--experimental-permission) inside the child. */
    nodePermissionModel: { type: 'boolean', default: true },
    /** Start children from the V8 start-up snapshot when one was built. */
    useSnapshot: { type: 'boolean', default: true },
  },
};

export const SCHEDULE_SCHEMA: Schema = {
  type: 'object',
  required: ['name', 'cron', 'workflow', 'outputDir'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'a name of letters, digits, `_`, `.`, `-`' },
    cron: { type: 'string', minLength: 1, description: 'a cron expression such as "*/5 * * * *"' },
    workflow: {
      type: 'object',
      required: ['steps'],
      properties: {
        steps: {
          type: 'array',
          minItems: 1,
          maxItems: 100,
          items: {
            type: 'object',
            required: ['step'],
            properties: {
              step: { type: 'string', minLength: 1, description: 'the name of a step in the steps directory' },
              params: { type: 'any', default: {} },
              // No default of their own: unset means the config's `limits`.
              timeoutMs: { type: 'integer', minimum: TIMEOUT_MS_SCHEMA.minimum, maximum: TIMEOUT_MS_SCHEMA.maximum },
              memoryMiB: { type: 'integer', minimum: MEMORY_MIB_SCHEMA.minimum, maximum: MEMORY_MIB_SCHEMA.maximum },
            },
          },
        },
        input: { type: 'string', minLength: 1, description: 'a path relative to the data root' },
      },
    },
    outputDir: { type: 'string', minLength: 1 },
    keep: { type: 'integer', minimum: 1, maximum: 10_000, default: 10 },
  },
};

export const CONFIG_SCHEMA: Schema = {
  type: 'object',
  properties: {
    /** Run directories, uploaded tables and schedule state live here. */
    stateDir: { type: 'string', minLength: 1 },
    stepsDir: { type: 'string', minLength: 1 },
    dataRoot: { type: 'string', minLength: 1 },
    limits: { ...LIMITS_SCHEMA, default: {} },
    validation: { ...VALIDATION_SCHEMA, default: {} },
    sandbox: { ...SANDBOX_SCHEMA, default: {} },
    server: {
      type: 'object',
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
        socket: { type: 'string', minLength: 1 },
        /**
         * Host names the API answers to besides loopback names and IP literals ("*": any).
         * Checked when set, and always without a token (http/host-check.ts).
         */
        allowedHosts: { type: 'array', items: { type: 'string', pattern: '^(\\*|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}))$', description: 'a host name such as "renderer.internal", or "*"' } },
        /** Required whenever the server listens beyond loopback. */
        token: { type: 'string', minLength: 16, description: 'a string of at least 16 characters' },
        maxConcurrentRuns: { type: 'integer', minimum: 1, maximum: 1024 },
        queueSize: { type: 'integer', minimum: 0, maximum: 100_000, default: 64 },
        queueTimeoutMs: { type: 'integer', minimum: 1, maximum: 3_600_000, default: 60_000 },
        bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 64 * MIB, default: 4 * MIB },
        /** A request (headers and body) must arrive whole within this time. */
        requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 3_600_000, default: 60_000 },
        maxUploadBytes: { type: 'integer', minimum: 1024, maximum: 64 * GIB, default: 2 * GIB },
        tableTtlSeconds: { type: 'integer', minimum: 1, maximum: 30 * 86_400, default: 3600 },
        /** Runs (and workflows) remembered in the state directory's records database, with their outputs. */
        runHistory: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
        /** And at most this many bytes of finished runs' results (JSON, logs, errors). */
        runHistoryBytes: { type: 'integer', minimum: MIB, maximum: 64 * GIB, default: GIB },
        /** And for at most this long after they ended. */
        runHistoryMaxAgeSeconds: { type: 'integer', minimum: 60, maximum: 365 * 86_400, default: 7 * 86_400 },
        /** How long an Idempotency-Key is remembered. */
        idempotencyWindowSeconds: { type: 'integer', minimum: 1, maximum: 30 * 86_400, default: 86_400 },
        /** A synchronous caller hung up before its run ended: cancel the run, or keep it going. */
        onClientDisconnect: { type: 'string', enum: ['cancel', 'keep'], default: 'cancel' },
        shutdownGraceMs: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 30_000 },
      },
    },
    pool: {
      type: 'object',
      default: {},
      properties: {
        /** Warm children kept ready; unset: the number of cores. 0 disables the pool. */
        size: { type: 'integer', minimum: 0, maximum: 256 },
      },
    },
    schedules: { type: 'array', items: SCHEDULE_SCHEMA, default: [] },
    callbacks: {
      type: 'object',
      default: {},
      properties: {
        /** callbackUrl must start with one of these (same origin, path under it); none: callbacks refused. */
        allowedUrlPrefixes: { type: 'array', items: { type: 'string', pattern: '^https?://[^\\s@]+$', description: 'an http(s) URL prefix without credentials, such as "https://engine.internal/hooks/"' }, default: [] },
        /** Signs every delivery (HMAC-SHA256); or RENDERER_CALLBACK_SECRET. Required when prefixes are set. */
        secret: { type: 'string', minLength: 16, description: 'a string of at least 16 characters' },
        maxAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 8 },
        initialDelayMs: { type: 'integer', minimum: 10, maximum: 3_600_000, default: 1000 },
        timeoutMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 10_000 },
      },
    },
    log: {
      type: 'object',
      default: {},
      properties: {
        level: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
      },
    },
  },
};

export interface Limits {
  timeoutMs: number;
  memoryMiB: number;
  maxProcesses: number;
  maxOutputBytes: number;
  maxResultBytes: number;
  maxLogBytes: number;
  maxParamsBytes: number;
  tmpSizeMiB: number;
  maxOpenFiles: number;
  cpuCores?: number;
}

/** Per-request limits an operator lets callers raise, and how far. */
export type LimitCeilings = { timeoutMs?: number; memoryMiB?: number };

export interface ValidationRules {
  allowedTypes: string[];
  checkUtf8: boolean;
  checkDictionaries: boolean;
  checkColumnNames: boolean;
  maxColumnNameBytes: number;
  maxColumns: number;
  maxBatches: number;
}

export interface SandboxSettings {
  uidRange: { first: number; count: number };
  hostDir: string;
  niceness: number;
  /** Refused when set (config/load.ts); kept in the schema only to say so. */
  stepUid?: number;
  stepGid?: number;
  bwrapPath: string;
  cgroupRoot?: string;
  requireCgroups: boolean;
  nodePermissionModel: boolean;
  useSnapshot: boolean;
}

export interface ScheduleConfig {
  name: string;
  cron: string;
  workflow: {
    steps: Array<{ step: string; params: unknown; timeoutMs?: number; memoryMiB?: number }>;
    input?: string;
  };
  outputDir: string;
  keep: number;
}

export interface Config {
  stateDir?: string;
  stepsDir?: string;
  dataRoot?: string;
  limits: Limits & { max: LimitCeilings };
  validation: ValidationRules;
  sandbox: SandboxSettings;
  server: {
    host: string;
    port: number;
    socket?: string;
    allowedHosts?: string[];
    token?: string;
    maxConcurrentRuns?: number;
    queueSize: number;
    queueTimeoutMs: number;
    bodyLimitBytes: number;
    requestTimeoutMs: number;
    maxUploadBytes: number;
    tableTtlSeconds: number;
    runHistory: number;
    runHistoryBytes: number;
    runHistoryMaxAgeSeconds: number;
    idempotencyWindowSeconds: number;
    onClientDisconnect: 'cancel' | 'keep';
    shutdownGraceMs: number;
  };
  pool: { size?: number };
  schedules: ScheduleConfig[];
  callbacks: CallbackConfig;
  log: { level: string };
}

export interface CallbackConfig {
  allowedUrlPrefixes: string[];
  secret?: string;
  maxAttempts: number;
  initialDelayMs: number;
  timeoutMs: number;
}
