// The sharp side of bench/variants.py: the same variants as offload.media.images.make_variants.
//
// A line protocol so that the bench can interleave runs with its own (the machine's load then
// hits both sides alike): each stdin line is one JSON request, each stdout line one JSON answer.
//   request = {path, widths: [640, 1024, 1920], formats: ["webp", "avif"], quality: 80,
//              thumbnail: 256, webpEffort: 4, avifEffort: 1, chroma: "4:2:0", defaults: false,
//              outdir: null | "/tmp/x"}
//   answer  = {seconds, cpuSeconds, variants: [{kind, format, width, height, bytes, file}]}
// The first line answered is {sharp: versions, concurrency}. With defaults=true sharp gets no
// quality/effort/chroma options (its own defaults). seconds covers making every variant from the
// input bytes already in memory; with outdir the outputs are then written there (not timed).
//
// The pipeline is idiomatic sharp: one sharp() per input, .rotate() for EXIF orientation, a
// clone() per output (each clone shrinks-on-load on its own), all outputs awaited together so
// libuv's pool and libvips' threads run them in parallel.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import sharp from "sharp";

function encoderOptions(job, format) {
  if (job.defaults) return {};
  if (format === "webp") return { quality: job.quality, effort: job.webpEffort };
  return { quality: job.quality, effort: job.avifEffort, chromaSubsampling: job.chroma };
}

async function makeVariants(job, input) {
  const meta = await sharp(input).metadata();
  const width = meta.autoOrient.width;
  let widths = [...new Set(job.widths.filter((w) => w <= width))].sort((a, b) => b - a);
  if (widths.length === 0) widths = [width];
  const base = sharp(input).rotate();
  const outputs = [];
  for (const w of widths) {
    for (const format of job.formats) {
      outputs.push(
        base
          .clone()
          .resize({ width: w, withoutEnlargement: true })
          [format](encoderOptions(job, format))
          .toBuffer({ resolveWithObject: true })
          .then(({ data, info }) => ({ kind: "variant", format, width: info.width, height: info.height, data })),
      );
    }
  }
  if (job.thumbnail) {
    const side = Math.min(job.thumbnail, width, meta.autoOrient.height);
    outputs.push(
      base
        .clone()
        .resize(side, side, { fit: "cover", position: "centre" })
        .webp(encoderOptions(job, "webp"))
        .toBuffer({ resolveWithObject: true })
        .then(({ data, info }) => ({ kind: "thumbnail", format: "webp", width: info.width, height: info.height, data })),
    );
  }
  return Promise.all(outputs);
}

const inputs = new Map();
process.stdout.write(`${JSON.stringify({ sharp: sharp.versions, concurrency: sharp.concurrency() })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const job = JSON.parse(line);
  if (!inputs.has(job.path)) inputs.set(job.path, readFileSync(job.path));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const variants = await makeVariants(job, inputs.get(job.path));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stem = basename(job.path).replace(/\.[^.]+$/, "");
  if (job.outdir) mkdirSync(job.outdir, { recursive: true });
  const answer = variants.map((v) => {
    const name = v.kind === "thumbnail" ? `thumb-${v.width}.${v.format}` : `${v.width}w.${v.format}`;
    const file = job.outdir ? join(job.outdir, `${stem}-${name}`) : null;
    if (file) writeFileSync(file, v.data);
    return { kind: v.kind, format: v.format, width: v.width, height: v.height, bytes: v.data.length, file };
  });
  process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, variants: answer })}\n`);
}
