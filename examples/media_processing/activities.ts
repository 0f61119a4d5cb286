import { TerminalError, type ActivityContext } from 'weft/worker';
import { asArray, asNumber, asObject, asString, pause } from '../lib.ts';

/**
 * Activities of `media_processing` and its child blueprints `media_image`, `media_video` and
 * `media_document`. Deterministic: every output is a function of the item. The video transcode
 * takes longest on purpose, so that items finish out of order and the map must put them back in
 * item order.
 */

const stem = (name: string): string => name.replace(/\.[^.]*$/u, '');

/** `{name, width, height}` → a thumbnail at most 200 px wide, never upscaled. */
export const media_image_thumbnail = (
  input: unknown,
): { file: string; width: number; height: number } => {
  const { name, width, height } = asObject(input);
  const w = asNumber(width);
  const h = asNumber(height);
  if (w <= 0 || h <= 0) throw new TerminalError(`image '${asString(name)}' has no size`);
  const scale = Math.min(1, 200 / w);
  return {
    file: `thumb_${stem(asString(name))}.jpg`,
    width: Math.round(w * scale),
    height: Math.round(h * scale),
  };
};

/** `{width, height}` → tags for orientation and size. */
export const media_image_tags = (input: unknown): string[] => {
  const { width, height } = asObject(input);
  const w = asNumber(width);
  const h = asNumber(height);
  return [
    w > h ? 'landscape' : w < h ? 'portrait' : 'square',
    w * h >= 500_000 ? 'large' : 'small',
  ];
};

/** `{name, height}` → the standard renditions no taller than the source. Slow on purpose. */
export const media_video_transcode = async (
  input: unknown,
  ctx: ActivityContext,
): Promise<{ renditions: string[] }> => {
  await pause(300, ctx.signal);
  const height = asNumber(asObject(input).height);
  return { renditions: [360, 720, 1080, 2160].filter((r) => r <= height).map((r) => `${r}p`) };
};

/** `{name, seconds}` → a poster frame taken from the middle of the video. */
export const media_video_poster = (input: unknown): { poster: string; atSecond: number } => {
  const { name, seconds } = asObject(input);
  return {
    poster: `poster_${stem(asString(name))}.jpg`,
    atSecond: Math.floor(asNumber(seconds) / 2),
  };
};

/** `{name, pages}` → text statistics (250 words a page). */
export const media_document_extract = (input: unknown): { pages: number; words: number } => {
  const pages = asNumber(asObject(input).pages);
  return { pages, words: pages * 250 };
};

/** The map's results, in item order → how many of each kind, and the names in order. */
export const media_catalogue = (
  input: unknown,
): { count: number; kinds: Record<string, number>; names: string[] } => {
  const results = asArray(input).map(asObject);
  const kinds: Record<string, number> = {};
  for (const r of results) {
    const kind = asString(r.kind, 'unknown');
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return { count: results.length, kinds, names: results.map((r) => asString(r.name)) };
};
