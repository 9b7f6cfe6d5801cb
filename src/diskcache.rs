//! A folder of cached files with a byte budget: the disk tile cache and the static app
//! bundles. Files are written atomically (a temporary file of this process, then a
//! rename), counted in real bytes, and the least recently used go first when the budget
//! is exceeded; a whole subfolder (an old layer version's tiles) can be dropped at once.
//! Blocking: call it from blocking threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

struct Index {
    /// Relative path → (bytes, last use).
    files: HashMap<PathBuf, (u64, u64)>,
    bytes: u64,
    tick: u64,
}

pub struct DiskCache {
    root: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
}

/// Relative paths only, made of normal components (never `..` or absolute).
fn safe(rel: &Path) -> bool {
    rel.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
        && rel.components().next().is_some()
}

impl DiskCache {
    /// Opens (creates) the folder and counts what is in it; leftover temporary files of
    /// interrupted writes are removed.
    pub fn open(root: &Path, max_bytes: u64) -> std::io::Result<DiskCache> {
        std::fs::create_dir_all(root)?;
        let mut files = HashMap::new();
        let mut bytes = 0;
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir)?.flatten() {
                let p = e.path();
                let Ok(meta) = e.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(p);
                } else if p
                    .extension()
                    .is_some_and(|x| x.to_string_lossy().starts_with("tmp"))
                {
                    let _ = std::fs::remove_file(&p);
                } else if let Ok(rel) = p.strip_prefix(root) {
                    files.insert(rel.to_path_buf(), (meta.len(), 0));
                    bytes += meta.len();
                }
            }
        }
        let cache = DiskCache {
            root: root.to_path_buf(),
            max_bytes,
            index: Mutex::new(Index {
                files,
                bytes,
                tick: 0,
            }),
        };
        cache.evict();
        Ok(cache)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bytes counted.
    pub fn bytes(&self) -> u64 {
        self.index.lock().map_or(0, |i| i.bytes)
    }

    pub fn get(&self, rel: &Path) -> Option<Vec<u8>> {
        if !safe(rel) {
            return None;
        }
        let bytes = std::fs::read(self.root.join(rel)).ok()?;
        if let Ok(mut i) = self.index.lock() {
            i.tick += 1;
            let tick = i.tick;
            if let Some(e) = i.files.get_mut(rel) {
                e.1 = tick;
            }
        }
        Some(bytes)
    }

    /// Writes a file atomically, then evicts the least recently used beyond the budget.
    pub fn put(&self, rel: &Path, data: &[u8]) -> std::io::Result<()> {
        if !safe(rel) {
            return Err(std::io::Error::other("not a relative cache path"));
        }
        if data.len() as u64 > self.max_bytes {
            return Ok(());
        }
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, &path)?;
        self.record(rel, data.len() as u64);
        Ok(())
    }

    /// Moves a finished file in (a copy when it is on another file system), then evicts
    /// the least recently used beyond the budget. A file larger than the budget is left
    /// where it is.
    pub fn put_file(&self, rel: &Path, src: &Path) -> std::io::Result<()> {
        if !safe(rel) {
            return Err(std::io::Error::other("not a relative cache path"));
        }
        let len = std::fs::metadata(src)?.len();
        if len > self.max_bytes {
            return Ok(());
        }
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::rename(src, &tmp).is_err() {
            std::fs::copy(src, &tmp)?;
        }
        std::fs::rename(&tmp, &path)?;
        self.record(rel, len);
        Ok(())
    }

    /// Opens a held file for reading and marks it used (a reader that holds it open keeps
    /// reading it even if it is evicted meanwhile).
    pub fn open_file(&self, rel: &Path) -> Option<(std::fs::File, u64)> {
        if !safe(rel) {
            return None;
        }
        let file = std::fs::File::open(self.root.join(rel)).ok()?;
        let len = file.metadata().ok()?.len();
        if let Ok(mut i) = self.index.lock() {
            i.tick += 1;
            let tick = i.tick;
            if let Some(e) = i.files.get_mut(rel) {
                e.1 = tick;
            }
        }
        Some((file, len))
    }

    fn record(&self, rel: &Path, len: u64) {
        if let Ok(mut i) = self.index.lock() {
            i.tick += 1;
            let tick = i.tick;
            if let Some((old, _)) = i.files.insert(rel.to_path_buf(), (len, tick)) {
                i.bytes -= old;
            }
            i.bytes += len;
        }
        self.evict();
    }

    /// Removes one file, if held.
    pub fn remove_file(&self, rel: &Path) {
        if !safe(rel) {
            return;
        }
        let _ = std::fs::remove_file(self.root.join(rel));
        if let Ok(mut i) = self.index.lock() {
            if let Some((n, _)) = i.files.remove(rel) {
                i.bytes -= n;
            }
        }
    }

    /// Removes a subfolder and everything in it (e.g. a layer version's tiles).
    pub fn remove_dir(&self, rel: &Path) {
        if !safe(rel) {
            return;
        }
        let _ = std::fs::remove_dir_all(self.root.join(rel));
        if let Ok(mut i) = self.index.lock() {
            let gone: Vec<PathBuf> = i
                .files
                .keys()
                .filter(|p| p.starts_with(rel))
                .cloned()
                .collect();
            for p in gone {
                if let Some((n, _)) = i.files.remove(&p) {
                    i.bytes -= n;
                }
            }
        }
    }

    /// Subfolders directly under `rel` (e.g. the versions of a layer held).
    pub fn subdirs(&self, rel: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.root.join(rel)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| rel.join(e.file_name()))
            .collect()
    }

    /// Drops the least recently used files until the total is at most 90% of the budget.
    fn evict(&self) {
        let Ok(mut i) = self.index.lock() else { return };
        if i.bytes <= self.max_bytes {
            return;
        }
        let target = self.max_bytes / 10 * 9;
        let mut by_age: Vec<(u64, PathBuf, u64)> = i
            .files
            .iter()
            .map(|(p, (n, t))| (*t, p.clone(), *n))
            .collect();
        by_age.sort_unstable();
        for (_, p, n) in by_age {
            if i.bytes <= target {
                break;
            }
            let _ = std::fs::remove_file(self.root.join(&p));
            i.files.remove(&p);
            i.bytes -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_eviction_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path(), 10_000).unwrap();
        for i in 0..30 {
            c.put(Path::new(&format!("a@1/{i}.mvt")), &[7u8; 1000])
                .unwrap();
            // Keep the first file in use: it must survive eviction.
            assert!(c.get(Path::new("a@1/0.mvt")).is_some());
        }
        assert!(c.bytes() <= 10_000, "{}", c.bytes());
        let on_disk: u64 = std::fs::read_dir(dir.path().join("a@1"))
            .unwrap()
            .flatten()
            .map(|e| e.metadata().unwrap().len())
            .sum();
        assert_eq!(on_disk, c.bytes(), "counted in real bytes");
        assert!(c.get(Path::new("a@1/0.mvt")).is_some());
        assert!(c.get(Path::new("a@1/2.mvt")).is_none());
        c.put(Path::new("b@2/x.mvt"), b"xyz").unwrap();
        assert_eq!(c.subdirs(Path::new("")).len(), 2);
        c.remove_dir(Path::new("a@1"));
        assert_eq!(c.bytes(), 3);
        assert!(!dir.path().join("a@1").exists());
        assert!(c.put(Path::new("../escape"), b"x").is_err());
        assert!(c.get(Path::new("/etc/passwd")).is_none());
        // Reopened: counts what is there.
        drop(c);
        std::fs::write(dir.path().join("b@2/y.tmp123"), b"half").unwrap();
        let c = DiskCache::open(dir.path(), 10_000).unwrap();
        assert_eq!(c.bytes(), 3);
        assert!(!dir.path().join("b@2/y.tmp123").exists());
    }
}
