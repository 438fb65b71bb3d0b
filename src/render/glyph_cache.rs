//! Rasterized glyphs, shared by every render.
//!
//! Outlining and rasterizing a glyph costs far more than blending it, and the
//! same few dozen glyphs at the same few sizes make up nearly every render,
//! so coverage masks are cached by face, glyph, size and subpixel offset. A
//! mask is a pure function of its key (the size and offset are the quantized
//! ones, never the exact layout values), so the cache cannot change a single
//! output byte: it only saves time.
//!
//! Color emoji have no outlines: their font (CBDT) holds a PNG per glyph at
//! one size. Those are decoded, scaled to the size asked for and kept as
//! premultiplied RGBA in the same cache, so a color glyph costs its decode
//! once.
//!
//! In front of the shared cache each thread keeps the small masks it
//! fetched last ([`NearMasks`]). A render looks up some sixty glyphs, and
//! in a busy server a trip into the shared cache (a hash, a concurrent
//! table, a note of the read for its eviction order, most of it out of the
//! CPU's caches by then) costs more than blending the glyph. A near hit is
//! not seen by the shared cache's eviction order, so once that cache is
//! full a glyph drawn often may be evicted there and rasterized again by
//! another thread; at the default 64 MiB the spike's glyphs never fill it.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ab_glyph::{Font, GlyphId, PxScale, point};
use image::imageops::FilterType;

use crate::render::canvas::mul_div255;
use crate::render::fonts::{Face, FontBook};

/// Subpixel positions per pixel along the baseline. Four keeps the spacing of
/// small text even without multiplying the cache by much.
pub(crate) const SUBPIXEL_STEPS: f32 = 4.0;

/// Sizes are quantized to 1/64 px, far below what anyone can see.
const SIZE_STEPS: f32 = 64.0;

/// The default byte budget of the cache: a 36 px glyph is about 1 KiB, so
/// this holds tens of thousands of glyphs, several scripts at several sizes.
pub const DEFAULT_GLYPH_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What identifies one rasterized glyph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GlyphKey {
    face: u16,
    glyph: u16,
    size_64ths: u32,
    subpixel_x: u8,
}

impl GlyphKey {
    /// The key of `glyph` of `face` at `size` px (the em), whose origin is
    /// `subpixel_x` (0 to 1) past a whole pixel.
    pub(crate) fn new(face: u16, glyph: GlyphId, size: f32, subpixel_x: f32) -> GlyphKey {
        GlyphKey {
            face,
            glyph: glyph.0,
            size_64ths: (size * SIZE_STEPS).round() as u32,
            subpixel_x: (subpixel_x * SUBPIXEL_STEPS)
                .round()
                .clamp(0.0, SUBPIXEL_STEPS - 1.0) as u8,
        }
    }
}

/// A glyph's pixels, positioned relative to its origin on the baseline.
#[derive(Debug)]
pub(crate) struct GlyphMask {
    /// Offset of the mask's top-left pixel from the origin; `top` is negative
    /// for the part above the baseline.
    pub(crate) left: i32,
    pub(crate) top: i32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) pixels: GlyphPixels,
}

/// What a glyph mask holds, row by row.
#[derive(Debug)]
pub(crate) enum GlyphPixels {
    /// Coverage, 0 to 255, one byte a pixel: drawn in the text's color.
    Coverage(Vec<u8>),
    /// Premultiplied RGBA, four bytes a pixel: a color glyph (an emoji)
    /// that keeps its own colors.
    Color(Vec<u8>),
}

impl GlyphPixels {
    fn len(&self) -> usize {
        match self {
            GlyphPixels::Coverage(bytes) | GlyphPixels::Color(bytes) => bytes.len(),
        }
    }
}

/// A bounded, thread-safe cache of glyph masks.
pub(crate) struct GlyphCache {
    masks: moka::sync::Cache<GlyphKey, Arc<GlyphMask>>,
    /// Tells this cache's near masks from another's on the same thread
    /// (each renderer has its own fonts, so its own masks).
    id: u64,
}

