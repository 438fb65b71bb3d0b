//! Shaping: from a run of text in one face, direction and script to the
//! glyphs that set it, through rustybuzz.
//!
//! Shaping is where Arabic letters take their joining forms and lam-alef
//! becomes one glyph, where a Devanagari conjunct forms and a vowel sign
//! moves before its consonant, where Thai marks stack, and where Latin gets
//! its ligatures and kerning. Its result is in font units and does not
//! depend on the size, so one cache entry serves a name at every size and
//! scale, and shrink-to-fit, which tries many sizes, shapes once. Layout
//! shapes word by word (a run ends after its spaces, as browsers' word
//! caches do), so the fixed words of a template are shaped once for every
//! recipient and only a name is new.
//!
//! A shaping plan (which lookups of the font apply, in which order, for a
//! direction and script) costs about as much to build as shaping a word, so
//! plans are kept too.

use std::sync::Arc;

use crate::render::fonts::FontBook;

/// The default byte budget of the shaping cache. A shaped run of a short
/// line is well under a kilobyte, so this holds tens of thousands of them.
pub const DEFAULT_SHAPE_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// What identifies one shaped run. The size is deliberately absent:
/// positions are in font units and scale linearly.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RunKey {
    pub(crate) face: u16,
    pub(crate) right_to_left: bool,
    /// The ISO 15924 tag, as rustybuzz and unicode-script spell it.
    pub(crate) script: [u8; 4],
    pub(crate) text: Box<str>,
}

/// The glyphs of a run, in the order they are drawn from left to right
/// (for a right-to-left run, the last character's glyphs come first).
#[derive(Debug)]
pub(crate) struct ShapedRun {
    pub(crate) glyphs: Vec<ShapedGlyph>,
}

/// One glyph, positioned in font units.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShapedGlyph {
    pub(crate) glyph: u16,
    /// The byte offset, in the run's text, of the cluster the glyph belongs
    /// to. Every glyph of a cluster has the same offset; a cluster is the
    /// smallest piece a line may be broken around.
    pub(crate) cluster: u32,
    pub(crate) x_advance: i32,
    pub(crate) x_offset: i32,
    pub(crate) y_offset: i32,
}

/// Plans kept at most: one per face, direction and script in use.
const MAX_PLANS: u64 = 1024;

/// What a shaping plan is made for.
type PlanKey = (u16, bool, [u8; 4]);

/// A bounded, thread-safe cache of shaped runs, and of the plans that
/// shaped them.
pub(crate) struct ShapeCache {
    runs: moka::sync::Cache<RunKey, Arc<ShapedRun>>,
    plans: moka::sync::Cache<PlanKey, Arc<rustybuzz::ShapePlan>>,
}

impl ShapeCache {
    pub(crate) fn new(max_bytes: u64) -> ShapeCache {
        let runs = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &RunKey, run: &Arc<ShapedRun>| {
                let bytes = key.text.len() + run.glyphs.len() * size_of::<ShapedGlyph>() + 96;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .build();
        let plans = moka::sync::Cache::new(MAX_PLANS);
        ShapeCache { runs, plans }
    }

    /// Bytes of shaped runs held now, for the metrics.
    pub(crate) fn weighted_size(&self) -> u64 {
        self.runs.run_pending_tasks();
        self.runs.weighted_size()
    }

    /// How many runs are held now.
    #[cfg(test)]
    pub(crate) fn entry_count(&self) -> u64 {
        self.runs.run_pending_tasks();
        self.runs.entry_count()
    }

    /// The run for `key`, shaped now if it is not cached.
    pub(crate) fn shape(&self, fonts: &FontBook, key: RunKey) -> Arc<ShapedRun> {
        if let Some(run) = self.runs.get(&key) {
            return run;
        }
        let run = Arc::new(self.shape_run(fonts, &key));
        self.runs.insert(key, Arc::clone(&run));
        run
    }

    /// Shapes one run with rustybuzz, with the font's default features
    /// (which include ligatures, kerning and every script's required forms).
    fn shape_run(&self, fonts: &FontBook, key: &RunKey) -> ShapedRun {
        let face = fonts.face(key.face);
        let direction = if key.right_to_left {
            rustybuzz::Direction::RightToLeft
        } else {
            rustybuzz::Direction::LeftToRight
        };
        let script = rustybuzz::Script::from_iso15924_tag(rustybuzz::ttf_parser::Tag::from_bytes(
            &key.script,
        ));
        let plan = self
            .plans
            .get_with((key.face, key.right_to_left, key.script), || {
                Arc::new(rustybuzz::ShapePlan::new(
                    face.shaper(),
                    direction,
                    script,
                    None,
                    &[],
                ))
            });
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(&key.text);
        buffer.set_direction(direction);
        if let Some(script) = script {
            buffer.set_script(script);
        }
        let shaped = rustybuzz::shape_with_plan(face.shaper(), &plan, buffer);
        let glyphs = shaped
            .glyph_infos()
            .iter()
            .zip(shaped.glyph_positions())
            .map(|(info, position)| ShapedGlyph {
                // rustybuzz guarantees glyph ids fit in 16 bits.
                glyph: info.glyph_id as u16,
                cluster: info.cluster,
                x_advance: position.x_advance,
                x_offset: position.x_offset,
                y_offset: position.y_offset,
            })
            .collect();
        ShapedRun { glyphs }
    }
}
