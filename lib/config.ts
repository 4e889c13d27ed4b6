/**
 * `toros.conf.yaml`: the configuration of every TOROS daemon, with the keys of
 * the original TOROS Manager kept exactly (flow mappings, keys with spaces).
 *
 * CONTRACT (shared by all modules; the loader is filled in by the config work):
 * the exported types and `defaultConfig()` below are what other modules rely on.
 *
 * @module
 */

/** Log levels of the original, in increasing severity. */
export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR";

/** How frames are combined into a master. */
export type CombineMethod = "median" | "average" | "sum";

/** `Preprocessor Address:` — where the XML-RPC service listens. */
export interface AddressConfig {
  /** `HTTP`: the URL clients use, e.g. `http://localhost:8000/`. */
  http: string;
  /** `IP`: the address to bind (the original ignored it; we honour it). */
  ip: string;
  /** `Port`: TCP port, 1-65535. */
  port: number;
}

/** `Logging:` */
export interface LoggingConfig {
  /** `File`: log file path, rotated daily, 30 kept; empty string disables the file. */
  file: string;
  /** `Log Level` */
  level: LogLevel;
}

/** `Database:` — exactly one of `file` or `url` is set after loading. */
export interface DatabaseConfig {
  /** `File`: SQLite database path (the embedded default). */
  file?: string;
  /** `URL`: `sqlite:PATH` or `postgres://user@host:5432/db`. */
  url?: string;
}

/** `Data:` */
export interface DataConfig {
  /** `Roots`: directories under which nights may be read (work orders outside are refused). */
  roots: string[];
}

/** `Reduction:` — how a night is calibrated. */
export interface ReductionConfig {
  /** `Combine`: combine method for masters (default median, as ccdproc's standard reduction). */
  combine: CombineMethod;
  /** `Sigma Clip`: `{Low, High}` in standard deviations around the median, or null for none (default). */
  sigmaClip: { low: number; high: number } | null;
  /** `MinMax Clip`: `{Min, Max}` pixel values outside which inputs are rejected, or null (default). */
  minMaxClip: { min: number; max: number } | null;
  /** `Flat Floor`: normalized flat values below this are replaced by it (avoids division blow-up); default 0.01... */
  flatFloor: number;
  /** `Saturation`: ADU level above which raw pixels are flagged, when the frame has no `SATURATE` card; null = none. */
  saturation: number | null;
  /** `Workers`: number of pixel workers; 0 = one per core (default). */
  workers: number;
  /** `Band Rows`: rows per streamed band (default 64). */
  bandRows: number;
}

/** `Security:` — optional protections for the XML-RPC service. */
export interface SecurityConfig {
  /** `Token`: shared secret, sent as HTTP Basic password or Bearer token; null = no authentication. */
  token: string | null;
  /** `Allowed Networks`: CIDR blocks allowed to connect (empty = any). */
  allowedNetworks: string[];
  /** `CORS Origin`: value of Access-Control-Allow-Origin ("" = no CORS headers). */
  corsOrigin: string;
  /** `Max Body Bytes`: largest accepted request body (default 1 MiB). */
  maxBodyBytes: number;
}

/** The whole effective configuration. */
export interface TorosConfig {
  preprocessorAddress: AddressConfig;
  logging: LoggingConfig;
  database: DatabaseConfig;
  data: DataConfig;
  reduction: ReductionConfig;
  security: SecurityConfig;
  /** Directory for state when defaults are used ($XDG_STATE_HOME/toros or ~/.local/state/toros). */
  stateDir: string;
}

/** The state directory used by embedded defaults. */
export function defaultStateDir(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): string {
  const xdg = env("XDG_STATE_HOME");
  if (xdg) return `${xdg}/toros`;
  const home = env("HOME") ?? ".";
  return `${home}/.local/state/toros`;
}

/** The embedded defaults: a newcomer needs no config file and no root. */
export function defaultConfig(stateDir: string = defaultStateDir()): TorosConfig {
  return {
    preprocessorAddress: { http: "http://localhost:8000/", ip: "localhost", port: 8000 },
    logging: { file: `${stateDir}/log/toros.log`, level: "INFO" },
    database: { file: `${stateDir}/toros.sqlite3` },
    data: { roots: ["/data/toros"] },
    reduction: {
      combine: "median",
      sigmaClip: null,
      minMaxClip: null,
      flatFloor: 0.01,
      saturation: null,
      workers: 0,
      bandRows: 64,
    },
    security: { token: null, allowedNetworks: [], corsOrigin: "*", maxBodyBytes: 1024 * 1024 },
    stateDir,
  };
}
