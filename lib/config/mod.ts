/**
 * `toros.conf.yaml`: the configuration of every TOROS daemon, declared once as
 * a schema ({@link TOROS_SCHEMA}) from which the typed config, the defaults,
 * the validation messages, `toros config check` and the README's table come.
 *
 * Errors are collected, not thrown one at a time: each names the key path, the
 * line and column, the bad value and what was expected. Unknown keys warn with a
 * "did you mean" suggestion.
 *
 * @example
 * ```ts
 * import { loadConfigOrThrow } from "./mod.ts";
 * const config = await loadConfigOrThrow("/etc/toros/toros.conf.yaml");
 * config.preprocessorAddress.port; // 8000
 * ```
 *
 * @module
 */
export {
  type AddressConfig,
  type ClipCenter,
  type CombineMethod,
  type DatabaseConfig,
  type DataConfig,
  type DomeConfig,
  type LoggingConfig,
  type LogLevel,
  type MinMaxClip,
  type OverscanConfig,
  type OverscanEstimate,
  type OverscanModel,
  type ReductionConfig,
  type SchedulerConfig,
  type SecurityConfig,
  type SigmaClip,
  type SiteConfig,
  type TelescopeConfig,
  TOROS_SCHEMA,
  type TorosConfig,
} from "./toros_schema.ts";
export {
  CONFIG_KEYS,
  defaultConfig,
  defaultStateDir,
  loadConfig,
  loadConfigOrThrow,
  parseConfigText,
} from "./load.ts";
export {
  ConfigError,
  type ConfigIssue,
  defaultSources,
  loadConfigWith,
  type LoadedConfig,
  parseConfigWith,
  type ParseOptions,
  type ValueSource,
} from "./parse.ts";
export {
  type AddressEntries,
  addressSection,
  type AddressSectionOptions,
  type AnyKey,
  type ConfigOf,
  defaultsOf,
  type Entries,
  type Key,
  key,
  type OptionalKeyOptions,
  type Reader,
  type ReadResult,
  type RequiredKeyOptions,
  type Schema,
  type SchemaEntry,
  type Section,
  section,
  type SectionOptions,
  type ValueOf,
  walkSchema,
} from "./schema.ts";
export {
  formatYamlValue,
  readmeConfigTable,
  redactConfig,
  renderConfigTable,
  renderEffective,
  replaceReadmeConfigTable,
} from "./render.ts";
export * from "./readers.ts";
