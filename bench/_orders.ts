/**
 * The work order the front-desk benchmarks send: the Observation order of the
 * original documentation, which the preprocessor refuses with a fault naming
 * the telescope service (a whole request and answer, with no job made).
 *
 * @module
 */

/** The original's Observation work order. */
export const OBSERVATION_ORDER = {
  ID: "1",
  WOType: "Observation",
  "Telescope Name": "CTMO",
  RA: 23.1,
  Dec: 13.2,
  Filter: "I",
  "Exposure Time": 30.5,
  "Number of Exposures": 1,
  Priority: 1.3,
  Datetime: "2019-03-05T14:34:54.234",
  User: "Main Module",
  "Type of job": "Research",
  "Type of object": "Galaxy",
  "Calibration Frames": "Yes",
  Output: "Analysis",
};
