/**
 * The INDI client against the real simulators of indi-bin (one indiserver for
 * the whole file): the mount parked at start refuses a slew, unparks, slews
 * and tracks, aborts; the filter wheel turns; the CCD's image lands in a FITS
 * file; an exposure is aborted; the weather goes to Alert and back; killed
 * drivers' devices disappear (the CCD's mid-exposure). Exposures run at
 * SIM_TIME_FACTOR 0.1.
 */
import { assert, assertAlmostEquals, assertEquals, assertRejects, assertStringIncludes } from "./_assert.ts";
import { setSimulatedWeather, SIMULATOR_DEVICES, SIMULATORS, simulatorTest } from "./_indi.ts";
import { IndiError, IndiRejectedError, type NumberVector } from "../lib/indi/mod.ts";
import { BLOCK_SIZE, readHdus } from "../lib/fits/mod.ts";

const MOUNT = SIMULATOR_DEVICES.telescope;
const CCD = SIMULATOR_DEVICES.ccd;
const WHEEL = SIMULATOR_DEVICES.wheel;
const DOME = SIMULATOR_DEVICES.dome;
const WEATHER = SIMULATOR_DEVICES.weather;

await simulatorTest(
  "INDI client drives the simulators: mount, filter wheel, CCD, dome, weather",
  { parked: { telescope: true }, ccd: { timeFactor: 0.1 } },
  async (t, server) => {
    const client = await server.client({ timeoutMs: 20_000 });
    const dir = await Deno.makeTempDir({ prefix: "toros_indi_images_" });
    try {
      await t.step("connects every device and sees its properties", async () => {
        for (const device of [MOUNT, CCD, WHEEL, DOME, WEATHER]) await client.connectDevice(device);
        for (
          const [device, property] of [
            [MOUNT, "EQUATORIAL_EOD_COORD"],
            [MOUNT, "TELESCOPE_PARK"],
            [CCD, "CCD_EXPOSURE"],
            [CCD, "CCD1"],
            [WHEEL, "FILTER_SLOT"],
            [DOME, "DOME_SHUTTER"],
            [WEATHER, "WEATHER_STATUS"],
          ]
        ) {
          await client.waitForProperty(device, property);
        }
        assertEquals(client.devices().sort(), [CCD, DOME, WHEEL, MOUNT, WEATHER].sort());
        assertEquals(client.getSwitch(MOUNT, "CONNECTION", "CONNECT"), true);
        assertEquals(client.getVector(CCD, "CCD1")?.type, "blob");
        assertEquals(client.getVector(MOUNT, "TELESCOPE_PARK", "switch")?.rule, "OneOfMany");
      });

      await t.step("a slew while parked is rejected with the driver's reason", async () => {
        await client.waitUntil(MOUNT, "TELESCOPE_PARK", (v) => v.state === "Ok");
        assertEquals(client.getSwitch(MOUNT, "TELESCOPE_PARK", "PARK"), true);
        await client.setSwitch(MOUNT, "ON_COORD_SET", { TRACK: true });
        const error = await assertRejects(
          () => client.setNumber(MOUNT, "EQUATORIAL_EOD_COORD", { RA: 3, DEC: 10 }),
          IndiRejectedError,
          `"Telescope Simulator.EQUATORIAL_EOD_COORD" rejected the command (state Idle)`,
        );
        assertStringIncludes(error.message, "Please unpark the mount");
      });

      await t.step("unparks, then slews and tracks while the dome opens", async () => {
        await client.setSwitch(MOUNT, "TELESCOPE_PARK", { UNPARK: true });
        assertEquals(client.getSwitch(MOUNT, "TELESCOPE_PARK", "UNPARK"), true);
        const ra = (client.getNumber(MOUNT, "EQUATORIAL_EOD_COORD", "RA") + 0.5) % 24;
        const dec = 15;
        const shutter = client.setSwitch(DOME, "DOME_SHUTTER", { SHUTTER_OPEN: true });
        const slew = await client.setNumber(MOUNT, "EQUATORIAL_EOD_COORD", { RA: ra, DEC: dec });
        assertEquals(slew.state, "Ok");
        assertAlmostEquals(slew.members.get("RA")!.value, ra, 0.01);
        assertAlmostEquals(slew.members.get("DEC")!.value, dec, 0.01);
        await client.waitUntil(
          MOUNT,
          "TELESCOPE_TRACK_STATE",
          () => client.getSwitch(MOUNT, "TELESCOPE_TRACK_STATE", "TRACK_ON"),
        );
        assertEquals((await shutter).state, "Ok");
        assertEquals(client.getSwitch(DOME, "DOME_SHUTTER", "SHUTTER_OPEN"), true);
      });

      await t.step("an aborted slew is reported as stopped", async () => {
        const ra = client.getNumber(MOUNT, "EQUATORIAL_EOD_COORD", "RA");
        const slew = client.setNumber(MOUNT, "EQUATORIAL_EOD_COORD", { RA: (ra + 3) % 24, DEC: 40 });
        const stopped = assertRejects(
          () => slew,
          IndiRejectedError,
          "stopped before completing (state Idle)",
        );
        await client.waitUntil(MOUNT, "EQUATORIAL_EOD_COORD", (v) => v.state === "Busy");
        const abort = await client.setSwitch(MOUNT, "TELESCOPE_ABORT_MOTION", { ABORT: true });
        assertEquals(abort.state, "Ok");
        await stopped;
      });

      await t.step("selects a filter slot on the wheel", async () => {
        // The CCD simulator has a filter wheel of its own; pointing it at the wheel puts that
        // wheel's filter in the FITS header.
        await client.setText(CCD, "ACTIVE_DEVICES", { ACTIVE_FILTER: WHEEL });
        const slot = await client.setNumber(WHEEL, "FILTER_SLOT", { FILTER_SLOT_VALUE: 3 });
        assertEquals(slot.members.get("FILTER_SLOT_VALUE")!.value, 3);
        assertEquals(client.getText(WHEEL, "FILTER_NAME", "FILTER_SLOT_NAME_3"), "Blue");
        await assertRejects(
          () => client.setNumber(WHEEL, "FILTER_SLOT", { FILTER_SLOT_VALUE: 9 }),
          IndiError,
          `Value 9 for "Filter Simulator.FILTER_SLOT.FILTER_SLOT_VALUE" is out of range (expected 1 to 8)`,
        );
      });

      await t.step("a CCD exposure's BLOB lands in a file that is a valid FITS image", async () => {
        assertEquals(client.getNumber(CCD, "SIMULATOR_SETTINGS", "SIM_TIME_FACTOR"), 0.1);
        await client.setSwitch(CCD, "CCD_FRAME_TYPE", { FRAME_LIGHT: true });
        await client.setSwitch(CCD, "UPLOAD_MODE", { UPLOAD_CLIENT: true });
        await client.enableBlob(CCD, "Also");
        const path = `${dir}/light_001.fits`;
        const landed = client.expectBlob(CCD, { property: "CCD1", path });
        const exposure = await client.setNumber(CCD, "CCD_EXPOSURE", { CCD_EXPOSURE_VALUE: 2 });
        assertEquals(exposure.state, "Ok");
        const file = await landed;
        assertEquals([file.device, file.property, file.member, file.format], [CCD, "CCD1", "CCD1", ".fits"]);
        const stat = await Deno.stat(path);
        assertEquals(stat.size, file.bytes);
        assertEquals(file.size, file.bytes);

        const [primary] = await readHdus(path);
        assertEquals(primary.bitpix, 16);
        assertEquals(primary.shape, [1280, 1024]);
        assertEquals(
          primary.header.get("EXPTIME"),
          2,
          "EXPTIME is the exposure asked for, not the time factor's",
        );
        assertEquals(primary.header.get("FILTER"), "Blue");
        assertEquals(primary.header.get("IMAGETYP"), "Light Frame");
        assertEquals(primary.header.get("INSTRUME"), CCD);
        assertEquals(primary.header.get("TELESCOP"), MOUNT);
        assert(typeof primary.header.get("DATE-OBS") === "string");
        const padded = Math.ceil(primary.dataBytes / BLOCK_SIZE) * BLOCK_SIZE;
        assertEquals(stat.size, primary.dataOffset + padded, "the file ends with the padded data unit");
        assertEquals(primary.dataBytes, 1280 * 1024 * 2);
      });

      await t.step("an aborted exposure fails as stopped and sends no image", async () => {
        const landed = client.expectBlob(CCD, { path: `${dir}/aborted.fits`, timeoutMs: 1500 });
        const exposure = client.setNumber(CCD, "CCD_EXPOSURE", { CCD_EXPOSURE_VALUE: 30 }); // 3 s at factor 0.1
        const stopped = assertRejects(
          () => exposure,
          IndiRejectedError,
          `"CCD Simulator.CCD_EXPOSURE" stopped before completing (state Idle)`,
        );
        await client.waitUntil(CCD, "CCD_EXPOSURE", (v) => v.state === "Busy");
        await client.setSwitch(CCD, "CCD_ABORT_EXPOSURE", { ABORT: true });
        await stopped;
        await assertRejects(() => landed, IndiError, `waiting for "CCD Simulator" to send a BLOB`);
        assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["light_001.fits"]);
      });

      await t.step("the weather goes to Alert in the wind and back to Ok", async () => {
        assertEquals(client.getVector(WEATHER, "WEATHER_STATUS")?.state, "Ok");
        await setSimulatedWeather(client, { wind: 40 });
        await client.waitUntil(WEATHER, "WEATHER_STATUS", (v) => v.state === "Alert", { timeoutMs: 5000 });
        assertEquals(client.getLight(WEATHER, "WEATHER_STATUS", "WEATHER_WIND_SPEED"), "Alert");
        assertEquals(client.getNumber(WEATHER, "WEATHER_PARAMETERS", "WEATHER_WIND_SPEED"), 40);
        await setSimulatedWeather(client, { wind: 0 });
        await client.waitUntil(WEATHER, "WEATHER_STATUS", (v) => v.state === "Ok", { timeoutMs: 5000 });
        assertEquals(client.getLight(WEATHER, "WEATHER_STATUS", "WEATHER_WIND_SPEED"), "Ok");
      });

      await t.step(
        "the CCD driver killed mid-exposure fails the exposure and the awaited image",
        async () => {
          const landed = client.expectBlob(CCD, { path: `${dir}/never.fits`, timeoutMs: 10_000 });
          const exposure = client.setNumber(CCD, "CCD_EXPOSURE", { CCD_EXPOSURE_VALUE: 30 });
          const failed = assertRejects(
            () => exposure,
            IndiError,
            `"CCD Simulator.CCD_EXPOSURE" was deleted by the driver`,
          );
          await client.waitUntil(CCD, "CCD_EXPOSURE", (v) => v.state === "Busy");
          await server.killDriver(SIMULATORS.ccd);
          await failed;
          await assertRejects(
            () => landed,
            IndiError,
            `"CCD Simulator" was deleted by the driver while a BLOB was awaited`,
          );
          assert(!client.devices().includes(CCD));
        },
      );

      await t.step("a killed driver's device disappears and waits on it fail", async () => {
        const status = client.getVector(WEATHER, "WEATHER_STATUS")!;
        const waiting = client.waitUntil(WEATHER, "WEATHER_STATUS", () => false);
        const failed = assertRejects(
          () => waiting,
          IndiError,
          `"Weather Simulator.WEATHER_STATUS" was deleted`,
        );
        await server.killDriver(SIMULATORS.weather);
        await failed;
        assertEquals(status.defined, false);
        assert(!client.devices().includes(WEATHER));
        assertEquals(client.connection.state, "connected", "the server and the other drivers go on");
        const coord = client.getVector(MOUNT, "EQUATORIAL_EOD_COORD") as NumberVector;
        assert(coord.defined);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
