/**
 * The schema of `toros.conf.yaml`: every section and key of every TOROS daemon,
 * declared once. The keys of the original TOROS Manager are kept exactly
 * (flow mappings, keys with spaces). {@link TorosConfig} is inferred from it;
 * `toros config check` and the README's table are rendered from it.
 *
 * A daemon that needs settings adds its section here, in one declaration
 * (`telescope: section("Telescope", { doc, keys: {...} })`).
 *
 * @module
 */
import {
  type ClipCenter,
  type CombineMethod,
  type IndiSwitchRef,
  indiSwitchToYaml,
  type LogLevel,
  type MinMaxClip,
  minMaxClipToYaml,
  type OverscanEstimate,
  type OverscanModel,
  overscanModelToYaml,
  readBoolean,
  readChoice,
  readCombine,
  readDatabaseUrl,
  readHostPort,
  readIndiSwitch,
  readIntegerIn,
  readLogLevel,
  readMinMaxClip,
  readNetworks,
  readNonEmptyString,
  readNumberIn,
  readNumberMap,
  readOptionalNumber,
  readOptionalPath,
  readOptionalToken,
  readOverscanEstimate,
  readOverscanModel,
  readPath,
  readPathList,
  readSigmaClip,
  readString,
  readStringList,
  redactSecret,
  redactUrlPassword,
  type SigmaClip,
  sigmaClipToYaml,
} from "./readers.ts";
import { addressSection, type ConfigOf, key, section } from "./schema.ts";

export type {
  ClipCenter,
  CombineMethod,
  IndiSwitchRef,
  LogLevel,
  MinMaxClip,
  OverscanEstimate,
  OverscanModel,
  SigmaClip,
};

