/**
 * FITS read/write throughput against astropy in the same run: read a 4096×4096
 * uint16 frame into float32, and write a 4096×4096 float32 frame (with checksums
 * on both sides). `--quick` uses 1024×1024.
 *
 * @module
 */
import { FitsImageReader, Header, readImage, writeImage } from "../lib/fits/mod.ts";
import { machineLine, writeResultsSection } from "./_results.ts";

const quick = Deno.args.includes("--quick");
const size = quick ? 1024 : 4096;
const repeats = quick ? 2 : 5;

const ASTROPY = `
import sys, time, json, numpy as np
from astropy.io import fits
src, dst, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
read, write = [], []
for _ in range(repeats):
    t = time.perf_counter(); data = fits.getdata(src).astype(np.float32); read.append(time.perf_counter() - t)
    t = time.perf_counter(); fits.writeto(dst, data, overwrite=True, checksum=True); write.append(time.perf_counter() - t)
print(json.dumps({"read": min(read), "write": min(write)}))
`;

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "toros-fits-bench-" });
  try {
    const frame = new Float32Array(size * size);
    for (let i = 0; i < frame.length; i++) frame[i] = 1000 + ((i * 2654435761) % 4000);
    const raw = `${dir}/raw_u16.fits`;
    await writeImage(raw, new Header(), frame, { width: size, height: size, bitpix: 16, unsigned: true });
    const reads: number[] = [];
    const writes: number[] = [];
    for (let r = 0; r < repeats; r++) {
      let t = performance.now();
      const image = await readImage(raw);
      reads.push((performance.now() - t) / 1000);
      t = performance.now();
      await writeImage(`${dir}/ours_f32.fits`, new Header(), image.data, { width: size, height: size });
      writes.push((performance.now() - t) / 1000);
    }
    // The pipeline's way: every pixel decoded band by band into buffers it reuses.
    const bands: number[] = [];
    const bandRows = 64;
    const band = new Float32Array(bandRows * size).fill(0);
    for (let r = 0; r < repeats; r++) {
      const t = performance.now();
      const reader = await FitsImageReader.open(raw);
      for (let y = 0; y < size; y += bandRows) await reader.readRows(y, bandRows, band);
      reader.close();
      bands.push((performance.now() - t) / 1000);
    }
    const ours = { read: Math.min(...reads), bands: Math.min(...bands), write: Math.min(...writes) };
    const out = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", ASTROPY, raw, `${dir}/astropy_f32.fits`, String(repeats)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`astropy benchmark failed: ${new TextDecoder().decode(out.stderr)}`);
    const astropy = JSON.parse(new TextDecoder().decode(out.stdout));
    const mbRead = (size * size * 2) / 1e6;
    const mbWrite = (size * size * 4) / 1e6;
    const row = (what: string, mb: number, a: number, b: number) =>
      `| ${what} | ${(mb / a).toFixed(0)} MB/s (${(a * 1000).toFixed(0)} ms) | ${(mb / b).toFixed(0)} MB/s (${
        (b * 1000).toFixed(0)
      } ms) | ${(b / a).toFixed(2)}× |`;
    const markdown = [
      `## FITS I/O: toros vs astropy ${quick ? "(quick run)" : ""}`,
      "",
      `${size}×${size} frame, best of ${repeats}; ${await machineLine()}.`,
      "Read: uint16 (BZERO = 32768) file into float32. Write: float32 with DATASUM/CHECKSUM, fsync'd and renamed.",
      "",
      "| operation | toros | astropy | toros speed ÷ astropy |",
      "|---|---|---|---|",
      row("read uint16 → float32, a new array (`readImage` / `getdata`)", mbRead, ours.read, astropy.read),
      row("read uint16 → float32 in 64-row bands into reused buffers", mbRead, ours.bands, astropy.read),
      row("write float32 + checksums", mbWrite, ours.write, astropy.write),
      "",
      "A new array is dominated on this VM by first-touch page faults (about 12 µs per 4 KiB page: 200 ms for",
      "the 64 MiB result). numpy asks the kernel for transparent huge pages (`madvise`), which V8 cannot; the",
      "reduction never allocates per frame, so the band row is the figure that matters for `toros reduce`.",
    ].join("\n");
    console.log(markdown);
    await writeResultsSection("fits", markdown);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

await main();
