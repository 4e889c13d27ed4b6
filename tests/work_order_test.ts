import { assertEquals, assertThrows } from "./_assert.ts";
import { parseWorkOrder, WorkOrderError, WrongServiceError } from "../lib/work_order.ts";

// The work orders of the original TOROS Manager documentation and test scripts.
const OBSERVATION = {
  ID: "1",
  WOType: "Observation",
  "Telescope Name": "CTMO",
  RA: 23.1,
  Dec: 13.2,
  Filter: "I",
  "Exposure Time": 30.0,
  "Number of Exposures": 1,
  Priority: 1.3,
  Datetime: "2019-03-05T14:34:54.234",
  User: "Main Module",
  "Type of job": "Research",
  "Type of object": "Galaxy",
  "Calibration Frames": "Yes",
  Output: "Analysis",
};
const DOME = {
  ID: "1",
  WOType: "Dome",
  Priority: 2,
  Datetime: "2019-03-05T14:34:54.234",
  User: "John Doe",
  Blink01: true,
};

Deno.test("the original's calibration request and the WOType form are accepted", () => {
  const original = parseWorkOrder({
    ID: 7,
    Request: "Exposure Calibration",
    "File Location": "/data/toros/night",
  });
  assertEquals(original, {
    kind: "calibration",
    id: "7",
    priority: null,
    datetime: null,
    user: null,
    location: "/data/toros/night",
  });
  const typed = parseWorkOrder({
    ID: "cal-1",
    WOType: "Calibration",
    "File Location": "file:///data/toros/2026%2011",
    Priority: 7.5,
    Datetime: "2019-03-05T14:34:54.234",
    User: "Main Module",
  });
  assertEquals(typed.location, "/data/toros/2026 11");
  assertEquals(typed.priority, 7.5);
  assertEquals(typed.datetime?.toISOString(), "2019-03-05T14:34:54.234Z");
  assertEquals(
    parseWorkOrder({ ...typed, ID: "x", WOType: "Calibration", "File Location": "/n", Priority: null })
      .priority,
    null,
  );
});

Deno.test("Observation and Dome orders are for the telescope and dome services", () => {
  const telescope = assertThrows(() => parseWorkOrder(OBSERVATION), WrongServiceError) as WrongServiceError;
  assertEquals(telescope.service, "telescope");
  assertEquals(
    telescope.message,
    'Work orders of type "Observation" are handled by the telescope service, not the preprocessor',
  );
  assertEquals(
    (assertThrows(() => parseWorkOrder(DOME), WrongServiceError) as WrongServiceError).service,
    "dome",
  );
});

Deno.test("every bad key is named with what was expected", () => {
  const base = { ID: "1", WOType: "Calibration", "File Location": "/data/n" };
  const cases: [Record<string, unknown> | unknown, string, string][] = [
    ["not a struct", "", "is not a struct"],
    [{ ...base, ID: undefined }, "ID", "is missing"],
    [{ ...base, ID: 1.5 }, "ID", "1.5 is not a string or an integer"],
    [{ ...base, ID: ["a"] }, "ID", "an array is not a string or an integer"],
    [{ ...base, WOType: 3 }, "WOType", "3 is not a string"],
    [{ ...base, WOType: "Spectroscopy" }, "WOType", '"Spectroscopy" is not a work order type'],
    [{ ID: "1", "File Location": "/n" }, "WOType", "is missing"],
    [
      { ID: "1", Request: "Make Coffee", "File Location": "/n" },
      "Request",
      "is not a request the preprocessor knows",
    ],
    [{ ...base, Priority: 11 }, "Priority", "11 is not a number from 0 to 10"],
    [{ ...base, Priority: "high" }, "Priority", '"high" is not a number from 0 to 10'],
    [{ ...base, Datetime: "yesterday" }, "Datetime", "is not an ISO 8601 date"],
    [{ ...base, Datetime: 5 }, "Datetime", "5 is not an ISO 8601 date string"],
    [{ ...base, User: {} }, "User", "a struct is not a non-empty string"],
    [{ ...base, "File Location": undefined }, "File Location", "is missing"],
    [{ ...base, "File Location": 42 }, "File Location", "42 is not a non-empty string"],
    [{ ...base, "File Location": "relative/night" }, "File Location", "is not an absolute path"],
    [{ ...base, "File Location": "http://example.org/night" }, "File Location", "is a http: URL"],
    [{ ...base, "File Location": "file://otherhost/night" }, "File Location", "names host otherhost"],
  ];
  for (const [order, key, text] of cases) {
    const error = assertThrows(() => parseWorkOrder(order), WorkOrderError) as WorkOrderError;
    assertEquals(error.key, key, JSON.stringify(order));
    if (!error.message.includes(text)) throw new Error(`${error.message} lacks ${text}`);
  }
});