/** Every section and key of `toros.conf.yaml`, under its property in {@link TorosConfig}, in display order. */
export const TOROS_SCHEMA = {
  preprocessorAddress: addressSection("Preprocessor Address", { service: "preprocessor", port: 8000 }),
  telescopeAddress: addressSection("Telescope Address", { service: "telescope daemon", port: 8001 }),
  schedulerAddress: addressSection("Scheduler Address", { service: "scheduler", port: 8002 }),
  domeAddress: addressSection("Dome Address", { service: "dome daemon", port: 8003 }),
  logging: section("Logging", {
    doc: "Where the log goes and how much of it",
    keys: {
      file: key("File", readOptionalPath, {
        default: (stateDir) => `${stateDir}/log/toros.log`,
        doc: "log file, rotated daily, 30 kept; `null` for stderr only",
      }),
      level: key("Log Level", readLogLevel, {
        default: "INFO",
        doc: "`DEBUG`, `INFO`, `WARNING` or `ERROR`",
      }),
    },
  }),
  database: section("Database", {
    doc: "The catalog of nights, exposures, products and jobs: exactly one of File or URL",
    oneOf: ["file", "url"],
    keys: {
      file: key("File", readPath, {
        optional: true,
        default: (stateDir) => `${stateDir}/toros.sqlite3`,
        doc: "SQLite catalog (or `URL: sqlite:PATH`)",
      }),
      url: key("URL", readDatabaseUrl, {
        optional: true,
        redact: redactUrlPassword,
        doc: "`postgres://user@host:5432/db` instead of `File`",
      }),
    },
  }),
  data: section("Data", {
    doc: "Where nights may be read",
    keys: {
      roots: key("Roots", readPathList, {
        default: ["/data/toros"],
        doc: "directories under which work orders may name nights",
      }),
    },
  }),
  reduction: section("Reduction", {
    doc: "How a night is calibrated (the defaults reproduce ccdproc's standard reduction)",
    keys: {
      combine: key("Combine", readCombine, { default: "median", doc: "`median`, `average` or `sum`" }),
      sigmaClip: key("Sigma Clip", readSigmaClip, {
        default: null,
        toYaml: sigmaClipToYaml,
        doc: "`{Low: 3, High: 3, Center: median}`: clip by standard deviations around the median (or `mean`)",
      }),
      minMaxClip: key("MinMax Clip", readMinMaxClip, {
        default: null,
        toYaml: minMaxClipToYaml,
        doc: "`{Min: 0, Max: 65000}`: drop pixel values outside",
      }),
      flatFloor: key("Flat Floor", readNumberIn(0, 1, "a flat floor (a number from 0 to 1)"), {
        default: 0.01,
        doc: "normalized flat values below this are raised to it",
      }),
      saturation: key("Saturation", readOptionalNumber, {
        default: null,
        doc: "ADU, when a frame has no `SATURATE` card",
      }),
      workers: key("Workers", readIntegerIn(0, 256, "a worker count (0 = one per core, up to 256)"), {
        default: 0,
        doc: "pixel workers; 0 = one per core",
      }),
      bandRows: key("Band Rows", readIntegerIn(1, 65536, "a row count (1-65536)"), {
        default: 64,
        doc: "rows streamed at a time from every frame",
      }),
      niceness: key("Niceness", readIntegerIn(0, 19, "a nice value (0-19)"), {
        default: 10,
        doc: "nice value of the service's reduction threads (Linux), 0-19",
      }),
      shareWhileServing: key("Share While Serving", readIntegerIn(1, 100, "a percent of the time (1-100)"), {
        default: 25,
        doc: "percent of the time the reduction keeps while requests arrive, 1-100",
      }),
      localWorker: key("Local Worker", readBoolean, {
        default: true,
        doc: "with a PostgreSQL catalog, also run night tasks here; `false`: only `toros serve worker` hosts",
      }),
      overscan: section("Overscan", {
        doc: "How the overscan level subtracted from each row is found",
        keys: {
          estimate: key("Estimate", readOverscanEstimate, {
            default: "median",
            doc: "`median`, `mean` or `clipped-mean` of each row's overscan pixels",
          }),
          model: key("Model", readOverscanModel, {
            default: "none",
            toYaml: overscanModelToYaml,
            doc: "`none` (each row its own estimate) or `polynomial N` (N 1-10, fitted along the rows)",
          }),
        },
      }),
      output: section("Output", {
        doc: "How products are written",
        keys: {
          format: key("Format", readChoice(["mef", "single"], "an output format (mef or single)"), {
            default: "mef",
            doc:
              "`mef`: SCI, BPM (bad-pixel mask) and ERR (1σ) HDUs; `single`: SCI only, saturated pixels NaN",
          }),
        },
      }),
      gain: key("Gain", readNumberIn(0.001, 1000, "a gain in e-/ADU (0.001-1000)"), {
        default: 1,
        doc: "e⁻/ADU for ERR when a frame has no `GAIN` card",
      }),
      readNoise: key("Read Noise", readNumberIn(0, 10000, "a read noise in e- (0-10000)"), {
        default: 10,
        doc: "e⁻ for ERR when a frame has no `RDNOISE` card",
      }),
      temperatureTolerance: key(
        "Temperature Tolerance",
        readNumberIn(0, 100, "a temperature difference in °C (0-100)"),
        {
          default: 2,
          doc:
            "°C a master dark's `CCD-TEMP`/`SET-TEMP` may differ from its frame's; beyond, said wherever used",
        },
      ),
      badPixels: section("Bad Pixels", {
        doc: "The bad-pixel map made from the masters (BPM bits 1 bad, 4 low flat response)",
        keys: {
          hotSigma: key("Hot Sigma", readNumberIn(1, 1000, "a number of standard deviations (1-1000)"), {
            default: 5,
            doc: "a master dark pixel this many robust σ above its neighbourhood is hot (bit 1)",
          }),
          deadResponse: key("Dead Response", readNumberIn(0, 1, "a flat response (0-1)"), {
            default: 0.2,
            doc: "a master flat pixel below this fraction of its neighbourhood is dead (bit 1)",
          }),
          lowResponse: key("Low Response", readNumberIn(0, 1, "a flat response (0-1)"), {
            default: 0.7,
            doc: "below this fraction of its neighbourhood, a pixel's flat response is low (bit 4)",
          }),
        },
      }),
      qualityControl: section("Quality Control", {
        doc:
          "Which frames make a master: verdicts recorded in the catalog and shown by `reduce` and `job_status`",
        keys: {
          maxSaturated: key("Max Saturated", readNumberIn(0, 100, "a percent of pixels (0-100)"), {
            default: 5,
            doc:
              "a calibration frame with this percent of its pixels saturated or more is kept out of masters",
          }),
          minFrames: key("Min Frames", readIntegerIn(1, 1000, "a frame count (1-1000)"), {
            default: 5,
            doc: "a master of fewer frames is made with a warning (or borrowed, see Few Frames)",
          }),
          fewFrames: key("Few Frames", readChoice(["warn", "borrow"], "warn or borrow"), {
            default: "warn",
            doc: "`warn`: make the master anyway; `borrow`: the closest good master of another night, if any",
          }),
          flatMin: key("Flat Min", readNumberIn(-1e9, 1e9, "a level in ADU"), {
            default: 1000,
            doc: "ADU: a flat whose median (after bias and dark) is lower is rejected",
          }),
          flatMax: key("Flat Max", readNumberIn(-1e9, 1e9, "a level in ADU"), {
            default: 50000,
            doc: "ADU: a flat whose median (after bias and dark) is higher is rejected",
          }),
        },
      }),
      masterComparison: section("Master Comparison", {
        doc: "A new master against the previous one of its kind: flagged (still used) beyond these",
        keys: {
          maxLevelChange: key("Max Level Change", readNumberIn(0, 1000, "a percent (0-1000)"), {
            default: 10,
            doc: "percent the median may move from the previous master's",
          }),
          maxChanged: key("Max Changed", readNumberIn(0, 100, "a percent of pixels (0-100)"), {
            default: 1,
            doc: "percent of pixels that may differ from the previous master by more than Changed Sigma",
          }),
          changedSigma: key(
            "Changed Sigma",
            readNumberIn(1, 1000, "a number of standard deviations (1-1000)"),
            {
              default: 5,
              doc: "robust σ of the difference beyond which a pixel counts as changed",
            },
          ),
        },
      }),
    },
  }),
  telescope: section("Telescope", {
    doc: "The telescope daemon's instruments, driven through INDI",
    keys: {
      name: key("Name", readNonEmptyString, {
        default: "CTMO",
        doc: "this telescope; Observation orders for another `Telescope Name` are refused",
      }),
      indiServer: key("INDI Server", readHostPort, {
        default: "localhost:7624",
        doc: "`host:port` of the INDI server (`indiserver`)",
      }),
      mount: key("Mount", readNonEmptyString, {
        default: "Telescope Simulator",
        doc: "INDI device name of the mount",
      }),
      camera: key("Camera", readNonEmptyString, {
        default: "CCD Simulator",
        doc: "INDI device name of the camera",
      }),
      filterWheel: key("Filter Wheel", readNonEmptyString, {
        default: "Filter Simulator",
        doc: "INDI device name of the filter wheel",
      }),
      filters: key("Filters", readStringList, {
        default: ["U", "B", "V", "R", "I"],
        doc: "filter names by wheel slot (1..n), written into the wheel's `FILTER_NAME`",
      }),
      dataRoot: key("Data Root", readPath, {
        default: "/data/toros",
        doc: "nights are written to `<Data Root>/<night date>/` (keep it inside `Data.Roots`)",
      }),
      retrySeconds: key("Retry Seconds", readIntegerIn(1, 3600, "a number of seconds (1-3600)"), {
        default: 30,
        doc: "an order waits this long before trying again when the INDI server is not running",
      }),
      calibration: section("Calibration", {
        doc: "The calibration series an order with `Calibration Frames: Yes` adds",
        keys: {
          bias: key("Bias", readIntegerIn(0, 100, "a frame count (0-100)"), {
            default: 5,
            doc: "bias frames",
          }),
          dark: key("Dark", readIntegerIn(0, 100, "a frame count (0-100)"), {
            default: 5,
            doc: "dark frames, at the order's exposure time",
          }),
          flat: key("Flat", readIntegerIn(0, 100, "a frame count (0-100)"), {
            default: 5,
            doc: "flat frames, in the order's filter",
          }),
          flatExposure: key(
            "Flat Exposure",
            readNumberIn(0.001, 3600, "an exposure in seconds (0.001-3600)"),
            {
              default: 1.0,
              doc: "seconds per flat",
            },
          ),
        },
      }),
    },
  }),
  dome: section("Dome", {
    doc: "The dome daemon's dome and weather station, and the mount it parks when the weather turns",
    keys: {
      indiServer: key("INDI Server", readHostPort, {
        default: "localhost:7624",
        doc: "`host:port` of the INDI server with the dome, the weather station and the mount",
      }),
      dome: key("Dome", readNonEmptyString, {
        default: "Dome Simulator",
        doc: "INDI device name of the dome (shutter, park, slaving)",
      }),
      weather: key("Weather", readNonEmptyString, {
        default: "Weather Simulator",
        doc: "INDI device name of the weather station, whose `WEATHER_STATUS` is watched",
      }),
      mount: key("Mount", readNonEmptyString, {
        default: "Telescope Simulator",
        doc: "INDI device name of the mount, parked by the dome when the telescope service does not",
      }),
      reopenAfterMinutes: key(
        "Reopen After Minutes",
        readNumberIn(0.01, 1440, "a number of minutes (0.01-1440)"),
        { default: 10, doc: "minutes of continuous safe weather before a dome the weather closed reopens" },
      ),
      telescopeTimeout: key("Telescope Timeout", readNumberIn(0.1, 60, "a number of seconds (0.1-60)"), {
        default: 5,
        doc: "seconds the telescope service has to answer `weather_alert` before the dome parks the mount",
      }),
      motionTimeout: key("Motion Timeout", readIntegerIn(10, 3600, "a number of seconds (10-3600)"), {
        default: 300,
        doc: "seconds a shutter, dome or mount motion may take before it counts as failed",
      }),
      retrySeconds: key("Retry Seconds", readIntegerIn(1, 3600, "a number of seconds (1-3600)"), {
        default: 30,
        doc: "a Dome order waits this long before trying again when the INDI server is not running",
      }),
      warningLight: key("Warning Light", readIndiSwitch, {
        default: null,
        toYaml: indiSwitchToYaml,
        doc: "`{Device: D, Property: P, Member: M}`: the switch `BlinkNN` turns on and off NN times",
      }),
    },
  }),
  site: section("Site", {
    doc: "Where the observatory is (night dates, ephemerides)",
    keys: {
      latitude: key("Latitude", readNumberIn(-90, 90, "a latitude in degrees (-90 to 90)"), {
        default: 25.99,
        doc: "degrees, north positive",
      }),
      longitude: key("Longitude", readNumberIn(-180, 180, "a longitude in degrees (-180 to 180)"), {
        default: -97.57,
        doc: "degrees, east positive",
      }),
      elevation: key("Elevation", readNumberIn(-500, 9000, "an elevation in metres (-500 to 9000)"), {
        default: 12,
        doc: "metres above sea level",
      }),
    },
  }),
  scheduler: section("Scheduler", {
    doc: "When the scheduler sends Observation orders to the telescope, and their priorities",
    keys: {
      altitudeLimit: key("Altitude Limit", readNumberIn(0, 90, "an altitude in degrees (0-90)"), {
        default: 30,
        doc: "degrees: a target lower than this waits",
      }),
      airmassLimit: key("Airmass Limit", readNumberIn(1, 40, "an airmass (1-40)"), {
        default: 2.0,
        doc: "a target at a higher airmass waits",
      }),
      twilight: key("Twilight", readNumberIn(-18, 0, "a Sun altitude in degrees (-18 to 0)"), {
        default: -12,
        doc: "degrees: observations only while the Sun is below this",
      }),
      moonSeparation: key("Moon Separation", readNumberIn(0, 180, "an angle in degrees (0-180)"), {
        default: 30,
        doc: "degrees: a target closer to the Moon waits",
      }),
      cycleSeconds: key("Cycle Seconds", readNumberIn(0.1, 3600, "a number of seconds (0.1-3600)"), {
        default: 10,
        doc: "how often the scheduler looks at the sky, the queue and the services",
      }),
      useDome: key("Use Dome", readBoolean, {
        default: true,
        doc: "send observations only while the dome service says it is open and the weather safe",
      }),
      priorityPolicy: section("Priority Policy", {
        doc: "The Priority (0-10) of an order that comes without one",
        keys: {
          default: key("Default", readNumberIn(0, 10, "a priority (0-10)"), {
            default: 5,
            doc: "the priority of an order whose `Type of job` is not listed",
          }),
          jobTypes: key("Job Types", readNumberMap(0, 10, "priorities (0-10)"), {
            default: { "Target of Opportunity": 9, Research: 5, Monitoring: 4, Calibration: 3, Test: 1 },
            doc: "priority by the order's `Type of job`",
          }),
          users: key("Users", readNumberMap(-10, 10, "priority changes (-10 to 10)"), {
            default: {},
            doc: "added for the order's `User`, e.g. `{Main Module: 1}`",
          }),
          agingPerHour: key("Aging Per Hour", readNumberIn(0, 10, "a priority per hour (0-10)"), {
            default: 0.5,
            doc: "added for each hour an order has waited (up to 10), so nothing waits forever",
          }),
        },
      }),
    },
  }),
  security: section("Security", {
    doc: "Optional protections for the XML-RPC services",
    keys: {
      token: key("Token", readOptionalToken, {
        default: null,
        redact: redactSecret,
        doc: "shared secret, HTTP Basic password or Bearer token",
      }),
      allowedNetworks: key("Allowed Networks", readNetworks, {
        default: [],
        doc: "client CIDRs allowed, e.g. `[127.0.0.1/32, 10.0.0.0/8]`; empty = any",
      }),
      corsOrigin: key("CORS Origin", readString, {
        default: "*",
        doc: '`Access-Control-Allow-Origin` for browsers; `""` sends none',
      }),
      maxBodyBytes: key(
        "Max Body Bytes",
        readIntegerIn(1024, 1024 * 1024 * 1024, "a body size in bytes (1024 to 1 GiB)"),
        { default: 1024 * 1024, doc: "larger requests get HTTP 413" },
      ),
      requestTimeoutSeconds: key(
        "Request Timeout",
        readNumberIn(1, 3600, "a timeout in seconds (1-3600)"),
        {
          default: 30,
          doc: "seconds a client has to send a request's headers and body before it is cut off, 1-3600",
        },
      ),
    },
  }),
};

