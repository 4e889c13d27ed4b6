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