Deno.test("the telescope takes the original Observation order, and names the key of a bad one", () => {
  const telescope = { accepts: ["observation"] as const, service: "telescope" };
  const order = parseWorkOrder(OBSERVATION, telescope);
  assertEquals(order.kind, "observation");
  if (order.kind !== "observation") return;
  assertEquals(
    [order.telescope, order.ra, order.dec, order.filter, order.exposureTime, order.exposures],
    ["CTMO", 23.1, 13.2, "I", 30, 1],
  );
  assertEquals([order.calibrationFrames, order.output, order.jobType, order.objectType], [
    true,
    "analysis",
    "Research",
    "Galaxy",
  ]);
  const sexagesimal = parseWorkOrder(
    { ...OBSERVATION, RA: "05:35:17.3", Dec: "-05 23 28", Output: "Raw" },
    telescope,
  );
  if (sexagesimal.kind !== "observation") throw new Error("not an observation");
  assertEquals(Math.round(sexagesimal.ra * 1e6) / 1e6, Math.round((5 + 35 / 60 + 17.3 / 3600) * 1e6) / 1e6);
  assertEquals(Math.round(sexagesimal.dec * 1e6) / 1e6, Math.round(-(5 + 23 / 60 + 28 / 3600) * 1e6) / 1e6);
  assertEquals(sexagesimal.output, "raw");
  const cases: [Record<string, unknown>, string, string][] = [
    [{ RA: 24.5 }, "RA", "is not a right ascension in hours"],
    [{ RA: "25:00:00" }, "RA", "is not a right ascension in hours"],
    [{ Dec: -91 }, "Dec", "is not a declination in degrees"],
    [{ "Exposure Time": 0 }, "Exposure Time", "is not an exposure time"],
    [{ "Number of Exposures": 2.5 }, "Number of Exposures", "is not a whole number of exposures"],
    [{ "Telescope Name": "" }, "Telescope Name", "is not a non-empty string"],
    [{ Filter: undefined }, "Filter", "is missing"],
    [{ "Calibration Frames": "maybe" }, "Calibration Frames", "is not Yes or No"],
    [{ Output: "Reduced" }, "Output", "is not Analysis or Raw"],
  ];
  for (const [change, key, problem] of cases) {
    const error = assertThrows(
      () => parseWorkOrder({ ...OBSERVATION, ...change }, telescope),
      WorkOrderError,
    );
    assertEquals((error as WorkOrderError).key, key);
    assertEquals((error as WorkOrderError).message.includes(problem), true, (error as Error).message);
  }
  const calibration = assertThrows(
    () => parseWorkOrder({ ID: "c", Request: "Exposure Calibration", "File Location": "/n" }, telescope),
    WrongServiceError,
  ) as WrongServiceError;
  assertEquals(
    calibration.message,
    'Work orders of type "Calibration" are handled by the preprocessor service, not the telescope',
  );
});

Deno.test("the dome takes the original Dome order (Blink01) and named actions, refusing unknown keys by name", () => {
  const dome = { accepts: ["dome"] as const, service: "dome" };
  const original = parseWorkOrder(DOME, dome);
  assertEquals(original.kind === "dome" && original.actions, [{ action: "blink", times: 1 }]);
  const close = parseWorkOrder(
    { ID: "2", WOType: "Dome", "Close Shutter": true, Park: "Yes", Blink03: true },
    dome,
  );
  assertEquals(close.kind === "dome" && close.actions, [
    { action: "blink", times: 3 },
    { action: "close" },
    { action: "park" },
  ]);
  const cases: [Record<string, unknown>, string, string][] = [
    [{ Explode: true }, "Explode", "is not a dome action"],
    [{ Park: 1 }, "Park", "is not true or false"],
    [{ Park: false }, "", "names no action set to true"],
    [{ "Open Shutter": true, "Close Shutter": true }, "Close Shutter", "cannot be asked together"],
  ];
  for (const [keys, key, problem] of cases) {
    const error = assertThrows(
      () => parseWorkOrder({ ID: "d", WOType: "Dome", ...keys }, dome),
      WorkOrderError,
    );
    assertEquals((error as WorkOrderError).key, key);
    assertEquals((error as Error).message.includes(problem), true, (error as Error).message);
  }
});