/// The next [`GlyphCache::id`].
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(0);

/// Slots of a thread's near masks, a power of two. Under the open spike's
/// cards (names in a dozen scripts, shrunk to fit, and numbers), 256 slots
/// answered 68% of lookups, 1,024 90% and 2,048 94% (counted with a
/// build that printed them, and a plainer mix of the key than
/// [`GlyphKey::near_slot`]'s).
const NEAR_SLOTS: usize = 2048;
const _: () = assert!(NEAR_SLOTS.is_power_of_two());

/// The largest mask kept near, in bytes: a text glyph up to about 45 px,
/// a color emoji up to about 22 px. Larger ones (headlines, large emoji)
/// are few and stay in the shared cache only, so a thread's near masks
/// hold at most 4 MiB, even of masks the shared cache has since let go.
/// That is outside `glyph_cache_bytes`, once per thread that renders: the
/// runtime's workers and those of the blocking pool that have run a long
/// render (the pool lets a thread go after 10 s idle, and its masks with
/// it).
const NEAR_MAX_BYTES: usize = 2048;

/// One thread's last masks, direct-mapped: a key has one slot, and the
/// newer of two keys that share it stays.
struct NearMasks {
    /// The cache the slots came from; a mask of another cache put here
    /// empties them first.
    cache: u64,
    slots: Vec<Option<(GlyphKey, Arc<GlyphMask>)>>,
}

thread_local! {
    static NEAR: RefCell<NearMasks> = const {
        RefCell::new(NearMasks { cache: u64::MAX, slots: Vec::new() })
    };
}

impl NearMasks {
    fn get(&self, cache: u64, key: GlyphKey) -> Option<Arc<GlyphMask>> {
        if self.cache != cache {
            return None;
        }
        match self.slots.get(key.near_slot())? {
            Some((kept, mask)) if *kept == key => Some(Arc::clone(mask)),
            _ => None,
        }
    }

    fn put(&mut self, cache: u64, key: GlyphKey, mask: &Arc<GlyphMask>) {
        if self.cache != cache || self.slots.is_empty() {
            self.cache = cache;
            self.slots.clear();
            self.slots.resize(NEAR_SLOTS, None);
        }
        self.slots[key.near_slot()] = Some((key, Arc::clone(mask)));
    }
}

impl GlyphKey {
    /// The key's slot among [`NEAR_SLOTS`]: its fields folded into one
    /// word and mixed (MurmurHash3's finalizer), so that every bit of
    /// every field moves the top bits, which pick the slot.
    fn near_slot(self) -> usize {
        let mut mixed = u64::from(self.face) << 48
            ^ u64::from(self.glyph) << 32
            ^ u64::from(self.size_64ths) << 2
            ^ u64::from(self.subpixel_x);
        mixed ^= mixed >> 33;
        mixed = mixed.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        mixed ^= mixed >> 33;
        mixed = mixed.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        (mixed >> (64 - NEAR_SLOTS.trailing_zeros())) as usize
    }
}