/** The whole effective configuration, as {@link TOROS_SCHEMA} declares it. */
export interface TorosConfig extends ConfigOf<typeof TOROS_SCHEMA> {
  /** Directory for state when defaults are used ($XDG_STATE_HOME/toros or ~/.local/state/toros). */
  stateDir: string;
}

/** `Preprocessor Address:` (and every `X Address:`): where an XML-RPC service listens. */
export type AddressConfig = TorosConfig["preprocessorAddress"];
/** `Logging:` */
export type LoggingConfig = TorosConfig["logging"];
/** `Database:`: exactly one of `file` or `url` is set after loading. */
export type DatabaseConfig = TorosConfig["database"];
/** `Data:` */
export type DataConfig = TorosConfig["data"];
/** `Reduction:`: how a night is calibrated. */
export type ReductionConfig = TorosConfig["reduction"];
/** `Reduction: Overscan:` */
export type OverscanConfig = ReductionConfig["overscan"];
/** `Telescope:`: the telescope daemon's instruments. */
export type TelescopeConfig = TorosConfig["telescope"];
/** `Dome:`: the dome daemon's dome, weather station and the mount it parks. */
export type DomeConfig = TorosConfig["dome"];
/** `Site:`: where the observatory is. */
export type SiteConfig = TorosConfig["site"];
/** `Scheduler:`: when observations are sent, and their priorities. */
export type SchedulerConfig = TorosConfig["scheduler"];
/** `Security:`: optional protections for the XML-RPC services. */
export type SecurityConfig = TorosConfig["security"];
