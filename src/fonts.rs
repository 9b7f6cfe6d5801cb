//! Map label glyphs: MapLibre's signed-distance-field glyph ranges
//! (`/fonts/{fontstack}/{start}-{end}.pbf`) cut from the fonts installed on the machine by
//! FreeType (`pbf_font_tools`), and cached per font and range.
//!
//! A font is named as MapLibre names it, family and style: `Open Sans Regular`,
//! `DejaVu Sans Bold`. A fontstack is a comma-separated list of fonts: each glyph comes from
//! the first font of the stack that has it, and fonts not installed are skipped (a stack of
//! none installed is unknown). The fonts are read from [`crate::config::Config::fonts_dirs`]
//! (by default Debian's Open Sans and DejaVu, installed by `scripts/setup.sh`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pbf_font_tools::freetype::Library;
use pbf_font_tools::prost::Message;
use pbf_font_tools::{Fontstack, Glyphs};

/// The font of every label Atlante draws (layers' labels and the base map's names).
pub const LABEL_FONT: &str = "Open Sans Regular";
/// The font of the base map's larger names (zone omogenee).
pub const LABEL_FONT_BOLD: &str = "Open Sans Bold";

/// At most this many fonts in one stack.
const MAX_STACK: usize = 4;
/// The highest code point MapLibre asks glyphs for.
const MAX_CODE_POINT: u32 = 65535;
/// At most this many ranges are kept (a range of Latin text is some 60 KB).
const MAX_CACHED: usize = 1024;
/// Glyphs are rendered at this size with this SDF radius and cutoff (MapLibre's own).
const SIZE: usize = 24;
const RADIUS: usize = 8;
const CUTOFF: f64 = 0.25;

/// Why glyphs were not given.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no such font: {0} (GET /fonts lists them)")]
    Unknown(String),
    #[error("glyphs: {0}")]
    Failed(String),
}

/// One font's glyphs of one range (None: it has none there).
type Cut = Arc<Option<Fontstack>>;

/// The installed fonts and the glyph ranges cut so far.
pub struct Fonts {
    /// Font name → (file, face index in it).
    faces: BTreeMap<String, (PathBuf, isize)>,
    /// (font, range start) → that font's glyphs of the range (None: it has none there).
    cache: Mutex<HashMap<(String, u32), Cut>>,
}

