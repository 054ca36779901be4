import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomically } from './atomic-file-writer.js';

describe('writeFileAtomically', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-atomic-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes text, bytes and streamed content, creating parent directories, and leaves no temporary file', async () => {
    await writeFileAtomically(join(dir, 'a', 'b', 'text.json'), '{"a":1}\n');
    await writeFileAtomically(join(dir, 'bytes.bin'), new Uint8Array([0, 1, 255]));
    await writeFileAtomically(join(dir, 'stream.csv'), async (output) => {
      for (let i = 0; i < 1000; i++) output.write(`${i},row\n`);
    });
    expect(await readFile(join(dir, 'a', 'b', 'text.json'), 'utf8')).toBe('{"a":1}\n');
    expect([...(await readFile(join(dir, 'bytes.bin')))]).toEqual([0, 1, 255]);
    expect((await readFile(join(dir, 'stream.csv'), 'utf8')).split('\n')).toHaveLength(1001);
    expect((await readdir(dir)).sort()).toEqual(['a', 'bytes.bin', 'stream.csv']);
  });

  it('replaces an existing file and creates a new one with the mode asked for', async () => {
    const file = join(dir, 'state.json');
    await writeFile(file, 'old');
    await writeFileAtomically(file, 'new', { mode: 0o600 });
    expect(await readFile(file, 'utf8')).toBe('new');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('refuses to replace an existing file when overwrite is false, leaving it as it was', async () => {
    const file = join(dir, 'key.pem');
    await writeFile(file, 'the old key');
    await expect(writeFileAtomically(file, 'a new key', { overwrite: false })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(file, 'utf8')).toBe('the old key');
    expect(await readdir(dir)).toEqual(['key.pem']);
    await writeFileAtomically(join(dir, 'other.pem'), 'fresh', { overwrite: false });
    expect(await readFile(join(dir, 'other.pem'), 'utf8')).toBe('fresh');
  });

  it('leaves the target untouched and removes the temporary file when the content fails half-way', async () => {
    const file = join(dir, 'export.csv');
    await writeFile(file, 'the previous export\n');
    await expect(
      writeFileAtomically(file, async (output) => {
        output.write('half of it\n');
        throw new Error('the database went away');
      }),
    ).rejects.toThrow('the database went away');
    expect(await readFile(file, 'utf8')).toBe('the previous export\n');
    expect(await readdir(dir)).toEqual(['export.csv']);
  });

  it('fails with the file system error when the target is a directory, removing the temporary file', async () => {
    await mkdir(join(dir, 'taken'));
    await expect(writeFileAtomically(join(dir, 'taken'), 'x')).rejects.toHaveProperty('code');
    expect(await readdir(dir)).toEqual(['taken']);
  });
});
