/**
 * Staged files: a product appears whole under its name or not at all, and a
 * large one is synced behind its writes.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { StagedFile, WRITE_BEHIND_BYTES } from "../lib/staged_file.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("a staged file appears under its name only when committed, and an abandoned one leaves nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const staged = await StagedFile.open(`${dir}/product.fits`);
    staged.file.writeSync(new Uint8Array([1, 2, 3]));
    staged.wrote(3);
    assert(!(await exists(`${dir}/product.fits`)));
    assert(await exists(staged.tempPath));
    await staged.commit();
    assertEquals(await Deno.readFile(`${dir}/product.fits`), new Uint8Array([1, 2, 3]));
    assert(!(await exists(staged.tempPath)));
    const abandoned = await StagedFile.open(`${dir}/other.fits`);
    abandoned.file.writeSync(new Uint8Array(10));
    await abandoned.abort();
    assertEquals([...Deno.readDirSync(dir)].map((entry) => entry.name), ["product.fits"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a large staged file is synced behind its writes, and commits whole, its bytes as written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const staged = await StagedFile.open(`${dir}/big.fits`);
    const chunk = new Uint8Array(1 << 20);
    const chunks = Math.ceil((3 * WRITE_BEHIND_BYTES) / chunk.length) + 1;
    for (let i = 0; i < chunks; i++) {
      chunk.fill(i & 0xff);
      staged.file.writeSync(chunk);
      staged.wrote(chunk.length);
      // Background syncs run while the writes go on (the event loop turns between bands in a sweep).
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await staged.commit();
    const bytes = await Deno.readFile(`${dir}/big.fits`);
    assertEquals(bytes.length, chunks * chunk.length);
    for (let i = 0; i < chunks; i++) assertEquals(bytes[i * chunk.length + 17], i & 0xff, `chunk ${i}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a staged file whose background sync fails never appears, and its abort still removes the temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const staged = await StagedFile.open(`${dir}/lost.fits`);
    // The file closed under the writer: its background sync cannot succeed.
    staged.file.close();
    staged.wrote(WRITE_BEHIND_BYTES);
    await assertRejects(() => staged.commit());
    assert(!(await exists(`${dir}/lost.fits`)));
    await staged.abort();
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