impl Fonts {
    /// The fonts (`.ttf`, `.otf`) in `dirs`; a missing directory or unreadable file is
    /// skipped with a warning.
    pub fn scan(dirs: &[PathBuf]) -> Fonts {
        let mut faces = BTreeMap::new();
        match Library::init() {
            Ok(lib) => {
                for dir in dirs {
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        tracing::warn!(dir = %dir.display(), "fonts: no such directory");
                        continue;
                    };
                    let mut files: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.extension()
                                .and_then(|e| e.to_str())
                                .is_some_and(|e| matches!(e, "ttf" | "otf"))
                        })
                        .collect();
                    files.sort();
                    for f in files {
                        read_faces(&lib, &f, &mut faces);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "fonts: FreeType did not start"),
        }
        tracing::info!(fonts = faces.len(), "fonts read");
        Fonts {
            faces,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The names of the installed fonts, sorted.
    pub fn names(&self) -> Vec<String> {
        self.faces.keys().cloned().collect()
    }

    /// The glyph range `range` (`"{start}-{end}"`, 256 code points from a multiple of 256)
    /// of `fontstack`, as the protobuf MapLibre reads. Blocking: call off the async
    /// threads.
    pub fn glyphs(&self, fontstack: &str, range: &str) -> Result<Vec<u8>, FontError> {
        let start = parse_range(range)?;
        let fonts = self.stack(fontstack)?;
        let mut parts = Vec::new();
        for font in &fonts {
            if let Some(stack) = self.range_of(font, start)?.as_ref() {
                parts.push(Glyphs {
                    stacks: vec![stack.clone()],
                });
            }
        }
        let glyphs = pbf_font_tools::combine_glyphs(parts).unwrap_or_else(|| Glyphs {
            stacks: vec![Fontstack {
                name: fonts.join(", "),
                range: format!("{start}-{}", start + 255),
                glyphs: Vec::new(),
            }],
        });
        Ok(glyphs.encode_to_vec())
    }

    /// The installed fonts of a stack, in order.
    fn stack(&self, fontstack: &str) -> Result<Vec<String>, FontError> {
        if fontstack.len() > 400 {
            return Err(FontError::BadRequest("fontstack: too long".into()));
        }
        let named: Vec<&str> = fontstack
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if named.is_empty() || named.len() > MAX_STACK {
            return Err(FontError::BadRequest(format!(
                "fontstack: 1 to {MAX_STACK} comma-separated font names"
            )));
        }
        let fonts: Vec<String> = named
            .iter()
            .filter(|n| self.faces.contains_key(**n))
            .map(|n| n.to_string())
            .collect();
        if fonts.is_empty() {
            return Err(FontError::Unknown(named.join(", ")));
        }
        Ok(fonts)
    }

    /// One font's glyphs of the range from `start`, cut on first use.
    fn range_of(&self, font: &str, start: u32) -> Result<Cut, FontError> {
        let key = (font.to_string(), start);
        if let Some(hit) = self.cache.lock().expect("font cache").get(&key) {
            return Ok(hit.clone());
        }
        let (path, index) = &self.faces[font];
        let cut = (|| {
            let lib = Library::init()?;
            let face = lib.new_face(path, *index)?;
            pbf_font_tools::glyph_range_for_face(&face, start, start + 255, SIZE, RADIUS, CUTOFF)
        })()
        .map_err(|e| FontError::Failed(format!("{font} {start}: {e}")))?;
        let cut = Arc::new(Some(cut).filter(|s| !s.glyphs.is_empty()));
        let mut cache = self.cache.lock().expect("font cache");
        // A bound for clients asking every range of every font: start over.
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, cut.clone());
        Ok(cut)
    }
}

fn read_faces(lib: &Library, file: &Path, faces: &mut BTreeMap<String, (PathBuf, isize)>) {
    let Ok(first) = lib.new_face(file, 0) else {
        tracing::warn!(file = %file.display(), "fonts: not a font FreeType reads");
        return;
    };
    for i in 0..first.num_faces().max(1) as isize {
        let face = if i == 0 {
            Ok(first.clone())
        } else {
            lib.new_face(file, i)
        };
        let Ok(face) = face else { continue };
        let Some(family) = face.family_name() else {
            continue;
        };
        let name = match face.style_name() {
            Some(style) => format!("{family} {style}"),
            None => family,
        };
        faces.entry(name).or_insert_with(|| (file.to_path_buf(), i));
    }
}

/// The start of a range `"{start}-{end}"`.
fn parse_range(range: &str) -> Result<u32, FontError> {
    let bad = || {
        FontError::BadRequest(format!(
            "glyph range '{range}': expected {{start}}-{{end}}, 256 code points from a multiple of 256, up to {MAX_CODE_POINT}"
        ))
    };
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let (start, end): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if start % 256 != 0 || end != start + 255 || end > MAX_CODE_POINT {
        return Err(bad());
    }
    Ok(start)
}

/// The ranges (their starts) holding the characters of `texts`, and always 0–255 (digits,
/// Latin-1: numbers and Italian names).
pub fn ranges_for<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeSet<u32> {
    let mut out = BTreeSet::from([0]);
    for t in texts {
        for c in t.chars() {
            let c = c as u32;
            if c <= MAX_CODE_POINT {
                out.insert(c / 256 * 256);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert_eq!(parse_range("0-255").unwrap(), 0);
        assert_eq!(parse_range("65280-65535").unwrap(), 65280);
        for bad in [
            "0-256",
            "1-256",
            "65536-65791",
            "-1-254",
            "a-b",
            "0",
            "",
            "256-0",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_for_texts() {
        assert_eq!(
            ranges_for(["Cassano d’Adda", "Città"]),
            BTreeSet::from([0, 8192])
        );
    }
}
