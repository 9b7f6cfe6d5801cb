//! Safe unpacking of uploaded zip archives: no `..`, absolute paths or links, a cap on
//! entries, on total size and on the compression ratio (zip bombs).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAX_ENTRIES: usize = 2_000;
/// A ratio above this, on more than [`RATIO_FLOOR`] bytes, is treated as a zip bomb.
const MAX_RATIO: u64 = 200;
const RATIO_FLOOR: u64 = 16 << 20;

/// Extracts `zip` into `dest`, refusing anything unsafe. `max_total` bounds the bytes written.
pub fn extract(zip: &Path, dest: &Path, max_total: u64) -> Result<Vec<PathBuf>, String> {
    let file = fs::File::open(zip).map_err(|e| format!("cannot open the archive: {e}"))?;
    let compressed = file.metadata().map(|m| m.len()).unwrap_or(0).max(1);
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip archive: {e}"))?;
    if archive.len() > MAX_ENTRIES {
        return Err(format!(
            "the archive has {} entries (at most {MAX_ENTRIES})",
            archive.len()
        ));
    }
    let limit = max_total.min(compressed.saturating_mul(MAX_RATIO).max(RATIO_FLOOR));
    let mut written: u64 = 0;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| format!("bad archive entry {i}: {e}"))?;
        let name = entry.name().to_string();
        if entry.encrypted() {
            return Err(format!("archive entry '{name}' is encrypted"));
        }
        if entry.is_symlink() {
            return Err(format!(
                "archive entry '{name}' is a link; links are refused"
            ));
        }
        let rel = safe_relative(&name).ok_or_else(|| {
            format!("archive entry '{name}' has an unsafe path (absolute or '..')")
        })?;
        if rel.starts_with("__MACOSX") {
            continue;
        }
        let target = dest.join(&rel);
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut f = fs::File::create(&target).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| format!("archive entry '{name}' cannot be read: {e}"))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > limit {
                return Err(format!(
                    "the archive expands past {limit} bytes ({compressed} compressed): refused as a zip bomb or an oversized upload"
                ));
            }
            f.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        }
        out.push(target);
    }
    Ok(out)
}

/// A relative path with only normal components, or None.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let name = name.replace('\\', "/");
    if name.starts_with('/') || name.contains(':') {
        return None;
    }
    let mut p = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => continue,
            ".." => return None,
            s if s.chars().any(|c| c.is_control()) => return None,
            s => p.push(s),
        }
    }
    (!p.as_os_str().is_empty()).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names() {
        assert!(safe_relative("../x.shp").is_none());
        assert!(safe_relative("a/../../x.shp").is_none());
        assert!(safe_relative("/etc/passwd").is_none());
        assert!(safe_relative("C:\\x.shp").is_none());
        assert!(safe_relative("..\\x.shp").is_none());
        assert_eq!(safe_relative("dir/x.shp"), Some(PathBuf::from("dir/x.shp")));
    }
}