impl GlyphCache {
    pub(crate) fn new(max_bytes: u64) -> GlyphCache {
        let masks = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key, mask: &Arc<GlyphMask>| {
                u32::try_from(mask.pixels.len() + 64).unwrap_or(u32::MAX)
            })
            .build();
        GlyphCache {
            masks,
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Bytes of masks held now. moka counts lazily, so its pending
    /// bookkeeping is run first; this is for metrics scrapes, not renders.
    pub(crate) fn weighted_size(&self) -> u64 {
        self.masks.run_pending_tasks();
        self.masks.weighted_size()
    }

    /// The mask for `key`: this thread's near copy, or the shared
    /// cache's, or rasterized now.
    pub(crate) fn mask(&self, fonts: &FontBook, key: GlyphKey) -> Arc<GlyphMask> {
        if let Some(mask) = NEAR.with_borrow(|near| near.get(self.id, key)) {
            return mask;
        }
        let mask = self.masks.get_with(key, || Arc::new(rasterize(fonts, key)));
        if mask.pixels.len() <= NEAR_MAX_BYTES {
            NEAR.with_borrow_mut(|near| near.put(self.id, key, &mask));
        }
        mask
    }
}

/// Rasterizes one glyph from its key alone.
fn rasterize(fonts: &FontBook, key: GlyphKey) -> GlyphMask {
    let face = fonts.face(key.face);
    let size = key.size_64ths as f32 / SIZE_STEPS;
    if face.color {
        return scale_bitmap(face, key, size).unwrap_or_else(empty_mask);
    }
    // ab_glyph's scale is the height from descender to ascender, not the em.
    let scale = size * face.outlines().height_unscaled() / face.units_per_em;
    let origin = point(f32::from(key.subpixel_x) / SUBPIXEL_STEPS, 0.0);
    let glyph = GlyphId(key.glyph).with_scale_and_position(PxScale::from(scale), origin);
    let Some(outlined) = face.outlines().outline_glyph(glyph) else {
        return empty_mask();
    };
    let bounds = outlined.px_bounds();
    let width = bounds.width().max(0.0) as u32;
    let height = bounds.height().max(0.0) as u32;
    let mut coverage = vec![0u8; width as usize * height as usize];
    outlined.draw(|x, y, amount| {
        if x < width && y < height {
            coverage[(y * width + x) as usize] = (amount.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        }
    });
    GlyphMask {
        left: bounds.min.x as i32,
        top: bounds.min.y as i32,
        width,
        height,
        pixels: GlyphPixels::Coverage(coverage),
    }
}

/// The color bitmap of a glyph, decoded and scaled from the font's strike
/// to `size` px per em. `None` when the glyph has no bitmap (a space) or
/// the bitmap does not decode.
fn scale_bitmap(face: &Face, key: GlyphKey, size: f32) -> Option<GlyphMask> {
    let wanted_ppem = size.ceil().clamp(1.0, f32::from(u16::MAX)) as u16;
    let raster = face
        .shaper()
        .glyph_raster_image(rustybuzz::ttf_parser::GlyphId(key.glyph), wanted_ppem)?;
    if raster.format != rustybuzz::ttf_parser::RasterImageFormat::PNG || raster.pixels_per_em == 0 {
        return None;
    }
    let decoded = image::load_from_memory_with_format(raster.data, image::ImageFormat::Png)
        .ok()?
        .into_rgba8();
    let scale = size / f32::from(raster.pixels_per_em);
    let width = ((decoded.width() as f32 * scale).round() as u32).max(1);
    let height = ((decoded.height() as f32 * scale).round() as u32).max(1);
    // Catmull-Rom keeps the outlines of a 136 px drawing crisp at 20 px,
    // where a box filter would smear them.
    let scaled = image::imageops::resize(&decoded, width, height, FilterType::CatmullRom);
    let mut pixels = scaled.into_raw();
    for pixel in pixels.chunks_exact_mut(4) {
        let alpha = u32::from(pixel[3]);
        for channel in &mut pixel[..3] {
            *channel = mul_div255(u32::from(*channel), alpha);
        }
    }
    // The strike's offsets are in its pixels, y up from the baseline to
    // the bitmap's bottom edge.
    let left = (f32::from(raster.x) * scale).round() as i32;
    let bottom = (f32::from(raster.y) * scale).round() as i32;
    Some(GlyphMask {
        left,
        top: -(bottom + height as i32),
        width,
        height,
        pixels: GlyphPixels::Color(pixels),
    })
}

fn empty_mask() -> GlyphMask {
    GlyphMask {
        left: 0,
        top: 0,
        width: 0,
        height: 0,
        pixels: GlyphPixels::Coverage(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fonts() -> FontBook {
        FontBook::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"))
            .expect("bundled fonts load")
    }

    fn glyph_key(fonts: &FontBook, c: char, size: f32) -> GlyphKey {
        let face = fonts
            .chain("sans", crate::render::Weight::Regular)
            .expect("sans")[0];
        let glyph = fonts
            .face(face)
            .glyph_index(c)
            .expect("the face has the letter");
        GlyphKey::new(face, glyph, size, 0.25)
    }

    #[test]
    fn a_near_mask_is_the_shared_caches_mask() {
        let fonts = fonts();
        let cache = GlyphCache::new(DEFAULT_GLYPH_CACHE_BYTES);
        let key = glyph_key(&fonts, 'g', 22.0);
        let first = cache.mask(&fonts, key);
        assert!(
            NEAR.with_borrow(|near| near.get(cache.id, key)).is_some(),
            "the first lookup keeps the mask near"
        );
        let near = cache.mask(&fonts, key);
        assert!(
            Arc::ptr_eq(&first, &near),
            "the second lookup is the near copy"
        );
        assert!(Arc::ptr_eq(&near, &cache.masks.get(&key).expect("shared")));
    }

    #[test]
    fn keys_that_share_a_slot_each_get_their_own_mask() {
        let fonts = fonts();
        let cache = GlyphCache::new(DEFAULT_GLYPH_CACHE_BYTES);
        let a = glyph_key(&fonts, 'a', 22.0);
        let other = (1..40_000)
            .map(|step| glyph_key(&fonts, 'a', 22.0 + step as f32 / 64.0))
            .find(|key| key.near_slot() == a.near_slot())
            .expect("some size shares the slot");
        let mask_a = cache.mask(&fonts, a);
        let mask_other = cache.mask(&fonts, other);
        assert!(!Arc::ptr_eq(&mask_a, &mask_other));
        assert!(Arc::ptr_eq(&cache.mask(&fonts, a), &mask_a));
        assert!(Arc::ptr_eq(&cache.mask(&fonts, other), &mask_other));
    }

    #[test]
    fn keys_spread_over_nearly_every_slot() {
        let slots: std::collections::HashSet<usize> = (0..200u16)
            .flat_map(|glyph| {
                (0..40).map(move |step| {
                    GlyphKey::new(1, GlyphId(glyph), 12.0 + step as f32 / 2.0, 0.5).near_slot()
                })
            })
            .collect();
        assert!(
            slots.len() > NEAR_SLOTS * 9 / 10,
            "{} of {NEAR_SLOTS} slots used",
            slots.len()
        );
    }

    #[test]
    fn two_caches_on_one_thread_keep_their_own_masks() {
        let fonts = fonts();
        let (one, two) = (GlyphCache::new(1 << 20), GlyphCache::new(1 << 20));
        let key = glyph_key(&fonts, 'W', 30.0);
        let from_one = one.mask(&fonts, key);
        let from_two = two.mask(&fonts, key);
        assert!(
            !Arc::ptr_eq(&from_one, &from_two),
            "each cache rasterizes its own"
        );
        assert!(Arc::ptr_eq(&one.mask(&fonts, key), &from_one));
        assert!(Arc::ptr_eq(&two.mask(&fonts, key), &from_two));
    }

    #[test]
    fn a_large_mask_is_not_kept_near() {
        let fonts = fonts();
        let cache = GlyphCache::new(DEFAULT_GLYPH_CACHE_BYTES);
        let key = glyph_key(&fonts, 'M', 160.0);
        let mask = cache.mask(&fonts, key);
        assert!(mask.pixels.len() > NEAR_MAX_BYTES);
        assert!(NEAR.with_borrow(|near| near.get(cache.id, key)).is_none());
        assert!(
            Arc::ptr_eq(&cache.mask(&fonts, key), &mask),
            "the shared cache still has it"
        );
    }
}
